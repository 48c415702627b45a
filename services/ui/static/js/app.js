// The router: #/... addresses -> page modules. Each page's `render(view, params, context)`
// fills the view and may return a function that stops what it started (timers). Leaving a
// page aborts its requests through `context.signal`. A page load that is the sign-in's answer
// (/?code&state) finishes the sign-in before the first page is shown.

import { isAbort } from "./api.js";
import { itemCount, loadCart, onCartChange } from "./cart-store.js";
import { loadConfig } from "./config.js";
import { clearAnnouncement, errorBox, focusElement, h, setTitle } from "./dom.js";
import * as cartPage from "./pages/cart.js";
import * as categoryPage from "./pages/category.js";
import * as checkoutPage from "./pages/checkout.js";
import * as homePage from "./pages/home.js";
import * as orderPage from "./pages/order.js";
import * as productPage from "./pages/product.js";
import * as yourOrdersPage from "./pages/your-orders.js";
import { completeSignIn, isSignInAnswer } from "./session.js";

const routes = [
  { path: /^\/$/, page: homePage, nav: "home" },
  { path: /^\/category\/([^/]+)$/, page: categoryPage, nav: "home" },
  { path: /^\/products\/([^/]+)$/, page: productPage, nav: "home" },
  { path: /^\/cart$/, page: cartPage, nav: "cart" },
  { path: /^\/checkout$/, page: checkoutPage, nav: "cart" },
  { path: /^\/orders$/, page: yourOrdersPage, nav: "orders" },
  { path: /^\/orders\/([^/]+)$/, page: orderPage, nav: "orders" },
];

const notFoundPage = {
  render(view) {
    setTitle("Page not found");
    view.replaceChildren(
      h("h1", {}, "Page not found"),
      h(
        "p",
        {},
        "There is nothing at this address. ",
        h("a", { href: "#/" }, "Go to the store"),
        ".",
      ),
    );
  },
};

function match(path) {
  for (const route of routes) {
    const found = route.path.exec(path);
    if (!found) continue;
    try {
      const id = found[1] === undefined ? undefined : decodeURIComponent(found[1]);
      return { ...route, params: { id } };
    } catch {
      break; // malformed %-escape
    }
  }
  return { page: notFoundPage, params: {}, nav: null };
}

const view = document.getElementById("view");
let leave = () => {};
let navigations = 0;

async function show() {
  const hash = location.hash || "#/";
  if (!hash.startsWith("#/")) return; // an in-page anchor, not a page
  leave();
  const controller = new AbortController();
  let stop = null;
  leave = () => {
    controller.abort();
    stop?.();
  };

  const route = match(hash.slice(1).split("?")[0]);
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === route.nav) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const first = navigations++ === 0;
  if (!first) clearAnnouncement();
  view.setAttribute("aria-busy", "true");
  view.replaceChildren(h("p", { class: "loading" }, "Loading…"));
  try {
    stop =
      (await route.page.render(view, route.params, { signal: controller.signal, reload: show })) ??
      null;
  } catch (error) {
    if (isAbort(error) || controller.signal.aborted) return;
    console.error(error);
    setTitle("Something went wrong");
    view.replaceChildren(h("h1", {}, "Something went wrong"), errorBox(error, show));
  } finally {
    if (!controller.signal.aborted) view.removeAttribute("aria-busy");
  }
  if (controller.signal.aborted) {
    stop?.();
    return;
  }
  // Keyboard and screen reader users land on the new page's heading, as after a page load.
  if (!first) {
    window.scrollTo(0, 0);
    focusElement(view.querySelector("h1"));
  }
}

function showCartCount(cart) {
  const count = itemCount(cart);
  const badge = document.getElementById("cart-count");
  badge.textContent = String(count);
  badge.nextElementSibling.textContent = count === 1 ? " item" : " items";
}

document.querySelector(".skip-link").addEventListener("click", (event) => {
  event.preventDefault(); // "#main" must not look like a page address to the router
  focusElement(view.querySelector("h1") ?? document.getElementById("main"));
});

async function finishSignIn() {
  view.replaceChildren(h("h1", {}, "Signing you in…"));
  let signIn = null;
  try {
    signIn = (await loadConfig()).signIn;
  } catch {
    // completeSignIn explains that sign-in is not available
  }
  await completeSignIn(signIn); // puts the page's address back to a #/ one
}

async function start() {
  if (isSignInAnswer()) await finishSignIn();
  window.addEventListener("hashchange", show);
  show();
}

onCartChange(showCartCount);
start();
loadCart().catch(() => {}); // the cart count; a cart service that is down only hides it
