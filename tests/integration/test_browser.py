"""The store in a real browser: headless Chromium, driven by Playwright, clicks through the
shopping journey against every process running, signs in through the development issuer's
page and lists the shopper's orders. The order page is saved as a screenshot."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from playwright.sync_api import Browser, Page, Request, Route, expect, sync_playwright
from tests.integration.conftest import Store, require_binary
from tests.shoppers import checkout_body

pytestmark = pytest.mark.integration

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_FLAGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    # The build machines reach no network but their own: keep Chromium from trying.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CARD = "4111222233334444"  # digits to look for in the browser's storage afterwards


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = require_binary("chromium", "apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 390, "height": 844})  # a phone's screen
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def new_email() -> str:
    return f"shopper-{uuid.uuid4().hex[:12]}@example.com"


def browser_storage(page: Page) -> dict[str, str]:
    """Every key and value of this tab's localStorage and sessionStorage."""
    stored: dict[str, str] = page.evaluate(
        """() => {
          const all = {};
          for (const [name, area] of [["local", localStorage], ["session", sessionStorage]]) {
            for (let i = 0; i < area.length; i++) {
              const key = area.key(i);
              all[`${name}:${key}`] = area.getItem(key);
            }
          }
          return all;
        }"""
    )
    return stored


def assert_card_not_kept(page: Page) -> None:
    for key, value in browser_storage(page).items():
        assert CARD not in key, key
        assert CARD not in (value or ""), f"{key} holds the card number"
        assert CARD[-12:] not in (value or ""), f"{key} holds most of the card number"
    assert CARD not in page.url


def add_first_product_of_category(page: Page, number: int, quantity: str) -> None:
    page.get_by_test_id("home-link").click()
    page.get_by_test_id("category-link").nth(number).click()
    page.get_by_test_id("product-link").first.click()
    page.get_by_test_id("quantity").fill(quantity)
    page.get_by_test_id("add-to-cart").click()
    expect(page.get_by_test_id("added")).to_be_visible()


def add_product(page: Page, store: Store, product_id: str) -> None:
    page.goto(f"{store.url}/#/products/{product_id}")
    page.get_by_test_id("add-to-cart").click()
    expect(page.get_by_test_id("added")).to_be_visible()


def fill_checkout(page: Page, card: str, email: str = "ada@example.com", **fields: str) -> None:
    values = {
        "email": email,
        "name": "Ada Lovelace",
        "line1": "1 Analytical St",
        "city": "London",
        "postalCode": "N1 9GU",
        "country": "GB",
        "card": card,
        **fields,
    }
    for field, value in values.items():
        page.locator(f"#{field}").fill(value)


def check_out(page: Page, card: str, email: str = "ada@example.com") -> None:
    page.get_by_test_id("cart-link").click()
    page.get_by_test_id("checkout").click()
    fill_checkout(page, card, email)
    page.get_by_test_id("place-order").click()


def sign_in(page: Page, store: Store, email: str, entry: str = "") -> None:
    """Through the store's "Your orders" and the development issuer's page."""
    page.goto((entry or store.url) + "/#/orders")
    page.get_by_test_id("sign-in").click()
    expect(page.get_by_test_id("dev-warning")).to_contain_text("no password")
    assert page.url.startswith(store.ports.issuer_url + "/authorize?")
    page.get_by_test_id("sign-in-email").fill(email)
    page.get_by_test_id("sign-in-submit").click()
    expect(page.get_by_test_id("signed-in-email")).to_have_text(email)


def admin(store: Store, method: str, path: str, **kwargs: Any) -> Any:
    headers = {"Authorization": f"Bearer {store.env['CATALOG_ADMIN_TOKEN']}"}
    return store.call(method, path, headers={**headers, **kwargs.pop("headers", {})}, **kwargs)


# Sign-in


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_shopper_signs_in_and_out_through_the_development_issuer(
    store: Store, page: Page, host: str
) -> None:
    entry = f"http://{host}:{store.ports.edge}"  # the store answers by either name
    email = new_email()
    sign_in(page, store, email, entry)
    assert page.url == entry + "/#/orders"  # the code and the state are out of the address

    storage = browser_storage(page)
    assert "session:emporium.signIn" not in storage  # the verifier lived for the round trip
    session = json.loads(storage["session:emporium.session"])
    assert session["email"] == email
    holders = [key for key, value in storage.items() if session["idToken"] in (value or "")]
    assert holders == ["session:emporium.session"]  # this tab only: not localStorage

    # The token the page holds is one orders will accept: signed by the issuer's key, for the
    # issuer and the audience orders is configured with.
    keys = jwt.PyJWKClient(store.ports.issuer_url + "/jwks.json")
    claims = jwt.decode(
        session["idToken"],
        keys.get_signing_key_from_jwt(session["idToken"]),
        algorithms=["RS256"],
        audience=store.env["ORDERS_OIDC_AUDIENCE"],
        issuer=store.env["ORDERS_OIDC_ISSUER"],
    )
    assert claims["email"] == email
    assert claims["email_verified"] is True

    page.get_by_test_id("sign-out").click()
    expect(page.get_by_test_id("sign-in")).to_be_visible()
    assert "session:emporium.session" not in browser_storage(page)


def test_a_sign_in_answer_the_page_did_not_ask_for_is_refused(store: Store, page: Page) -> None:
    page.goto(store.url + "/?code=stolen-code&state=forged-state")
    expect(page.get_by_test_id("error")).to_contain_text("not started here")
    expect(page.get_by_test_id("sign-in")).to_be_visible()
    assert "code=" not in page.url
    assert "session:emporium.session" not in browser_storage(page)


def test_a_cancelled_sign_in_says_so(store: Store, page: Page) -> None:
    page.goto(store.url + "/#/orders")
    page.get_by_test_id("sign-in").click()
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_test_id("error")).to_contain_text("cancelled")
    assert page.url == store.url + "/#/orders"
    assert "session:emporium.session" not in browser_storage(page)


# The card number never stays in the browser


def test_the_card_number_is_never_kept_in_the_browser(store: Store, page: Page) -> None:
    page.goto(store.url + "/")
    add_first_product_of_category(page, 3, "1")
    page.get_by_test_id("cart-link").click()
    page.get_by_test_id("checkout").click()

    # The store refuses a field: a real 422 from orders.
    fill_checkout(page, CARD, postalCode="!!")
    page.get_by_test_id("place-order").click()
    expect(page.get_by_test_id("postalCode-error")).not_to_be_empty()
    assert_card_not_kept(page)

    # No answer at all: the attempt (its key) is kept for a safe retry, the card is not.
    def no_answer(route: Route) -> None:
        route.abort("connectionfailed")

    page.route("**/api/orders/orders", no_answer)
    page.locator("#postalCode").fill("N1 9GU")
    page.get_by_test_id("place-order").click()
    expect(page.get_by_test_id("form-error")).to_contain_text("Submitting again is safe")
    page.unroute("**/api/orders/orders", no_answer)
    assert "session:emporium.checkoutAttempt" in browser_storage(page)
    assert_card_not_kept(page)

    # Away and back: to another page of the store, out to the sign-in page, back again.
    page.get_by_test_id("your-orders-link").click()
    page.get_by_test_id("sign-in").click()
    expect(page.get_by_test_id("dev-warning")).to_be_visible()
    page.go_back()
    page.go_back()
    expect(page.locator("#card")).to_be_visible()
    assert_card_not_kept(page)
    page.reload()
    expect(page.locator("#card")).to_have_value("")  # nothing brings the number back
    assert_card_not_kept(page)


# Orders, signed in (these need orders' side of the contract)


def test_a_shopper_clicks_through_to_a_shipped_order(store: Store, page: Page) -> None:
    page.goto(store.url + "/")
    expect(page.get_by_test_id("product-link").first).to_be_visible()
    expect(page.get_by_test_id("category-link").first).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "home.png"))
    add_first_product_of_category(page, 0, "2")
    add_first_product_of_category(page, 1, "1")
    page.get_by_test_id("cart-link").click()
    expect(page.get_by_test_id("cart-lines").locator("li")).to_have_count(2)

    check_out(page, "4242424242424242")
    expect(page.get_by_test_id("order-status")).to_contain_text("SHIPPED", timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "order-shipped.png"), full_page=True)


def test_the_checkout_form_says_what_is_wrong_before_sending(store: Store, page: Page) -> None:
    page.goto(store.url + "/")
    add_first_product_of_category(page, 0, "1")
    check_out(page, "12ab")
    expect(page.get_by_test_id("card-error")).to_be_visible()
    assert "#/checkout" in page.url  # nothing was sent


def test_a_declined_card_ends_in_payment_declined(store: Store, page: Page) -> None:
    page.goto(store.url + "/")
    add_first_product_of_category(page, 2, "1")
    check_out(page, "4000000000000000")
    expect(page.get_by_test_id("order-status")).to_contain_text("DECLINED", timeout=30_000)


def test_a_signed_in_shopper_sees_the_order_they_placed(store: Store, page: Page) -> None:
    email = new_email()
    sign_in(page, store, email)
    expect(page.get_by_test_id("no-orders")).to_be_visible()

    add_first_product_of_category(page, 1, "2")
    page.get_by_test_id("cart-link").click()
    page.get_by_test_id("checkout").click()
    expect(page.locator("#email")).to_have_value(email)  # the signed-in address, filled in
    fill_checkout(page, CARD, email)
    page.get_by_test_id("place-order").click()
    order_id = page.get_by_test_id("order-id").inner_text()
    total = page.get_by_test_id("order-total").inner_text()

    page.get_by_test_id("your-orders-link").click()
    rows = page.get_by_test_id("order-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-order-id", order_id)
    expect(rows.first.get_by_test_id("order-row-total")).to_have_text(total)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "your-orders.png"), full_page=True)
    rows.first.get_by_test_id("order-link").click()
    expect(page.get_by_test_id("order-id")).to_have_text(order_id)
    assert_card_not_kept(page)


def test_orders_come_a_page_at_a_time(store: Store, page: Page) -> None:
    email = new_email()
    for _ in range(11):  # one more than a page
        body = checkout_body(store.cart_with(("linen-tea-towels", 1)))
        body["customer"]["email"] = email
        placed = store.call(
            "POST", "/api/orders/orders", json=body, headers={"Idempotency-Key": str(uuid.uuid4())}
        )
        assert placed.status_code == 201, placed.text
    sign_in(page, store, email)
    rows = page.get_by_test_id("order-row")
    expect(rows).to_have_count(10)
    page.get_by_test_id("more-orders").click()
    expect(rows).to_have_count(11)
    expect(page.get_by_test_id("more-orders")).to_be_hidden()
    created = [row.get_attribute("data-order-id") for row in rows.all()]
    assert len(set(created)) == 11


def test_a_price_change_is_shown_and_confirmed_before_the_order_is_placed(
    store: Store, page: Page
) -> None:
    product = {
        "name": f"Test Kettle {uuid.uuid4().hex[:6]}",
        "category": "kitchen",
        "price": {"amount": 2500, "currency": "USD"},
    }
    created = admin(store, "POST", "/api/catalog/products", json=product)
    assert created.status_code == 201, created.text
    product_id = created.json()["id"]
    add_product(page, store, product_id)
    page.get_by_test_id("cart-link").click()
    page.get_by_test_id("checkout").click()
    expect(page.get_by_test_id("checkout-total")).to_have_text("$25.00")
    fill_checkout(page, CARD)

    # The price goes up between filling the cart and placing the order.
    changed = admin(
        store,
        "PUT",
        f"/api/catalog/products/{product_id}",
        json={**product, "price": {"amount": 2750, "currency": "USD"}},
        headers={"If-Match": '"1"'},
    )
    assert changed.status_code == 200, changed.text
    sent: list[Request] = []
    page.on("request", lambda r: sent.append(r) if r.url.endswith("/api/orders/orders") else None)
    page.get_by_test_id("place-order").click()
    expect(page.get_by_test_id("total-changed")).to_contain_text("$27.50")
    expect(page.get_by_test_id("checkout-total")).to_have_text("$27.50")
    expect(page.get_by_test_id("place-order")).to_have_text("Place order for $27.50")
    assert "#/checkout" in page.url  # nothing was ordered
    assert_card_not_kept(page)

    page.get_by_test_id("place-order").click()
    expect(page.get_by_test_id("order-total")).to_have_text("$27.50")
    assert_card_not_kept(page)
    first, confirmed = (request for request in sent if request.method == "POST")
    assert first.post_data_json["expectedTotal"] == {"amount": 2500, "currency": "USD"}
    assert confirmed.post_data_json["expectedTotal"] == {"amount": 2750, "currency": "USD"}
    # Another body, so another Idempotency-Key.
    assert first.headers["idempotency-key"] != confirmed.headers["idempotency-key"]


def test_a_cart_ordered_in_another_tab_is_not_ordered_twice(store: Store, page: Page) -> None:
    page.goto(store.url + "/")
    add_first_product_of_category(page, 4, "1")
    other = page.context.new_page()  # the same cart: its id is in the shared localStorage
    other.set_default_timeout(15_000)
    for tab in (page, other):
        tab.goto(store.url + "/#/checkout")
        fill_checkout(tab, CARD)
    page.get_by_test_id("place-order").click()
    expect(page.get_by_test_id("order-id")).to_be_visible()

    other.get_by_test_id("place-order").click()
    expect(other.get_by_test_id("cart-checked-out")).to_contain_text("already been ordered")
    assert_card_not_kept(other)
