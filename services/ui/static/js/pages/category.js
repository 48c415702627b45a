// #/category/<id> : one category's products, page by page.

import { catalog, isAbort } from "../api.js";
import { h, setTitle } from "../dom.js";
import { productListing } from "../listing.js";

export async function render(view, { id }, { signal }) {
  let category = null;
  try {
    const { items } = await catalog.categories({ signal });
    category = items.find((item) => item.id === id);
    if (!category) {
      setTitle("Category not found");
      view.replaceChildren(
        h("h1", {}, "Category not found"),
        h(
          "p",
          {},
          "There is no such category. ",
          h("a", { href: "#/" }, "See all categories"),
          ".",
        ),
      );
      return;
    }
  } catch (error) {
    if (isAbort(error)) throw error;
    // Without the category list, the products can still be listed under the category's id.
  }

  const name = category?.name ?? id;
  setTitle(name);
  const count = category?.productCount;
  const heading =
    count === undefined ? "Products" : `${count} ${count === 1 ? "product" : "products"}`;
  const listing = productListing({ category: id, heading, signal });
  view.replaceChildren(
    h(
      "nav",
      { class: "breadcrumbs", "aria-label": "Breadcrumb" },
      h("a", { href: "#/" }, "All categories"),
    ),
    h("h1", {}, name),
    listing.element,
  );
  await listing.ready;
}
