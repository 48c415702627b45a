// #/orders/<id> : an order and its progress, read again every second until it is final.

import { isAbort, orders } from "../api.js";
import { announce, errorBox, formatDate, formatMoney, h, productHref, setTitle } from "../dom.js";

const POLL_MS = 1000;
const MAX_BACKOFF_MS = 10000;
const FINAL = new Set(["SHIPPED", "PAYMENT_DECLINED"]);
const LABELS = {
  PLACED: "Order placed",
  PAID: "Payment accepted",
  SHIPPED: "Shipped",
  PAYMENT_DECLINED: "Payment declined",
};
const EXPLANATIONS = {
  PLACED: "We have your order and are taking the payment.",
  PAID: "Your payment went through; we are packing your order.",
  SHIPPED: "Your order is on its way.",
  PAYMENT_DECLINED: "Your card was declined, so the order will not ship. Nothing was charged.",
};

function steps(status) {
  return status === "PAYMENT_DECLINED"
    ? ["PLACED", "PAYMENT_DECLINED"]
    : ["PLACED", "PAID", "SHIPPED"];
}

const timeFormat = new Intl.DateTimeFormat("en-US", { timeStyle: "medium" });

/** When the order reached `step`, from its history ("" when unknown). */
function reachedAt(history, step) {
  const change = (history ?? []).find((item) => item.status === step);
  const date = change ? new Date(change.at) : null;
  return date && !Number.isNaN(date.getTime()) ? timeFormat.format(date) : "";
}

function timeline({ status, statusHistory }) {
  const order = steps(status);
  const reached = order.indexOf(status);
  return h(
    "ol",
    { class: "timeline", "aria-label": "Order progress", "data-testid": "order-timeline" },
    order.map((step, index) => {
      const state =
        index < reached || FINAL.has(status) ? "done" : index === reached ? "current" : "pending";
      const declined = step === "PAYMENT_DECLINED";
      return h(
        "li",
        {
          class: `step step-${state}${declined ? " step-declined" : ""}`,
          "data-step": step,
          "aria-current": index === reached ? "step" : null,
        },
        h(
          "span",
          { class: "step-marker", "aria-hidden": "true" },
          declined ? "✕" : index <= reached ? "✓" : "",
        ),
        h("span", { class: "step-label" }, LABELS[step]),
        h(
          "span",
          { class: "visually-hidden" },
          state === "pending" ? " (not yet)" : index === reached ? " (now)" : " (done)",
        ),
        index <= reached && reachedAt(statusHistory, step)
          ? h("span", { class: "step-time" }, reachedAt(statusHistory, step))
          : null,
      );
    }),
  );
}

function statusLine(status) {
  return h(
    "p",
    {
      class: `order-status status-${status.toLowerCase()}`,
      "data-testid": "order-status",
      "data-status": status,
    },
    // The status as the API names it, as a badge: what support and the tests look for.
    h("span", { class: "status-badge" }, status.replace("_", " ")),
    " ",
    EXPLANATIONS[status] ?? "",
  );
}

function details(order) {
  const address = order.customer?.address ?? {};
  return h(
    "div",
    { class: "order-details" },
    h(
      "section",
      { "aria-labelledby": "items-title" },
      h("h2", { id: "items-title" }, "Items"),
      h(
        "ul",
        { class: "summary-lines" },
        (order.items ?? []).map((item) =>
          h(
            "li",
            {},
            h(
              "span",
              {},
              `${item.quantity} × `,
              h("a", { href: productHref(item.productId) }, item.name),
            ),
            h("span", {}, formatMoney(item.lineTotal)),
          ),
        ),
      ),
      h(
        "p",
        { class: "subtotal" },
        "Total ",
        h("strong", { "data-testid": "order-total" }, formatMoney(order.total)),
      ),
    ),
    h(
      "section",
      { "aria-labelledby": "ship-title" },
      h("h2", { id: "ship-title" }, "Shipping to"),
      h(
        "address",
        {},
        [
          order.customer?.name,
          address.line1,
          [address.postalCode, address.city].filter(Boolean).join(" "),
          address.country,
        ]
          .filter(Boolean)
          .flatMap((text, index) => (index ? [h("br"), text] : [text])),
      ),
      order.customer?.email
        ? h("p", { class: "muted" }, `Confirmation to ${order.customer.email}`)
        : null,
      order.paymentLast4
        ? h("p", { class: "muted" }, `Paid with the card ending in ${order.paymentLast4}`)
        : null,
    ),
  );
}

export async function render(view, { id }, { signal, reload }) {
  setTitle("Your order");
  let order;
  try {
    order = await orders.get(id, { signal });
  } catch (error) {
    if (isAbort(error)) throw error;
    const notFound = error.status === 404;
    setTitle(notFound ? "Order not found" : "Your order");
    view.replaceChildren(
      h("h1", {}, notFound ? "Order not found" : "Your order"),
      notFound ? h("p", {}, "We have no order with this number.") : errorBox(error, reload),
    );
    return undefined;
  }

  const progress = h("div", { class: "progress" });
  const problem = h("div", { class: "poll-problem" });
  view.replaceChildren(
    h("h1", {}, "Your order"),
    h(
      "p",
      { class: "muted" },
      "Order ",
      h("span", { class: "order-id", "data-testid": "order-id" }, order.id),
      order.createdAt ? `, placed ${formatDate(order.createdAt)}` : "",
    ),
    progress,
    problem,
    details(order),
    h("p", {}, h("a", { href: "#/" }, "Continue shopping")),
  );

  let status = null;
  function show(next) {
    if (next.status === status) return;
    const first = status === null;
    status = next.status;
    progress.replaceChildren(statusLine(status), timeline(next));
    if (!first) announce(`${LABELS[status] ?? status}. ${EXPLANATIONS[status] ?? ""}`);
  }
  show(order);

  let timer = null;
  let delay = POLL_MS;
  let shownProblem = "";
  async function poll() {
    try {
      show(await orders.get(id, { signal }));
      problem.replaceChildren();
      shownProblem = "";
      delay = POLL_MS;
    } catch (error) {
      if (isAbort(error)) return;
      const message = `${error.message} We will keep checking.`;
      if (message !== shownProblem) problem.replaceChildren(errorBox({ message })); // announce once
      shownProblem = message;
      delay = error.retryAfter
        ? Math.max(error.retryAfter * 1000, POLL_MS)
        : Math.min(delay * 2, MAX_BACKOFF_MS);
    }
    if (!FINAL.has(status) && !signal.aborted) timer = setTimeout(poll, delay);
  }
  if (!FINAL.has(status)) timer = setTimeout(poll, POLL_MS);

  return () => clearTimeout(timer);
}
