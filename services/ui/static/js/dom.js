// Helpers shared by the pages: elements built from data (never from HTML strings, so nothing
// an API returns can inject markup), money, announcements and error boxes.

/** h("a", {href: "#/", class: "x"}, "text", child) -> an element. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes ?? {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

const moneyFormats = new Map();

/** {amount: 3499, currency: "USD"} -> "$34.99"; amounts are in the currency's minor unit. */
export function formatMoney(money) {
  if (!money || typeof money.amount !== "number") return "";
  let format = moneyFormats.get(money.currency);
  if (!format) {
    format = new Intl.NumberFormat("en-US", { style: "currency", currency: money.currency });
    moneyFormats.set(money.currency, format);
  }
  const digits = format.resolvedOptions().maximumFractionDigits;
  return format.format(money.amount / 10 ** digits);
}

const dateFormat = new Intl.DateTimeFormat("en-US", { dateStyle: "medium", timeStyle: "short" });

export function formatDate(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : dateFormat.format(date);
}

let pendingAnnouncement = null;

/** Have screen readers say `message`, through the page's polite live region. Pages show
 * the same news visibly where it happened (next to the button, in the list...). */
export function announce(message) {
  const region = document.getElementById("status");
  if (!region) return;
  // Emptying it first makes a repeated message be announced again.
  clearAnnouncement();
  pendingAnnouncement = setTimeout(() => {
    region.textContent = message;
  }, 50);
}

export function clearAnnouncement() {
  clearTimeout(pendingAnnouncement);
  const region = document.getElementById("status");
  if (region) region.textContent = "";
}

export function setTitle(...parts) {
  document.title = [...parts, "Emporium"].filter(Boolean).join(" · ");
}

/** An error box that screen readers announce, with an optional "Try again" button. */
export function errorBox(error, retry) {
  return h(
    "div",
    { class: "error-box", role: "alert", "data-testid": "error" },
    h("p", {}, error?.message || "Something went wrong."),
    retry ? h("button", { type: "button", class: "button", onclick: retry }, "Try again") : null,
  );
}

/** Focus an element that is not focusable by nature (a heading, a region). */
export function focusElement(element) {
  if (!element) return;
  if (!element.hasAttribute("tabindex")) element.setAttribute("tabindex", "-1");
  element.focus();
}

export function productHref(productId) {
  return `#/products/${encodeURIComponent(productId)}`;
}

export function categoryHref(categoryId) {
  return `#/category/${encodeURIComponent(categoryId)}`;
}

export const MAX_QUANTITY = 99;

/** The quantity typed in `input`, or an error message when it is not a whole number 1..99. */
export function readQuantity(input) {
  const text = input.value.trim();
  if (!/^\d+$/.test(text)) return { error: "Enter a whole number from 1 to 99." };
  const quantity = Number(text);
  if (quantity < 1 || quantity > MAX_QUANTITY) return { error: "Enter a quantity from 1 to 99." };
  return { quantity };
}

/** Show (or clear, with an empty message) the error of one form field. */
export function setFieldError(input, errorElement, message) {
  errorElement.textContent = message || "";
  if (message) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}
