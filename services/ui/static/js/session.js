// The shopper's sign-in: OpenID Connect's authorization code flow with PKCE (S256), and the
// ID token it ends with, which the orders API takes as a bearer token.
//
// Signing in goes to the issuer's page and comes back to this page's root with ?code&state.
// The state and the PKCE verifier wait in sessionStorage for that round trip only; the state
// that comes back must be the one sent. The ID token stays in sessionStorage (this tab, gone
// when it closes), and is dropped when it expires, on a 401 and on sign-out.

import { forget, load, save, SESSION, SIGN_IN, TAB } from "./storage.js";

const TIMEOUT_MS = 10000;
// A token this close to its expiry is not sent: it could expire on the way.
const EXPIRY_MARGIN_MS = 30000;

export class SignInError extends Error {
  constructor(message) {
    super(message);
    this.name = "SignInError";
  }
}

let problem = null; // what went wrong with the last sign-in, until a page shows it

function base64url(bytes) {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomText(bytes) {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

async function challengeOf(verifier) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

/** The claims of a JWT, read without checking its signature: orders checks it, the page only
 * needs the email to show and the expiry. Null when it is not a JWT. */
export function claimsOf(token) {
  const payload = String(token).split(".")[1];
  if (!payload) return null;
  try {
    const binary = atob(payload.replace(/-/g, "+").replace(/_/g, "/"));
    const bytes = Uint8Array.from(binary, (char) => char.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return claims && typeof claims === "object" ? claims : null;
  } catch {
    return null;
  }
}

/** True where the browser can make a PKCE challenge: https, or http on localhost. */
export function canSignIn() {
  return Boolean(globalThis.crypto?.subtle);
}

/** Go to the issuer's sign-in page; after it, come back to `returnTo` (a #/ address). */
export async function beginSignIn(signIn, returnTo) {
  if (!canSignIn()) {
    throw new SignInError(
      "Signing in needs a secure address: open the store over https, or on localhost.",
    );
  }
  const state = randomText(32);
  const verifier = randomText(48); // 64 characters: RFC 7636 asks for 43 to 128
  const redirectUri = `${location.origin}/`;
  const address = new URL(signIn.authorizeUrl);
  for (const [name, value] of Object.entries({
    response_type: "code",
    client_id: signIn.clientId,
    redirect_uri: redirectUri,
    scope: "openid email",
    state,
    code_challenge: await challengeOf(verifier),
    code_challenge_method: "S256",
  })) {
    address.searchParams.set(name, value);
  }
  save(TAB, SIGN_IN, { state, verifier, redirectUri, returnTo });
  location.assign(address.href);
}

/** True when this page load is the issuer sending the shopper back. */
export function isSignInAnswer() {
  const query = new URLSearchParams(location.search);
  return query.has("state") && (query.has("code") || query.has("error"));
}

async function exchange(signIn, code, pending) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  let response;
  let body = null;
  try {
    response = await fetch(signIn.tokenUrl, {
      method: "POST",
      headers: { Accept: "application/json" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code,
        code_verifier: pending.verifier,
        redirect_uri: pending.redirectUri,
        client_id: signIn.clientId,
      }),
      credentials: "omit",
      cache: "no-store",
      signal: controller.signal,
    });
    body = await response.json().catch(() => null);
  } catch {
    throw new SignInError("We could not reach the sign-in service. Please try again.");
  } finally {
    clearTimeout(timer);
  }
  if (!response.ok || typeof body?.id_token !== "string") {
    const described = typeof body?.error_description === "string";
    const reason = described ? ` (${body.error_description})` : "";
    throw new SignInError(`The sign-in did not complete${reason}. Please sign in again.`);
  }
  return body;
}

/**
 * Finish the sign-in the issuer sent the shopper back from: check the state, trade the code
 * for an ID token and keep it. Takes ?code&state out of the address (and the history) first.
 * Resolves to the #/ address to show; a failure is kept for the orders page to show.
 */
export async function completeSignIn(signIn) {
  const query = new URLSearchParams(location.search);
  const pending = load(TAB, SIGN_IN);
  forget(TAB, SIGN_IN); // one answer per sign-in
  const returnTo =
    typeof pending?.returnTo === "string" && pending.returnTo.startsWith("#/")
      ? pending.returnTo
      : "#/orders";
  history.replaceState(null, "", `${location.pathname}${returnTo}`);
  try {
    if (!signIn) throw new SignInError("Sign-in is not configured on this store.");
    if (!pending?.state || query.get("state") !== pending.state) {
      throw new SignInError("This sign-in was not started here, or was finished already.");
    }
    if (query.get("error") === "access_denied") throw new SignInError("Sign-in was cancelled.");
    if (query.has("error")) {
      const reason = query.get("error_description") || query.get("error");
      throw new SignInError(`The sign-in failed: ${reason}`);
    }
    const answer = await exchange(signIn, query.get("code"), pending);
    const claims = claimsOf(answer.id_token);
    if (!claims || typeof claims.email !== "string" || typeof claims.exp !== "number") {
      throw new SignInError("The sign-in service sent a token we could not read.");
    }
    const lifetime = Number(answer.expires_in) > 0 ? Number(answer.expires_in) * 1000 : Infinity;
    const expiresAt = Math.min(claims.exp * 1000, Date.now() + lifetime);
    save(TAB, SESSION, { idToken: answer.id_token, email: claims.email, expiresAt });
    problem = null;
  } catch (error) {
    problem = error instanceof SignInError ? error : new SignInError("The sign-in failed.");
  }
  return returnTo;
}

/** What went wrong with the last sign-in (once), or null. */
export function takeSignInProblem() {
  const taken = problem;
  problem = null;
  return taken;
}

/** The signed-in shopper ({idToken, email, expiresAt}), or null; an expired token is dropped. */
export function currentSession() {
  const session = load(TAB, SESSION);
  if (
    !session ||
    typeof session.idToken !== "string" ||
    typeof session.expiresAt !== "number" ||
    Date.now() >= session.expiresAt - EXPIRY_MARGIN_MS
  ) {
    if (session) forget(TAB, SESSION);
    return null;
  }
  return session;
}

/** Forget the token (sign-out, or a token the API refused). */
export function signOut() {
  forget(TAB, SESSION);
}
