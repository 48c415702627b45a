// #/checkout : the order summary and the form that places the order.
//
// One checkout attempt has one Idempotency-Key. It is kept (in sessionStorage, so a reload
// keeps it too) while the outcome of a submission is unknown (no answer, a server error, or
// 409: the same key is still being processed), so a resubmission cannot place the order
// twice; any other answer ends the attempt.

import { isAbort, orders } from "../api.js";
import { forgetCart, loadCart } from "../cart-store.js";
import {
  announce,
  clearAnnouncement,
  errorBox,
  formatMoney,
  h,
  setFieldError,
  setTitle,
} from "../dom.js";

const ATTEMPT_KEY = "emporium.checkoutAttempt";

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

let unsavedAttempt = null; // where the attempt lives when sessionStorage is unavailable

function readAttempt() {
  try {
    return JSON.parse(sessionStorage.getItem(ATTEMPT_KEY) ?? "null");
  } catch {
    return unsavedAttempt;
  }
}

function saveAttempt(attempt) {
  unsavedAttempt = attempt;
  try {
    if (attempt) sessionStorage.setItem(ATTEMPT_KEY, JSON.stringify(attempt));
    else sessionStorage.removeItem(ATTEMPT_KEY);
  } catch {
    // storage disabled: the attempt lasts as long as the page
  }
}

/** The attempt to check out `cartId`: its Idempotency-Key and the body first sent with it. */
function currentAttempt(cartId, body) {
  const saved = readAttempt();
  if (saved?.cartId === cartId && typeof saved.key === "string") return saved;
  const attempt = { cartId, key: newKey(), body };
  saveAttempt(attempt);
  return attempt;
}

function endAttempt() {
  saveAttempt(null);
}

/** Send the order. If the attempt's key placed an order already, with the details first sent
 * (the shopper edited the form after a network failure), that order is the answer. */
async function send(attempt, body, signal) {
  try {
    return await orders.place(attempt.key, body, { signal });
  } catch (error) {
    if (!error.type?.endsWith("/idempotency-key-reused") || !attempt.body) throw error;
    return orders.place(attempt.key, attempt.body, { signal });
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

function summary(cart) {
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
    h(
      "p",
      { class: "subtotal" },
      "Total ",
      h("strong", { "data-testid": "checkout-total" }, formatMoney(cart.subtotal)),
    ),
  );
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

/** The order the orders API is sent, from the form's values. */
function orderRequest(cartId, values) {
  const { email, name, line1, city, postalCode, country, card } = values;
  return {
    cartId,
    customer: { email, name, address: { line1, city, postalCode, country } },
    payment: { card },
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
  return box;
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

  const formProblem = h("div", { class: "form-problem", "data-testid": "form-error" });
  const button = h(
    "button",
    { type: "submit", class: "button primary", "data-testid": "place-order" },
    "Place order",
  );
  const form = h(
    "form",
    { class: "checkout-form", novalidate: true, "aria-labelledby": "checkout-title" },
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
    h("div", { class: "checkout" }, summary(cart), form),
  );

  const input = (id) => form.querySelector(`#${id}`);
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

  async function placeOrder(values) {
    submitting = true;
    button.setAttribute("aria-disabled", "true");
    button.textContent = "Placing order…";
    const body = orderRequest(cart.id, values);
    const attempt = currentAttempt(cart.id, body);
    try {
      const order = await send(attempt, body, signal);
      endAttempt();
      forgetCart();
      announce("Thank you: your order is placed.");
      location.hash = `#/orders/${encodeURIComponent(order.id)}`;
    } catch (error) {
      if (isAbort(error)) return;
      // The server answered for good: a next try is a new attempt, with a new key.
      if (!error.outcomeUnknown && error.status !== 409) endAttempt();
      if (/\/(unknown-cart|empty-cart)$/.test(error.type)) forgetCart(); // nothing left to buy
      const { byField, others } = serverFieldErrors(error);
      const flagged = flagFields(byField);
      if (!flagged || others.length) formProblem.replaceChildren(failureBox(error, others));
      if (flagged) announce("The store refused some fields; see the messages next to them.");
    } finally {
      submitting = false;
      button.removeAttribute("aria-disabled");
      button.textContent = "Place order";
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
