// #/ : the categories, and every product page by page.

import { catalog, isAbort } from "../api.js";
import { categoryHref, errorBox, h, setTitle } from "../dom.js";
import { productListing } from "../listing.js";

function categoryList(categories) {
  return h(
    "ul",
    { class: "category-list", "data-testid": "category-list" },
    categories.map((category) =>
      h(
        "li",
        {},
        h(
          "a",
          {
            class: "category-link",
            href: categoryHref(category.id),
            "data-testid": "category-link",
            "data-category-id": category.id,
          },
          h("span", { class: "category-name" }, category.name),
          h(
            "span",
            { class: "category-count" },
            `${category.productCount} ${category.productCount === 1 ? "product" : "products"}`,
          ),
        ),
      ),
    ),
  );
}

export async function render(view, _params, { signal }) {
  setTitle();
  const categoriesBody = h("div", {}, h("p", { class: "loading" }, "Loading categories…"));
  const listing = productListing({ heading: "All products", signal });
  view.replaceChildren(
    h("h1", {}, "Welcome to Emporium"),
    h("p", { class: "lead" }, "Everyday goods for kitchen, home, garden and desk."),
    h(
      "section",
      { "aria-labelledby": "categories-title" },
      h("h2", { id: "categories-title" }, "Shop by category"),
      categoriesBody,
    ),
    listing.element,
  );

  async function loadCategories() {
    try {
      const { items } = await catalog.categories({ signal });
      categoriesBody.replaceChildren(
        items.length ? categoryList(items) : h("p", {}, "No categories yet."),
      );
    } catch (error) {
      if (isAbort(error)) return;
      categoriesBody.replaceChildren(errorBox(error, loadCategories));
    }
  }

  await Promise.all([loadCategories(), listing.ready]);
}
