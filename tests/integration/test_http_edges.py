"""The edges of HTTP under gunicorn: what gunicorn answers itself, the headers it trusts, the
metrics port, and what the store's entry point lets through to the services behind it."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import pytest
import requests
from tests.integration.conftest import CatalogStack, Store

pytestmark = pytest.mark.integration


def raw_request(url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send `request` as bytes (what a client library would refuse to send) and read the answer."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as conn:
        conn.sendall(request)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"b" * 9000 + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Many: 1\r\n" * 120 + b"\r\n", 431),
        (b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ],
    ids=["request-line-too-long", "header-too-long", "too-many-headers", "bad-method"],
)
def test_what_gunicorn_refuses_itself_is_a_problem_document(
    catalog: CatalogStack, request_bytes: bytes, status: int
) -> None:
    answered, headers, body = raw_request(catalog.url, request_bytes)
    assert answered == status
    assert headers["content-type"] == "application/problem+json"
    document = json.loads(body)
    assert document["status"] == status
    assert document["title"]
    assert b"<html" not in body


def test_a_trusted_peer_cannot_move_the_app_with_a_script_name_header(
    catalog: CatalogStack,
) -> None:
    # The test runs on 127.0.0.1, which FORWARDED_ALLOW_IPS trusts by default.
    answer = catalog.get("/api/catalog/healthz", headers={"SCRIPT_NAME": "/api/catalog"})
    assert answer.status_code == 404
    answer = catalog.get("/anything/healthz", headers={"PATH_INFO": "/healthz"})
    assert answer.status_code == 404


def test_metrics_are_on_the_metrics_port_not_the_service_port(catalog: CatalogStack) -> None:
    on_service_port = catalog.get("/metrics")
    assert on_service_port.status_code == 404
    assert "http_requests_total" not in on_service_port.text
    scraped = requests.get(catalog.metrics_url, timeout=10)
    assert scraped.status_code == 200
    assert "http_requests_total" in scraped.text
    # The metrics port serves nothing else, whatever the Host header says.
    metrics_base = catalog.metrics_url.removesuffix("/metrics")
    assert requests.get(metrics_base + "/api/catalog/categories", timeout=10).status_code == 404
    spoofed_host = {"Host": urlsplit(catalog.metrics_url).netloc}
    assert catalog.get("/metrics", headers=spoofed_host).status_code == 404


def test_the_entry_point_exposes_no_metrics_of_its_own(store: Store) -> None:
    answer = store.call("GET", "/metrics")
    assert answer.status_code == 404  # routed to the ui like any other path, which has none
    assert "http_requests_total" not in answer.text


@pytest.mark.parametrize(
    "path",
    [
        "/internal/orders/ord-0123/status",
        "/api/orders/../../internal/orders/ord-0123/status",
        "/api/orders/%2e%2e/%2e%2e/internal/orders/ord-0123/status",
        "/api/orders/..%5c..%5cinternal/orders/ord-0123/status",
        "/api/orders/internal/orders/ord-0123/status",
        "//internal/orders/ord-0123/status",
    ],
)
def test_internal_routes_are_unreachable_through_the_entry_point(store: Store, path: str) -> None:
    token = store.env["ORDERS_INTERNAL_TOKEN"]  # even with fulfillment's token
    status, headers, body = raw_request(
        store.url,
        f"PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"SCRIPT_NAME: /api/orders\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Length: 19\r\nConnection: close\r\n\r\n"
        '{"status": "PAID"} '.encode(),
    )
    assert status in (400, 404, 405), body
    assert headers["content-type"] == "application/problem+json"
