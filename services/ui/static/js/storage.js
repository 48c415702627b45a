// Everything the store keeps in the browser goes through here. What it keeps, and nothing else
// (a unit test lists every write and checks that none can carry what is typed at checkout):
//
//   localStorage   emporium.cartId           the cart's id, so the cart outlives the tab
//   sessionStorage emporium.checkoutAttempt  {cartId, key}: the Idempotency-Key of a checkout
//                                            whose outcome is not known yet
//   sessionStorage emporium.signIn           {state, verifier, redirectUri, returnTo}: a sign-in
//                                            under way, for the round trip to the issuer
//   sessionStorage emporium.session          {idToken, email, expiresAt}: the signed-in shopper
//
// The card number is never stored, on any path. Where storage is disabled, values last as long
// as the page.

export const CART_ID = "emporium.cartId";
export const CHECKOUT_ATTEMPT = "emporium.checkoutAttempt";
export const SIGN_IN = "emporium.signIn";
export const SESSION = "emporium.session";

export const LOCAL = "local";
export const TAB = "session"; // sessionStorage: this tab only, gone when it closes

const memory = new Map();

function storageOf(area) {
  return area === LOCAL ? localStorage : sessionStorage; // throws where storage is disabled
}

/** The value kept under `key`, or null. */
export function load(area, key) {
  let raw;
  try {
    raw = storageOf(area).getItem(key);
  } catch {
    return memory.get(`${area}:${key}`) ?? null;
  }
  if (raw === null) return null;
  try {
    return JSON.parse(raw);
  } catch {
    return raw; // a plain string, as carts' ids were kept before
  }
}

/** Keep `value` (anything JSON can hold) under `key`. */
export function save(area, key, value) {
  memory.set(`${area}:${key}`, value);
  try {
    storageOf(area).setItem(key, JSON.stringify(value));
  } catch {
    // storage disabled or full: the value lasts as long as the page
  }
}

export function forget(area, key) {
  memory.delete(`${area}:${key}`);
  try {
    storageOf(area).removeItem(key);
  } catch {
    // storage disabled
  }
}
