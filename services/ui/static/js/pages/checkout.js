// #/checkout : the order summary and the form that places the order.
//
// One checkout attempt has one Idempotency-Key. The key is kept (in sessionStorage, so a reload
// keeps it too) while the outcome of a submission is unknown (no answer, a server error, or
// 409: the same key is still being processed), so a resubmission cannot place the order
// twice; any other answer ends the attempt. Only the cart's id and the key are kept: the card
// number is never stored, on any path. The body first sent with a key stays in this page's
// memory, to replay it if the shopper edits the form after a failure.
//
// The order carries the total the page showed (`expectedTotal`). When the store re-prices the
// cart to another total it places nothing and says so (409 total-changed): the page shows the
// new total and asks the shopper to confirm it, which is a new order request with a new key.

import { isAbort, orders } from "../api.js";
import { forgetCart, loadCart } from "../cart-store.js";
import {
  announce,
  clearAnnouncement,
  errorBox,
  focusElement,
  formatMoney,
  h,
  setFieldError,
  setTitle,
} from "../dom.js";
import { currentSession } from "../session.js";
import { CHECKOUT_ATTEMPT, forget, load, save, TAB } from "../storage.js";

const TOTAL_CHANGED = /\/total-changed$/;
const CART_CHECKED_OUT = /\/cart-checked-out$/;
const KEY_REUSED = /\/idempotency-key-reused$/;

const FIELDS = [
  { id: "email", label: "Email", type: "email", autocomplete: "email", group: "contact" },
  { id: "name", label: "Full name", autocomplete: "name", group: "contact" },
  { id: "line1", label: "Street address", autocomplete: "address-line1", group: "address" },
  { id: "city", label: "City", autocomplete: "address-level2", group: "address" },
  { id: "postalCode", label: "Postal code", autocomplete: "postal-code", group: "address" },
  {
    id: "country",
    label: "Country",
    autocomplete: "country",
    hint: "Two-letter code, for example US or GB.",
    group: "address",
  },
  {
    id: "card",
    label: "Card number",
    autocomplete: "cc-number",
    inputmode: "numeric",
    hint: "12 to 19 digits. Nothing is charged; a number ending in 0000 is declined.",
    group: "payment",
  },
];

// Where the orders API reports a field (422 `errors[].location`) -> the input showing it.
const FIELD_BY_LOCATION = {
  "body.customer.email": "email",
  "body.customer.name": "name",
  "body.customer.address.line1": "line1",
  "body.customer.address.city": "city",
  "body.customer.address.postalCode": "postalCode",
  "body.customer.address.country": "country",
  "body.payment.card": "card",
};

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

function newKey() {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  // randomUUID needs a secure context (https or localhost); getRandomValues does not.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join("");
  const part = (start, end) => hex.slice(start, end);
  return `${part(0, 8)}-${part(8, 12)}-${part(12, 16)}-${part(16, 20)}-${part(20, 32)}`;
}

const firstBodies = new Map(); // Idempotency-Key -> the body first sent with it (memory only)

/** The attempt to check out `cartId`: {cartId, key}. A new one gets a new key. */
function currentAttempt(cartId) {
  const saved = load(TAB, CHECKOUT_ATTEMPT);
  if (saved?.cartId === cartId && typeof saved.key === "string") {
    return { cartId: saved.cartId, key: saved.key };
  }
  const attempt = { cartId, key: newKey() };
  save(TAB, CHECKOUT_ATTEMPT, { cartId: attempt.cartId, key: attempt.key });
  return attempt;
}

function endAttempt() {
  forget(TAB, CHECKOUT_ATTEMPT);
}

class OutcomeOnRecord extends Error {
  constructor() {
    super(
      "An order may have been placed already with the details you first entered, which this " +
        "page no longer has. Check your orders before trying again; submitting again starts " +
        "a new checkout.",
    );
    this.name = "OutcomeOnRecord";
  }
}

/** Send the order. If the attempt's key placed an order already, with the details first sent
 * (the shopper edited the form after a network failure), that order is the answer. */
async function send(attempt, body, signal) {
  if (!firstBodies.has(attempt.key)) firstBodies.set(attempt.key, body);
  try {
    return await orders.place(attempt.key, body, { signal });
  } catch (error) {
    if (!KEY_REUSED.test(error.type ?? "")) throw error;
    const first = firstBodies.get(attempt.key);
    // After a reload the first body is gone with the page: it was never stored.
    if (first === body) throw new OutcomeOnRecord();
    return orders.place(attempt.key, first, { signal });
  }
}

/** Client-side checks: {fieldId: message} for each field that is wrong. */
function validate(values) {
  const errors = {};
  for (const field of FIELDS) {
    if (!values[field.id]) errors[field.id] = `Enter your ${field.label.toLowerCase()}.`;
  }
  if (values.email && !EMAIL.test(values.email))
    errors.email = "Enter an email address like name@example.com.";
  if (values.card && !/^\d{12,19}$/.test(values.card))
    errors.card = "Enter the card number: 12 to 19 digits.";
  if (values.country && !/^[A-Z]{2}$/.test(values.country))
    errors.country = "Enter the two-letter country code, like US.";
  return errors;
}

function summary(cart, total) {
  return h(
    "section",
    { class: "order-summary", "aria-labelledby": "summary-title" },
    h("h2", { id: "summary-title" }, "Your order"),
    h(
      "ul",
      { class: "summary-lines" },
      cart.items.map((item) =>
        h(
          "li",
          {},
          h("span", {}, `${item.quantity} × ${item.name}`),
          h("span", {}, formatMoney(item.lineTotal)),
        ),
      ),
    ),
    h("p", { class: "subtotal" }, "Total ", total),
  );
}

function isMoney(value) {
  return Number.isInteger(value?.amount) && typeof value?.currency === "string";
}

function field(spec) {
  const describedBy = [spec.hint ? `${spec.id}-hint` : null, `${spec.id}-error`]
    .filter(Boolean)
    .join(" ");
  return h(
    "div",
    { class: "field" },
    h("label", { for: spec.id }, spec.label),
    spec.hint ? h("p", { class: "hint", id: `${spec.id}-hint` }, spec.hint) : null,
    h("input", {
      id: spec.id,
      name: spec.id,
      type: spec.type ?? "text",
      autocomplete: spec.autocomplete,
      inputmode: spec.inputmode,
      required: true,
      "aria-describedby": describedBy,
    }),
    h("p", { class: "field-error", id: `${spec.id}-error`, "data-testid": `${spec.id}-error` }),
  );
}

function fieldset(legend, group) {
  return h(
    "fieldset",
    {},
    h("legend", {}, legend),
    FIELDS.filter((spec) => spec.group === group).map(field),
  );
}

/** The order the orders API is sent, from the form's values and the total the page shows. */
function orderRequest(cartId, values, shownTotal) {
  const { email, name, line1, city, postalCode, country, card } = values;
  return {
    cartId,
    customer: { email, name, address: { line1, city, postalCode, country } },
    payment: { card },
    expectedTotal: { amount: shownTotal.amount, currency: shownTotal.currency },
  };
}

/** A 422's field errors: {fieldId: message} for the fields on the form, and the rest. */
function serverFieldErrors(error) {
  const byField = {};
  const others = [];
  for (const { location, message } of error.errors ?? []) {
    const id = FIELD_BY_LOCATION[location];
    if (!id) others.push(message);
    else byField[id] ??= message;
  }
  return { byField, others };
}

function failureBox(error, others) {
  const box = errorBox(error, null);
  if (others.length)
    box.append(
      h(
        "ul",
        {},
        others.map((message) => h("li", {}, message)),
      ),
    );
  if (error.outcomeUnknown) {
    const safe =
      "Your order was not confirmed. Submitting again is safe: it cannot be placed twice.";
    box.append(h("p", {}, safe));
  }
  if (error instanceof OutcomeOnRecord) {
    box.append(h("p", {}, h("a", { href: "#/orders" }, "See your orders")));
  }
  return box;
}

function checkedOutPage(view) {
  view.replaceChildren(
    h("h1", {}, "Checkout"),
    h(
      "div",
      { class: "error-box", role: "alert", "data-testid": "cart-checked-out" },
      h(
        "p",
        {},
        "This cart has already been ordered, so it cannot be checked out again. " +
          "Nothing new was ordered.",
      ),
      h(
        "p",
        {},
        h("a", { href: "#/orders" }, "See your orders"),
        " or ",
        h("a", { href: "#/" }, "keep shopping"),
        ".",
      ),
    ),
  );
  focusElement(view.querySelector("h1"));
}

function emptyCartPage(view) {
  view.replaceChildren(
    h("h1", {}, "Checkout"),
    h(
      "p",
      { class: "empty", "data-testid": "cart-empty" },
      "Your cart is empty: nothing to check out.",
    ),
    h("p", {}, h("a", { class: "button primary", href: "#/" }, "Browse the store")),
  );
}

export async function render(view, _params, { signal, reload }) {
  setTitle("Checkout");
  let cart;
  try {
    ({ cart } = await loadCart({ signal }));
  } catch (error) {
    if (isAbort(error)) throw error;
    view.replaceChildren(h("h1", {}, "Checkout"), errorBox(error, reload));
    return;
  }
  if (!cart || cart.items.length === 0) {
    emptyCartPage(view);
    return;
  }

  let shownTotal = cart.subtotal; // what the order is sent with as its expectedTotal
  const total = h("strong", { "data-testid": "checkout-total" }, formatMoney(shownTotal));
  const formProblem = h("div", { class: "form-problem", "data-testid": "form-error" });
  let buttonLabel = "Place order";
  const button = h(
    "button",
    { type: "submit", class: "button primary", "data-testid": "place-order" },
    buttonLabel,
  );
  // method=post: were the form ever submitted without this script, the card would not land
  // in an address (and the browser's history).
  const form = h(
    "form",
    {
      class: "checkout-form",
      method: "post",
      novalidate: true,
      "aria-labelledby": "checkout-title",
    },
    fieldset("Contact", "contact"),
    fieldset("Shipping address", "address"),
    fieldset("Payment", "payment"),
    formProblem,
    button,
  );
  view.replaceChildren(
    h(
      "nav",
      { class: "breadcrumbs", "aria-label": "Breadcrumb" },
      h("a", { href: "#/cart" }, "Back to cart"),
    ),
    h("h1", { id: "checkout-title" }, "Checkout"),
    h("div", { class: "checkout" }, summary(cart, total), form),
  );

  const input = (id) => form.querySelector(`#${id}`);
  const session = currentSession();
  if (session?.email) input("email").value = session.email; // the orders it lists are by email
  const showErrors = (errors) => {
    for (const { id } of FIELDS) {
      setFieldError(input(id), form.querySelector(`#${id}-error`), errors[id]);
    }
  };
  /** Show the field errors; focus the first wrong field. True when there was one. */
  const flagFields = (errors) => {
    showErrors(errors);
    const first = FIELDS.find(({ id }) => errors[id]);
    if (first) input(first.id).focus();
    return Boolean(first);
  };
  let submitting = false;

  /** The store re-priced the cart to `newTotal` and placed nothing: ask to confirm it. */
  function confirmNewTotal(newTotal) {
    const previous = shownTotal;
    shownTotal = { amount: newTotal.amount, currency: newTotal.currency };
    total.textContent = formatMoney(shownTotal);
    buttonLabel = `Place order for ${formatMoney(shownTotal)}`;
    const notice = h(
      "div",
      { class: "error-box", role: "alert", "data-testid": "total-changed" },
      h(
        "p",
        {},
        h("strong", {}, "The total changed. "),
        `Prices changed since this cart was filled: the total is now ${formatMoney(shownTotal)} ` +
          `instead of ${formatMoney(previous)}. Nothing was ordered.`,
      ),
      h("p", {}, `To order at the new total, choose “${buttonLabel}”.`),
    );
    formProblem.replaceChildren(notice);
  }

  async function placeOrder(values) {
    submitting = true;
    button.setAttribute("aria-disabled", "true");
    button.textContent = "Placing order…";
    const body = orderRequest(cart.id, values, shownTotal);
    const attempt = currentAttempt(cart.id);
    try {
      const order = await send(attempt, body, signal);
      endAttempt();
      forgetCart();
      announce("Thank you: your order is placed.");
      location.hash = `#/orders/${encodeURIComponent(order.id)}`;
    } catch (error) {
      if (isAbort(error)) return;
      const type = error.type ?? "";
      // Keep the key while the outcome is unknown: no answer, or this key still in progress.
      // Any other answer is final, so a next try is a new attempt with a new key (after a
      // changed total, the body changes too).
      const inProgress =
        error.status === 409 && !TOTAL_CHANGED.test(type) && !CART_CHECKED_OUT.test(type);
      if (!error.outcomeUnknown && !inProgress) endAttempt();
      if (CART_CHECKED_OUT.test(type)) {
        forgetCart();
        checkedOutPage(view);
        return;
      }
      if (TOTAL_CHANGED.test(type) && isMoney(error.problem?.total)) {
        confirmNewTotal(error.problem.total);
        return;
      }
      if (/\/(unknown-cart|empty-cart)$/.test(type)) forgetCart(); // nothing left to buy
      const { byField, others } = serverFieldErrors(error);
      const flagged = flagFields(byField);
      if (!flagged || others.length) formProblem.replaceChildren(failureBox(error, others));
      if (flagged) announce("The store refused some fields; see the messages next to them.");
    } finally {
      submitting = false;
      button.removeAttribute("aria-disabled");
      button.textContent = buttonLabel;
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (submitting) return;
    const values = Object.fromEntries(FIELDS.map(({ id }) => [id, input(id).value.trim()]));
    values.card = values.card.replace(/[\s-]/g, ""); // "4111 1111 1111 1111" is fine too
    values.country = values.country.toUpperCase();
    formProblem.replaceChildren();
    clearAnnouncement();
    const errors = validate(values);
    if (flagFields(errors)) {
      const count = Object.keys(errors).length;
      announce(count === 1 ? "One field needs attention." : `${count} fields need attention.`);
      return;
    }
    placeOrder(values);
  });
}
