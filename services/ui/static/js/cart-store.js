// The shopper's cart: its id lives in localStorage; the cart itself in the cart service.
// A cart the service no longer knows (expired: 404) is forgotten and a new one is started
// the next time something is added.

import { carts } from "./api.js";
import { MAX_QUANTITY } from "./dom.js";
import { CART_ID, forget, LOCAL, load, save } from "./storage.js";

const listeners = new Set();

function storedId() {
  const id = load(LOCAL, CART_ID);
  return typeof id === "string" && id ? id : null;
}

function storeId(id) {
  save(LOCAL, CART_ID, id);
}

/** Call `listener(cart or null)` whenever the cart is read or changed. */
export function onCartChange(listener) {
  listeners.add(listener);
}

function changed(cart) {
  for (const listener of listeners) listener(cart);
  return cart;
}

export function itemCount(cart) {
  return (cart?.items ?? []).reduce((count, item) => count + item.quantity, 0);
}

export function forgetCart() {
  forget(LOCAL, CART_ID);
  changed(null);
}

/** The cart, or null when there is none; `expired` is true when the service had lost it. */
export async function loadCart(options) {
  const id = storedId();
  if (!id) return { cart: changed(null), expired: false };
  try {
    return { cart: changed(await carts.get(id, options)), expired: false };
  } catch (error) {
    if (error.status !== 404) throw error;
    forgetCart();
    return { cart: null, expired: true };
  }
}

async function createCart(options) {
  const cart = await carts.create(options);
  storeId(cart.id);
  return changed(cart);
}

const sleep = (seconds) => new Promise((resolve) => setTimeout(resolve, seconds * 1000));

async function putItem(cartId, productId, quantity, options) {
  try {
    return changed(await carts.setItem(cartId, productId, quantity, options));
  } catch (error) {
    if (error.status === 409) {
      // Another change of the same cart won a race: the service asks to try again shortly.
      await sleep(Math.min(error.retryAfter ?? 1, 2));
      return changed(await carts.setItem(cartId, productId, quantity, options));
    }
    if (error.status !== 404) throw error;
    // The cart expired since it was read: start a new one and try once more.
    const fresh = await createCart(options);
    return changed(await carts.setItem(fresh.id, productId, quantity, options));
  }
}

/** Add `quantity` of a product to what the cart holds already (at most 99 in all). */
export async function addToCart(productId, quantity, options) {
  const cart = (await loadCart(options)).cart ?? (await createCart(options));
  const held = cart.items.find((item) => item.productId === productId)?.quantity ?? 0;
  const wanted = Math.min(held + quantity, MAX_QUANTITY);
  return {
    cart: await putItem(cart.id, productId, wanted, options),
    capped: held + quantity > MAX_QUANTITY,
  };
}

/** Set the quantity of a line of the cart. */
export async function setQuantity(productId, quantity, options) {
  const id = storedId() ?? (await createCart(options)).id;
  return putItem(id, productId, quantity, options);
}

/** Remove a line; resolves to the updated cart, or null when the cart had expired. */
export async function removeItem(productId, options) {
  const id = storedId();
  if (!id) return null;
  try {
    return changed(await carts.removeItem(id, productId, options));
  } catch (error) {
    if (error.status !== 404) throw error;
    const { cart } = await loadCart(options); // the line was gone already, or the whole cart
    return cart;
  }
}

/** Delete the whole cart. */
export async function emptyCart(options) {
  const id = storedId();
  if (id) {
    try {
      await carts.delete(id, options);
    } catch (error) {
      if (error.status !== 404) throw error;
    }
  }
  forgetCart();
}
