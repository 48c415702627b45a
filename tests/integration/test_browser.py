"""The store in a real browser: headless Chromium, driven by Playwright, clicks through the
shopping journey against every process running. The order page is saved as a screenshot."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from tests.integration.conftest import Store, require_binary

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


def add_first_product_of_category(page: Page, number: int, quantity: str) -> None:
    page.get_by_test_id("home-link").click()
    page.get_by_test_id("category-link").nth(number).click()
    page.get_by_test_id("product-link").first.click()
    page.get_by_test_id("quantity").fill(quantity)
    page.get_by_test_id("add-to-cart").click()
    expect(page.get_by_test_id("added")).to_be_visible()


def check_out(page: Page, card: str) -> None:
    page.get_by_test_id("cart-link").click()
    page.get_by_test_id("checkout").click()
    for field, value in {
        "email": "ada@example.com",
        "name": "Ada Lovelace",
        "line1": "1 Analytical St",
        "city": "London",
        "postalCode": "N1 9GU",
        "country": "GB",
        "card": card,
    }.items():
        page.locator(f"#{field}").fill(value)
    page.get_by_test_id("place-order").click()


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
