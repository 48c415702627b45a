// #/orders : the signed-in shopper's orders, newest first, a page at a time; sign in and out.

import { isAbort, orders } from "../api.js";
import { loadConfig } from "../config.js";
import { announce, errorBox, focusElement, formatDate, formatMoney, h, setTitle } from "../dom.js";
import {
  beginSignIn,
  canSignIn,
  currentSession,
  signOut,
  takeSignInProblem,
} from "../session.js";

export const PAGE_SIZE = 10;
const RETURN_TO = "#/orders";

function itemCount(order) {
  const count = (order.items ?? []).reduce((sum, item) => sum + item.quantity, 0);
  return count === 1 ? "1 item" : `${count} items`;
}

function orderRow(order) {
  const status = String(order.status ?? "");
  return h(
    "li",
    { class: "order-row", "data-testid": "order-row", "data-order-id": order.id },
    h(
      "a",
      {
        class: "order-link",
        href: `#/orders/${encodeURIComponent(order.id)}`,
        "data-testid": "order-link",
      },
      order.createdAt ? `Order of ${formatDate(order.createdAt)}` : `Order ${order.id}`,
    ),
    h(
      "span",
      { class: `order-row-status status-${status.toLowerCase()}` },
      h(
        "span",
        { class: "status-badge", "data-testid": "order-row-status" },
        status.replace("_", " "),
      ),
    ),
    h("span", { class: "muted" }, itemCount(order)),
    h(
      "strong",
      { class: "order-row-total", "data-testid": "order-row-total" },
      formatMoney(order.total),
    ),
  );
}

function signInButton(signIn, onProblem) {
  if (!canSignIn()) {
    return h(
      "p",
      { class: "note" },
      "Signing in needs a secure address: open the store over https, or on localhost.",
    );
  }
  return h(
    "button",
    {
      type: "button",
      class: "button primary",
      "data-testid": "sign-in",
      onclick: () => beginSignIn(signIn, RETURN_TO).catch(onProblem),
    },
    "Sign in",
  );
}

export async function render(view, _params, { signal, reload }) {
  setTitle("Your orders");
  const heading = h("h1", {}, "Your orders");
  let config;
  try {
    config = await loadConfig();
  } catch (error) {
    view.replaceChildren(heading, errorBox(error, reload));
    return;
  }
  if (!config?.signIn) {
    view.replaceChildren(
      heading,
      h(
        "p",
        { class: "note", "data-testid": "sign-in-unavailable" },
        "Sign-in is not configured on this store, so your orders cannot be listed here. " +
          "Each order's page stays at the address it had after checkout.",
      ),
    );
    return;
  }
  const problem = h("div", { class: "sign-in-problem" });
  const showProblem = (error) => problem.replaceChildren(errorBox(error));

  function signedOut(message) {
    view.replaceChildren(
      heading,
      problem,
      message ? h("p", { class: "note", "data-testid": "signed-out-note" }, message) : null,
      h("p", {}, "Sign in to see the orders placed with your email address."),
      h("p", {}, signInButton(config.signIn, showProblem)),
    );
  }

  const failed = takeSignInProblem();
  if (failed) showProblem(failed);
  const session = currentSession();
  if (!session) {
    signedOut(null);
    return;
  }

  const list = h("ol", { class: "order-list", "data-testid": "order-list" });
  const body = h(
    "div",
    { class: "orders-body" },
    h("p", { class: "loading" }, "Loading your orders…"),
  );
  const more = h(
    "button",
    { type: "button", class: "button", "data-testid": "more-orders", hidden: true },
    "Show older orders",
  );
  const signOutButton = h(
    "button",
    { type: "button", class: "button link-button", "data-testid": "sign-out" },
    "Sign out",
  );
  view.replaceChildren(
    heading,
    problem,
    h(
      "p",
      { class: "signed-in" },
      "Signed in as ",
      h("strong", { "data-testid": "signed-in-email" }, session.email),
      ". ",
      signOutButton,
    ),
    body,
    more,
  );
  signOutButton.addEventListener("click", () => {
    signOut();
    signedOut("You are signed out.");
    announce("You are signed out.");
    focusElement(heading);
  });

  let cursor = null;
  let loading = false;
  async function showPage() {
    if (loading) return;
    loading = true;
    more.setAttribute("aria-disabled", "true");
    const first = cursor === null;
    try {
      const token = currentSession()?.idToken;
      if (!token) {
        signedOut("Your sign-in has expired. Sign in again to see your orders.");
        return;
      }
      const page = await orders.mine({ limit: PAGE_SIZE, cursor }, token, { signal });
      if (first) {
        const none = h("p", { class: "empty", "data-testid": "no-orders" }, "You have no orders.");
        body.replaceChildren(page.items.length ? list : none);
      }
      const rows = page.items.map(orderRow);
      list.append(...rows);
      cursor = page.nextCursor ?? null;
      more.hidden = !cursor;
      if (!first) {
        announce(`${rows.length} more ${rows.length === 1 ? "order" : "orders"}.`);
        focusElement(rows[0]?.querySelector("a"));
      }
    } catch (error) {
      if (isAbort(error)) return;
      if (error.status === 401) {
        signOut(); // the token expired or the issuer restarted: it is no use any more
        signedOut("Your sign-in has expired. Sign in again to see your orders.");
        return;
      }
      const box = errorBox(error, () => showPage());
      if (first) body.replaceChildren(box);
      else problem.replaceChildren(box);
    } finally {
      loading = false;
      more.removeAttribute("aria-disabled");
    }
  }
  more.addEventListener("click", () => showPage());
  await showPage();
}
