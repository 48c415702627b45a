"""The single-page app's files, read as files: every reference resolves, every module import
resolves, nothing loads from another origin, nothing needs 'unsafe-inline', and what the page
keeps in the browser's storage is a short reviewed list that cannot hold the card number."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from ui.routes import STATIC_DIR

JS_DIR = STATIC_DIR / "js"
JS_FILES = sorted(JS_DIR.rglob("*.js"))
TEXT_FILES = sorted(
    path for path in STATIC_DIR.rglob("*") if path.suffix in {".html", ".js", ".css"}
)

# import x from "./a.js"; import {x} from "../a.js"; import "./a.js"; export {x} from "./a.js";
# import("./a.js")
IMPORT = re.compile(
    r"""(?:^|;|\n)\s*(?:import|export)\b[^"';]*?\bfrom\s*["']([^"']+)["']"""
    r"""|(?:^|;|\n)\s*import\s*["']([^"']+)["']"""
    r"""|\bimport\s*\(\s*["']([^"']+)["']\s*\)""",
)


def relative(path: Path) -> str:
    return path.relative_to(STATIC_DIR).as_posix()


class Page(HTMLParser):
    """What index.html refers to, and what it inlines."""

    def __init__(self) -> None:
        super().__init__()
        self.references: list[str] = []
        self.inline_scripts = 0
        self.style_elements = 0
        self.style_attributes: list[str] = []
        self.handler_attributes: list[str] = []
        self._in_script_without_src = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        for name in ("src", "href"):
            value = attributes.get(name)
            if value is not None:
                self.references.append(value)
        if "style" in attributes:
            self.style_attributes.append(tag)
        self.handler_attributes.extend(name for name in attributes if name.startswith("on"))
        if tag == "style":
            self.style_elements += 1
        self._in_script_without_src = tag == "script" and "src" not in attributes

    def handle_data(self, data: str) -> None:
        if self._in_script_without_src and data.strip():
            self.inline_scripts += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script_without_src = False


@pytest.fixture(scope="module")
def page() -> Page:
    parser = Page()
    parser.feed((STATIC_DIR / "index.html").read_text(encoding="utf-8"))
    return parser


def imports_of(path: Path) -> list[str]:
    source = path.read_text(encoding="utf-8")
    return [next(group for group in match.groups() if group) for match in IMPORT.finditer(source)]


def test_every_file_the_page_refers_to_exists(page: Page) -> None:
    files = [ref for ref in page.references if not ref.startswith("#")]
    assert "/static/js/app.js" in files
    assert "/static/css/app.css" in files
    for reference in files:
        assert reference.startswith("/static/"), f"{reference} is not one of the ui's files"
        assert (STATIC_DIR / reference.removeprefix("/static/")).is_file(), reference


def test_the_page_inlines_no_script_and_no_style(page: Page) -> None:
    assert page.inline_scripts == 0
    assert page.style_elements == 0
    assert page.style_attributes == []
    assert page.handler_attributes == []


def test_the_import_pattern_finds_every_form_of_import() -> None:
    source = (
        'import { a } from "./a.js";\nimport b from "../b.js";\nimport "./c.js";\n'
        'export { d } from "./d.js";\nconst e = await import("./e.js");\n'
        'import {\n  f,\n  g,\n} from "./fg.js";\n'
    )
    found = [next(group for group in m.groups() if group) for m in IMPORT.finditer(source)]
    assert found == ["./a.js", "../b.js", "./c.js", "./d.js", "./e.js", "./fg.js"]


@pytest.mark.parametrize("path", JS_FILES, ids=relative)
def test_every_import_names_an_existing_module(path: Path) -> None:
    for specifier in imports_of(path):
        assert specifier.startswith(("./", "../")), f"{specifier}: only relative imports"
        assert specifier.endswith(".js"), f"{specifier}: browsers need the file's full name"
        target = (path.parent / specifier).resolve()
        assert target.is_file(), f"{relative(path)} imports {specifier}, which does not exist"
        assert target.is_relative_to(JS_DIR.resolve())


def test_every_module_is_reachable_from_the_app() -> None:
    seen: set[Path] = set()
    pending = [(JS_DIR / "app.js").resolve()]
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        pending.extend((module.parent / spec).resolve() for spec in imports_of(module))
    assert {path.resolve() for path in JS_FILES} == seen


def test_there_is_one_module_per_page() -> None:
    pages = {path.stem for path in (JS_DIR / "pages").glob("*.js")}
    assert pages == {"home", "category", "product", "cart", "checkout", "order", "your-orders"}


@pytest.mark.parametrize("path", TEXT_FILES, ids=relative)
def test_nothing_refers_to_another_origin(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    assert not re.search(r"https?://", source, re.IGNORECASE), "only same-origin addresses"
    assert not re.search(r"""["'`(=][ \t]*//""", source), "no protocol-relative addresses"


@pytest.mark.parametrize("path", JS_FILES, ids=relative)
def test_modules_build_elements_without_html_strings(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    for unsafe in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert unsafe not in source, f"{unsafe}: data from the APIs must never become markup"
    assert "new Function" not in source
    assert not re.search(r"""setAttribute\(\s*["']style""", source), "inline styles break CSP"


def test_the_elements_browser_tests_use_are_there() -> None:
    source = "\n".join(path.read_text(encoding="utf-8") for path in TEXT_FILES)
    test_ids = re.findall(r"""data-testid["']?\s*[:=]\s*["']([a-z-]+)["']""", source)
    for test_id in (
        "home-link",
        "category-link",
        "product-link",
        "quantity",
        "add-to-cart",
        "added",
        "cart-link",
        "cart-count",
        "cart-lines",
        "checkout",
        "place-order",
        "order-status",
        "next-page",
        "previous-page",
        "remove-item",
        "update-quantity",
        "your-orders-link",
        "sign-in",
        "sign-out",
        "signed-in-email",
        "sign-in-unavailable",
        "order-list",
        "order-link",
        "more-orders",
        "checkout-total",
        "total-changed",
        "cart-checked-out",
    ):
        assert test_id in test_ids, test_id
    checkout = (JS_DIR / "pages" / "checkout.js").read_text(encoding="utf-8")
    for field in ("email", "name", "line1", "city", "postalCode", "country", "card"):
        assert re.search(rf"""\bid: "{field}",""", checkout), field
    assert '"data-testid": `${spec.id}-error`' in checkout  # card-error, email-error, ...


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed: apt-get install nodejs (or brew install node)")
@pytest.mark.parametrize("path", JS_FILES, ids=relative)
def test_modules_parse(path: Path, tmp_path: Path) -> None:
    # .mjs: node parses the copy as an ES module, whatever its version's defaults.
    copy = tmp_path / f"{path.stem}.mjs"
    copy.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    result = subprocess.run(
        ["node", "--check", str(copy)], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr


# What the page keeps in the browser

STORAGE_MODULE = JS_DIR / "storage.js"
# Every write to the browser's storage, as (module, area, key, value) with the value's source
# text. A new write fails this test until it is reviewed and added here: none may carry what
# the shopper types at checkout (above all the card number), whatever path the page took.
REVIEWED_WRITES = {
    ("cart-store.js", "LOCAL", "CART_ID", "id"),
    (
        "pages/checkout.js",
        "TAB",
        "CHECKOUT_ATTEMPT",
        "{ cartId: attempt.cartId, key: attempt.key }",
    ),
    ("session.js", "TAB", "SIGN_IN", "{ state, verifier, redirectUri, returnTo }"),
    (
        "session.js",
        "TAB",
        "SESSION",
        "{ idToken: answer.id_token, email: claims.email, expiresAt }",
    ),
}
# Ways a page could keep something beyond its own memory.
PERSISTENCE = re.compile(r"localStorage|sessionStorage|indexedDB|document\.cookie|\bcaches\b")


def code_of(path: Path) -> str:
    """The module's source without its comments (the page holds no // in its strings)."""
    source = path.read_text(encoding="utf-8")
    return re.sub(r"//[^\n]*", "", re.sub(r"/\*.*?\*/", "", source, flags=re.DOTALL))


def call_arguments(source: str, name: str) -> list[str]:
    """The argument text of every call of `name(...)`, parentheses balanced."""
    found = []
    for match in re.finditer(rf"(?<![\w.]){re.escape(name)}\(", source):
        depth, start = 1, match.end()
        end = start
        while depth:
            depth += {"(": 1, ")": -1}.get(source[end], 0)
            end += 1
        found.append(" ".join(source[start : end - 1].split()))
    return found


def storage_writes() -> set[tuple[str, str, str, str]]:
    writes = set()
    for path in JS_FILES:
        if path == STORAGE_MODULE:
            continue
        for arguments in call_arguments(code_of(path), "save"):
            area, key, value = (part.strip() for part in arguments.split(",", 2))
            writes.add((relative(path).removeprefix("js/"), area, key, value))
    return writes


def test_the_call_finder_balances_parentheses() -> None:
    source = "save(TAB, KEY, { a: f(b), c: (d) });\nx.save(1); save(LOCAL, K, id)"
    assert call_arguments(source, "save") == ["TAB, KEY, { a: f(b), c: (d) }", "LOCAL, K, id"]


@pytest.mark.parametrize("path", JS_FILES, ids=relative)
def test_only_the_storage_module_touches_the_browser_s_storage(path: Path) -> None:
    if path == STORAGE_MODULE:
        return
    found = PERSISTENCE.findall(code_of(path))
    assert not found, f"{relative(path)} keeps data itself ({found}): go through storage.js"


def test_every_storage_write_is_reviewed() -> None:
    assert storage_writes() == REVIEWED_WRITES


def test_no_storage_write_can_carry_the_checkout_form() -> None:
    for module, _area, _key, value in storage_writes():
        for word in ("card", "payment", "values", "body", "form", "input", "customer"):
            assert word not in value.lower(), f"{module} stores {value}"


def test_the_storage_module_writes_only_through_save() -> None:
    code = code_of(STORAGE_MODULE)
    assert len(re.findall(r"\.setItem\(", code)) == 1
    assert "function save(" in code


def test_the_page_adds_nothing_to_the_history_s_state() -> None:
    for path in JS_FILES:
        for method in ("pushState", "replaceState"):
            for arguments in call_arguments(code_of(path), f"history.{method}"):
                assert arguments.startswith("null,"), f"{relative(path)}: {method}({arguments})"


def test_the_checkout_form_never_submits_into_an_address() -> None:
    checkout = code_of(JS_DIR / "pages" / "checkout.js")
    assert re.search(r"""method:\s*"post",""", checkout), "a GET would put the card in the URL"
