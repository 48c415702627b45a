// #/products/<id> : one product, and a form to add it to the cart.

import { catalog, isAbort } from "../api.js";
import { addToCart } from "../cart-store.js";
import {
  announce,
  categoryHref,
  errorBox,
  formatMoney,
  h,
  readQuantity,
  setFieldError,
  setTitle,
} from "../dom.js";

function notFound(view) {
  setTitle("Product not found");
  view.replaceChildren(
    h("h1", {}, "Product not found"),
    h(
      "p",
      {},
      "We have no product at this address. ",
      h("a", { href: "#/" }, "Back to the store"),
      ".",
    ),
  );
}

function addToCartForm(product, signal) {
  const input = h("input", {
    id: "quantity",
    name: "quantity",
    type: "number",
    inputmode: "numeric",
    min: 1,
    max: 99,
    value: 1,
    required: true,
    "aria-describedby": "quantity-error",
    "data-testid": "quantity",
  });
  const fieldError = h("p", {
    class: "field-error",
    id: "quantity-error",
    "data-testid": "quantity-error",
  });
  const button = h(
    "button",
    { type: "submit", class: "button primary", "data-testid": "add-to-cart" },
    "Add to cart",
  );
  const outcome = h("div", { class: "add-outcome" });
  let busy = false;

  async function submit(event) {
    event.preventDefault();
    if (busy) return;
    const { quantity, error } = readQuantity(input);
    setFieldError(input, fieldError, error);
    outcome.replaceChildren();
    if (error) {
      input.focus();
      return;
    }
    busy = true;
    button.setAttribute("aria-disabled", "true");
    button.textContent = "Adding…";
    try {
      const { cart, capped } = await addToCart(product.id, quantity, { signal });
      const line = cart.items.find((item) => item.productId === product.id);
      const message = capped
        ? `Your cart now holds ${line?.quantity ?? 99} of ${product.name}: the most it can take.`
        : `Added ${quantity} × ${product.name} to your cart.`;
      announce(message);
      outcome.replaceChildren(
        h(
          "p",
          { class: "success", "data-testid": "added" },
          message,
          " ",
          h("a", { href: "#/cart", "data-testid": "view-cart" }, "View cart"),
          ".",
        ),
      );
    } catch (error) {
      if (isAbort(error)) return;
      outcome.replaceChildren(errorBox(error));
    } finally {
      busy = false;
      button.removeAttribute("aria-disabled");
      button.textContent = "Add to cart";
    }
  }

  return h(
    "form",
    { class: "add-form", novalidate: true, onsubmit: submit },
    h(
      "div",
      { class: "field field-inline" },
      h("label", { for: "quantity" }, "Quantity"),
      input,
      fieldError,
    ),
    button,
    outcome,
  );
}

export async function render(view, { id }, { signal, reload }) {
  let product;
  let categoryName;
  try {
    const categories = catalog.categories({ signal }).catch(() => null); // only for its name
    product = await catalog.product(id, { signal });
    categoryName = (await categories)?.items?.find((item) => item.id === product.category)?.name;
  } catch (error) {
    if (isAbort(error)) throw error;
    if (error.status === 404) return notFound(view);
    setTitle("Product");
    view.replaceChildren(h("h1", {}, "Product"), errorBox(error, reload));
    return undefined;
  }

  setTitle(product.name);
  view.replaceChildren(
    h(
      "nav",
      { class: "breadcrumbs", "aria-label": "Breadcrumb" },
      h("a", { href: "#/" }, "All categories"),
      h("span", { "aria-hidden": "true" }, " / "),
      h(
        "a",
        { href: categoryHref(product.category), "data-testid": "product-category" },
        categoryName ?? product.category,
      ),
    ),
    h(
      "article",
      { class: "product", "data-testid": "product", "data-product-id": product.id },
      h("img", { class: "product-image", src: product.imageUrl, alt: "", width: 400, height: 300 }),
      h(
        "div",
        { class: "product-details" },
        h("h1", {}, product.name),
        h(
          "p",
          { class: "price product-price", "data-testid": "price" },
          formatMoney(product.price),
        ),
        h("p", { class: "description" }, product.description),
        product.tags?.length
          ? h(
              "ul",
              { class: "tags", "aria-label": "Tags" },
              product.tags.map((tag) => h("li", { class: "tag" }, tag)),
            )
          : null,
        addToCartForm(product, signal),
      ),
    ),
  );
  return undefined;
}
