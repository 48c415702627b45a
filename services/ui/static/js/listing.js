// A paged grid of products, used by the home and category pages. The catalog pages forward
// only (nextCursor); Previous pops the cursors of the pages already seen.

import { catalog, isAbort } from "./api.js";
import { announce, errorBox, focusElement, formatMoney, h, productHref } from "./dom.js";

export const PAGE_SIZE = 12;

export function productCard(product) {
  return h(
    "li",
    { class: "card" },
    h(
      "a",
      {
        class: "card-link",
        href: productHref(product.id),
        "data-testid": "product-link",
        "data-product-id": product.id,
      },
      h("img", {
        class: "card-image",
        src: product.imageUrl,
        alt: "",
        width: 400,
        height: 300,
        loading: "lazy",
      }),
      h("span", { class: "card-name" }, product.name),
    ),
    h("p", { class: "price" }, formatMoney(product.price)),
  );
}

/**
 * A section listing the products of `category` (all products when it is empty).
 * `await listing.ready` waits for the first page, whether it loaded or showed an error.
 */
export function productListing({ category = "", heading, signal }) {
  const title = h("h2", { class: "listing-title", tabindex: "-1" }, heading);
  const body = h("div", { class: "listing-body" });
  const previous = h(
    "button",
    { type: "button", class: "button", "data-testid": "previous-page", disabled: true },
    "Previous",
  );
  const next = h(
    "button",
    { type: "button", class: "button", "data-testid": "next-page", disabled: true },
    "Next",
  );
  const pageLabel = h("span", { class: "page-label", "data-testid": "page-number" }, "");
  const pager = h("nav", { class: "pager", "aria-label": "Pages" }, previous, pageLabel, next);
  title.id = "listing-title";
  const section = h(
    "section",
    { class: "listing", "aria-labelledby": "listing-title" },
    title,
    body,
    pager,
  );

  // cursors[i] is the cursor of page i + 1 (null for the first page).
  const cursors = [null];
  let current = 0;
  let nextCursor = null;
  let loading = false;

  async function show(pageIndex, { moveFocus }) {
    if (loading) return;
    loading = true;
    section.setAttribute("aria-busy", "true");
    try {
      const page = await catalog.products(
        { category, limit: PAGE_SIZE, cursor: cursors[pageIndex] },
        { signal },
      );
      cursors.length = pageIndex + 1;
      nextCursor = page.nextCursor ?? null;
      if (nextCursor) cursors.push(nextCursor);
      body.replaceChildren(
        page.items.length
          ? h("ul", { class: "grid", "data-testid": "product-list" }, page.items.map(productCard))
          : h(
              "p",
              { class: "empty" },
              pageIndex === 0 ? "No products here yet." : "No more products.",
            ),
      );
      previous.disabled = pageIndex === 0;
      next.disabled = !nextCursor;
      pageLabel.textContent = `Page ${pageIndex + 1}`;
      pager.hidden = pageIndex === 0 && !nextCursor;
      current = pageIndex;
      if (moveFocus) {
        focusElement(title);
        announce(`Page ${pageIndex + 1}.`);
      }
    } catch (error) {
      if (isAbort(error)) return;
      body.replaceChildren(errorBox(error, () => show(pageIndex, { moveFocus: true })));
      pager.hidden = true;
      if (moveFocus) focusElement(body.querySelector("button"));
    } finally {
      loading = false;
      section.removeAttribute("aria-busy");
    }
  }

  previous.addEventListener("click", () => current > 0 && show(current - 1, { moveFocus: true }));
  next.addEventListener("click", () => nextCursor && show(current + 1, { moveFocus: true }));
  pager.hidden = true;

  return { element: section, ready: show(0, { moveFocus: false }) };
}
