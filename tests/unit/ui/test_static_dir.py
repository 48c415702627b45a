"""UI_STATIC_DIR: the page's files served from a writable folder (skaffold's file sync on kind
copies changed files there), seeded from the image's own copy without overwriting."""

from __future__ import annotations

from pathlib import Path

from tests.unit.ui.conftest import BufferedClient

from ui.app import create_app
from ui.routes import STATIC_DIR


def test_the_folder_is_seeded_with_every_file_of_the_image(tmp_path: Path) -> None:
    folder = tmp_path / "ui-static"
    create_app({"UI_STATIC_DIR": str(folder)})
    copied = sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())
    assert copied == sorted(p.relative_to(STATIC_DIR) for p in STATIC_DIR.rglob("*") if p.is_file())


def test_a_synced_file_is_served_and_survives_a_restart(tmp_path: Path) -> None:
    folder = tmp_path / "ui-static"
    create_app({"UI_STATIC_DIR": str(folder)})
    (folder / "css" / "app.css").write_text("body { color: rebeccapurple; }\n")
    (folder / "index.html").write_text("<!doctype html><title>changed</title>\n")
    app = create_app({"UI_STATIC_DIR": str(folder)})  # a worker (re)starting after the sync
    app.test_client_class = BufferedClient
    client = app.test_client()
    assert client.get("/static/css/app.css").get_data() == b"body { color: rebeccapurple; }\n"
    assert b"<title>changed</title>" in client.get("/").get_data()
    assert client.get("/static/favicon.svg").get_data() == (STATIC_DIR / "favicon.svg").read_bytes()


def test_without_it_the_images_own_files_are_served() -> None:
    app = create_app({})
    assert app.static_folder == str(STATIC_DIR)
