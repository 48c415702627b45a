// The store's APIs, called on this origin. Every failure becomes an ApiError whose message can
// be shown to the shopper as it is: the problem document's `detail`, or a plain explanation
// when the network failed or the answer was not a problem document.

const TIMEOUT_MS = 10000;
const enc = encodeURIComponent;

export class ApiError extends Error {
  constructor(
    message,
    {
      status = 0,
      title = "",
      type = "about:blank",
      errors = [],
      retryAfter = null,
      problem = {},
    } = {},
  ) {
    super(message);
    this.name = "ApiError";
    this.status = status; // 0 when no answer came back (network failure or timeout)
    this.title = title;
    this.type = type;
    this.errors = errors; // [{location: "body.customer.email", message}] on a 422
    this.retryAfter = retryAfter; // seconds, from Retry-After
    this.problem = problem; // the whole problem document, with its extension members
  }

  /** True when the request may or may not have taken effect: no answer, or a server error. */
  get outcomeUnknown() {
    return this.status === 0 || this.status >= 500;
  }
}

export function isAbort(error) {
  return error?.name === "AbortError";
}

function retryAfterSeconds(header) {
  if (!header) return null;
  if (/^\d+$/.test(header.trim())) return Number(header.trim());
  const date = Date.parse(header);
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

function inSeconds(seconds) {
  return seconds === 1 ? "1 second" : `${seconds} seconds`;
}

function fallbackMessage(status) {
  if (status === 404) return "We could not find what you asked for.";
  if (status === 503) return "This part of the store is unavailable right now.";
  if (status >= 500) return "Something went wrong on our side.";
  return `The store refused the request (HTTP ${status}).`;
}

async function problemFrom(response) {
  let problem = {};
  try {
    const data = await response.json();
    if (data && typeof data === "object") problem = data;
  } catch {
    // Not JSON (a proxy's error page, say): the status alone explains it.
  }
  const retryAfter = retryAfterSeconds(response.headers.get("Retry-After"));
  let message =
    typeof problem.detail === "string" && problem.detail
      ? problem.detail
      : fallbackMessage(response.status);
  if (response.status === 503 || response.status === 429) {
    message += retryAfter
      ? ` Please try again in ${inSeconds(retryAfter)}.`
      : " Please try again in a moment.";
  }
  return new ApiError(message, {
    status: response.status,
    title: typeof problem.title === "string" ? problem.title : "",
    type: typeof problem.type === "string" ? problem.type : "about:blank",
    errors: Array.isArray(problem.errors) ? problem.errors : [],
    retryAfter,
    problem,
  });
}

/** One request; resolves to the parsed JSON body (null for 204), rejects with an ApiError.
 * `token` is the signed-in shopper's ID token, for the calls that need one. */
export async function request(method, path, { body, headers = {}, signal, token } = {}) {
  if (signal?.aborted) throw new DOMException("The page was left", "AbortError");
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, TIMEOUT_MS);
  const abort = () => controller.abort();
  signal?.addEventListener("abort", abort, { once: true });
  try {
    const response = await fetch(path, {
      method,
      headers: {
        Accept: "application/json, application/problem+json",
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: controller.signal,
      cache: "no-store",
      credentials: "same-origin",
    });
    if (!response.ok) throw await problemFrom(response);
    if (response.status === 204) return null;
    try {
      return await response.json();
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new ApiError("The store sent an answer we could not read.", {
        status: response.status,
      });
    }
  } catch (error) {
    if (error instanceof ApiError) throw error;
    if (signal?.aborted) throw new DOMException("The page was left", "AbortError");
    throw new ApiError(
      timedOut
        ? "The store took too long to answer. Check your connection and try again."
        : "We could not reach the store. Check your connection and try again.",
    );
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", abort);
  }
}

export const catalog = {
  categories: (options) => request("GET", "/api/catalog/categories", options),
  products({ category, limit, cursor } = {}, options) {
    const query = new URLSearchParams();
    if (category) query.set("category", category);
    if (limit) query.set("limit", String(limit));
    if (cursor) query.set("cursor", cursor);
    return request("GET", `/api/catalog/products?${query}`, options);
  },
  product: (id, options) => request("GET", `/api/catalog/products/${enc(id)}`, options),
};

export const carts = {
  create: (options) => request("POST", "/api/cart/carts", options),
  get: (cartId, options) => request("GET", `/api/cart/carts/${enc(cartId)}`, options),
  setItem: (cartId, productId, quantity, options) =>
    request("PUT", `/api/cart/carts/${enc(cartId)}/items/${enc(productId)}`, {
      ...options,
      body: { quantity },
    }),
  removeItem: (cartId, productId, options) =>
    request("DELETE", `/api/cart/carts/${enc(cartId)}/items/${enc(productId)}`, options),
  delete: (cartId, options) => request("DELETE", `/api/cart/carts/${enc(cartId)}`, options),
};

export const orders = {
  place: (idempotencyKey, order, options) =>
    request("POST", "/api/orders/orders", {
      ...options,
      body: order,
      headers: { "Idempotency-Key": idempotencyKey },
    }),
  get: (orderId, options) => request("GET", `/api/orders/orders/${enc(orderId)}`, options),
  /** The signed-in shopper's orders, newest first: {items, nextCursor}. */
  mine({ limit, cursor } = {}, token, options) {
    const query = new URLSearchParams();
    if (limit) query.set("limit", String(limit));
    if (cursor) query.set("cursor", cursor);
    return request("GET", `/api/orders/orders?${query}`, { ...options, token });
  },
};
