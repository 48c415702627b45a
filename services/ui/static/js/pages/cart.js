// #/cart : the lines of the cart, their quantities, the subtotal and the way to checkout.

import { isAbort } from "../api.js";
import { emptyCart, loadCart, removeItem, setQuantity } from "../cart-store.js";
import {
  announce,
  errorBox,
  focusElement,
  formatMoney,
  h,
  productHref,
  readQuantity,
  setFieldError,
  setTitle,
} from "../dom.js";

export async function render(view, _params, { signal, reload }) {
  setTitle("Your cart");
  const heading = h("h1", {}, "Your cart");
  const content = h("div", { class: "cart" });
  view.replaceChildren(heading, content);
  let busy = false;

  /** Run one change of the cart, one at a time; `after(cart)` puts the focus back. */
  async function change(action, onError, after) {
    if (busy) return;
    busy = true;
    content.setAttribute("aria-busy", "true");
    try {
      const cart = await action();
      show(cart);
      after?.(cart);
    } catch (error) {
      if (!isAbort(error)) onError(error);
    } finally {
      busy = false;
      content.removeAttribute("aria-busy");
    }
  }

  function line(item) {
    const inputId = `quantity-${item.productId}`;
    const errorId = `${inputId}-error`;
    const input = h("input", {
      id: inputId,
      type: "number",
      inputmode: "numeric",
      min: 1,
      max: 99,
      value: item.quantity,
      required: true,
      "aria-describedby": errorId,
      "data-testid": "quantity",
    });
    const fieldError = h("p", { class: "field-error", id: errorId });
    const lineProblem = h("div", { class: "line-problem" });

    function update(event) {
      event.preventDefault();
      const { quantity, error } = readQuantity(input);
      setFieldError(input, fieldError, error);
      if (error) return input.focus();
      if (quantity === item.quantity) return undefined;
      return change(
        () => setQuantity(item.productId, quantity, { signal }),
        (failure) => {
          setFieldError(input, fieldError, failure.message);
          input.focus();
        },
        () => {
          announce(`${item.name}: quantity ${quantity}.`);
          document.getElementById(inputId)?.focus();
        },
      );
    }

    function remove() {
      return change(
        () => removeItem(item.productId, { signal }),
        (failure) => lineProblem.replaceChildren(errorBox(failure)),
        (cart) => {
          announce(`Removed ${item.name} from your cart.`);
          if (cart?.items.length) {
            const note = `Removed ${item.name}.`;
            content.prepend(h("p", { class: "note", "data-testid": "removed" }, note));
          }
          focusElement(heading);
        },
      );
    }

    return h(
      "li",
      { class: "cart-line", "data-testid": "cart-line", "data-product-id": item.productId },
      h(
        "div",
        { class: "line-info" },
        h("a", { class: "line-name", href: productHref(item.productId) }, item.name),
        h("p", { class: "muted" }, `${formatMoney(item.unitPrice)} each`),
      ),
      h(
        "form",
        { class: "line-quantity", novalidate: true, onsubmit: update },
        h(
          "label",
          { for: inputId },
          "Quantity",
          h("span", { class: "visually-hidden" }, ` of ${item.name}`),
        ),
        input,
        h(
          "button",
          { type: "submit", class: "button", "data-testid": "update-quantity" },
          "Update",
          h("span", { class: "visually-hidden" }, ` ${item.name}`),
        ),
        fieldError,
      ),
      h("p", { class: "line-total", "data-testid": "line-total" }, formatMoney(item.lineTotal)),
      h(
        "button",
        {
          type: "button",
          class: "button link-button",
          "data-testid": "remove-item",
          onclick: remove,
        },
        "Remove",
        h("span", { class: "visually-hidden" }, ` ${item.name}`),
      ),
      lineProblem,
    );
  }

  function show(cart, { expired = false } = {}) {
    if (!cart || cart.items.length === 0) {
      content.replaceChildren(
        h("p", { class: "empty", "data-testid": "cart-empty" }, "Your cart is empty."),
        h("p", {}, h("a", { class: "button primary", href: "#/" }, "Browse the store")),
      );
      if (expired) content.prepend(h("p", { class: "note" }, "Your previous cart expired."));
      return;
    }
    const problem = h("div", { class: "cart-problem" });
    const emptyAll = () =>
      change(
        () => emptyCart({ signal }).then(() => null),
        (failure) => problem.replaceChildren(errorBox(failure)),
        () => {
          announce("Your cart is empty.");
          focusElement(heading);
        },
      );
    content.replaceChildren(
      h("ul", { class: "cart-lines", "data-testid": "cart-lines" }, cart.items.map(line)),
      h(
        "div",
        { class: "cart-summary" },
        h(
          "p",
          { class: "subtotal" },
          "Subtotal ",
          h("strong", { "data-testid": "subtotal" }, formatMoney(cart.subtotal)),
        ),
        h(
          "a",
          { class: "button primary", href: "#/checkout", "data-testid": "checkout" },
          "Check out",
        ),
        h(
          "button",
          {
            type: "button",
            class: "button link-button",
            "data-testid": "empty-cart",
            onclick: emptyAll,
          },
          "Empty cart",
        ),
      ),
      problem,
    );
  }

  try {
    const { cart, expired } = await loadCart({ signal });
    show(cart, { expired });
  } catch (error) {
    if (isAbort(error)) throw error;
    content.replaceChildren(errorBox(error, reload));
  }
}
