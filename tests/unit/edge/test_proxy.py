"""The edge as a reverse proxy, in front of real upstream HTTP servers: what it forwards, what it
relays, and how it answers when an upstream is down or slow.

The upstreams and the edge in front of them come from this folder's conftest.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import re
import socket
import socketserver
import threading
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from tests.checks import check_problem
from tests.unit.edge.conftest import POLL, Upstreams, unused_port
from urllib3.exceptions import HTTPError
from werkzeug.wrappers import Request, Response

from edge.app import create_app
from edge.proxy import _CHUNK
from edge.route_table import Route

NEW_ID = re.compile(r"[0-9a-f]{32}")
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


# Routing


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/api/catalog/products", "catalog"),
        ("/api/catalog", "catalog"),
        ("/api/cart/c-1", "cart"),
        ("/api/orders", "orders"),
        ("/", "ui"),
        ("/static/app.js", "ui"),
        ("/api/catalogue", "ui"),
    ],
)
def test_each_path_reaches_the_service_of_its_route_unstripped(
    edge: FlaskClient, upstreams: Upstreams, path: str, service: str
) -> None:
    response = edge.get(path, buffered=True)
    assert response.status_code == 200
    assert response.json == {"service": service}
    assert response.headers["X-Upstream"] == service
    assert upstreams[service].last.target == path
    others = [name for name, upstream in upstreams.items() if upstream.seen and name != service]
    assert others == []


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_the_edges_own_endpoints_are_not_proxied(
    edge: FlaskClient, upstreams: Upstreams, path: str
) -> None:
    response = edge.get(path, buffered=True)
    assert response.status_code == 200
    assert "X-Upstream" not in response.headers
    assert all(not upstream.seen for upstream in upstreams.values())


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_the_edges_own_paths_are_not_proxied_with_other_methods_either(
    edge: FlaskClient, upstreams: Upstreams, path: str
) -> None:
    response = edge.post(path, data=b"x", buffered=True)
    check_problem(response, 405)
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}
    assert all(not upstream.seen for upstream in upstreams.values())


def test_the_edge_is_ready_while_its_upstreams_are_down(make_edge: Callable[..., Flask]) -> None:
    down = f"http://127.0.0.1:{unused_port()}"
    app = make_edge(EDGE_UPSTREAM_CATALOG=down, EDGE_UPSTREAM_UI=down)
    response = app.test_client().get("/readyz", buffered=True)
    assert response.status_code == 200
    assert response.json is not None
    assert response.json["status"] == "ready"


# What is forwarded


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_the_method_path_query_and_body_are_forwarded_as_sent(
    edge: FlaskClient, upstreams: Upstreams, method: str
) -> None:
    target = "/api/catalog/products/a%2Fb?category=kitchen&q=caf%C3%A9&x=1+2&x=%20"
    body = b'{"name": "Enamel Camp Mug"}' if method in ("POST", "PUT", "PATCH") else b""
    response = edge.open(
        target, method=method, data=body, content_type="application/json", buffered=True
    )
    assert response.status_code == 200
    seen = upstreams["catalog"].last
    assert (seen.method, seen.target, seen.body) == (method, target, body)
    assert seen.headers["Content-Type"] == "application/json"
    if body:
        assert seen.headers["Content-Length"] == str(len(body))


def test_a_request_in_absolute_form_is_sent_upstream_in_origin_form(
    edge: FlaskClient, upstreams: Upstreams
) -> None:
    absolute = "http://localhost:8080/api/catalog/caf%C3%A9?q=a%20b"
    edge.get(
        "/api/catalog/caf%C3%A9?q=a%20b",
        environ_overrides={"RAW_URI": absolute, "REQUEST_URI": absolute},
        buffered=True,
    )
    assert upstreams["catalog"].last.target == "/api/catalog/caf%C3%A9?q=a%20b"


@pytest.mark.parametrize(
    ("server", "missing"),
    [("gunicorn", "REQUEST_URI"), ("uWSGI", "RAW_URI")],
)
def test_the_raw_target_is_taken_from_whichever_variable_the_server_sets(
    edge: FlaskClient, upstreams: Upstreams, server: str, missing: str
) -> None:
    """gunicorn gives the raw target as RAW_URI only, uWSGI and others as REQUEST_URI only; from
    either, an encoded slash reaches the upstream as sent, not decoded into a path separator."""
    target = "/api/catalog/products/a%2Fb?q=caf%C3%A9"
    edge.get(target, environ_overrides={missing: None}, buffered=True)
    assert upstreams["catalog"].last.target == target, server


@pytest.mark.parametrize(
    "path",
    [
        "/api/orders/../../internal/orders/ord-1/status",
        "/api/orders/%2e%2e/%2E%2E/internal/orders/ord-1/status",
        "/api/orders/..%5C..%5Cinternal/orders/ord-1/status",
        "/api/catalog/./products",
        "/..",
    ],
)
def test_a_path_with_dot_segments_is_refused_before_routing(
    edge: FlaskClient, upstreams: Upstreams, path: str
) -> None:
    response = edge.put(path, json={"status": "PAID"}, buffered=True)
    assert check_problem(response, 400)["type"].endswith("/ambiguous-path")
    assert all(not upstream.seen for upstream in upstreams.values())


def test_header_names_with_underscores_are_not_forwarded(
    edge: FlaskClient, upstreams: Upstreams
) -> None:
    edge.get(
        "/api/orders/orders",
        headers={"SCRIPT_NAME": "/api/orders", "X_Forwarded_For": "10.0.0.1", "X-Ok": "1"},
        buffered=True,
    )
    headers = upstreams["orders"].last.headers
    assert headers["X-Ok"] == "1"
    assert not any("_" in name for name, _ in headers.items())


@pytest.mark.parametrize("path", ["/static/app.js", "/metrics", "/metrics/extra", "/healthz/"])
def test_paths_beside_the_edges_own_are_proxied(
    edge: FlaskClient, upstreams: Upstreams, path: str
) -> None:
    response = edge.post(path, data=b"x", buffered=True)
    assert response.headers["X-Upstream"] == "ui"
    assert upstreams["ui"].last.target == path


def test_head_is_forwarded_as_head_and_relays_the_headers(
    edge: FlaskClient, upstreams: Upstreams
) -> None:
    response = edge.head("/api/catalog/products", buffered=True)
    assert response.status_code == 200
    assert response.headers["X-Upstream"] == "catalog"
    assert response.data == b""
    assert upstreams["catalog"].last.method == "HEAD"


def test_end_to_end_headers_are_forwarded_and_hop_by_hop_ones_are_not(
    edge: FlaskClient, upstreams: Upstreams
) -> None:
    edge.get(
        "/api/cart/c-1",
        headers={
            "Authorization": "Bearer token-0123456789abcdef",
            "Accept": "application/json",
            "If-None-Match": '"3"',
            "Idempotency-Key": "k-1",
            "User-Agent": "curl/8.5.0",
            "Connection": "keep-alive, X-Hop-Secret",
            "X-Hop-Secret": "named by Connection",
            "Keep-Alive": "timeout=5",
            "TE": "trailers",
            "Trailer": "Expires",
            "Upgrade": "websocket",
            "Proxy-Authorization": "Basic c2VjcmV0",
            "Proxy-Connection": "keep-alive",
            "Host": "store.example:8080",
        },
        buffered=True,
    )
    headers = upstreams["cart"].last.headers
    assert headers["Authorization"] == "Bearer token-0123456789abcdef"
    assert headers["Accept"] == "application/json"
    assert headers["If-None-Match"] == '"3"'
    assert headers["Idempotency-Key"] == "k-1"
    assert headers["User-Agent"] == "curl/8.5.0"
    for hop in (
        "X-Hop-Secret",
        "Keep-Alive",
        "TE",
        "Trailer",
        "Upgrade",
        "Proxy-Authorization",
        "Proxy-Connection",
    ):
        assert hop not in headers, hop
    assert headers.get("Connection", "keep-alive") == "keep-alive"  # urllib3's own, if any
    assert headers["Host"] == upstreams["cart"].url.removeprefix("http://")
    assert headers["X-Forwarded-Host"] == "store.example:8080"


def test_no_user_agent_or_accept_encoding_is_added_where_the_client_sent_none(
    edge: FlaskClient, upstreams: Upstreams
) -> None:
    edge.environ_base.pop("HTTP_USER_AGENT", None)  # the test client's default
    edge.get("/", buffered=True)
    headers = upstreams["ui"].last.headers
    assert "User-Agent" not in headers
    assert "Accept-Encoding" not in headers


def test_x_forwarded_headers_say_who_asked_for_what(
    edge: FlaskClient, upstreams: Upstreams
) -> None:
    edge.get(
        "/api/orders",
        base_url="https://localhost:8080",
        environ_base={"REMOTE_ADDR": "192.0.2.7"},
        buffered=True,
    )
    headers = upstreams["orders"].last.headers
    assert headers["X-Forwarded-For"] == "192.0.2.7"
    assert headers["X-Forwarded-Proto"] == "https"
    assert headers["X-Forwarded-Host"] == "localhost:8080"


def test_x_forwarded_for_appends_the_client_to_the_chain_it_came_with(
    edge: FlaskClient, upstreams: Upstreams
) -> None:
    edge.get(
        "/api/orders",
        headers={
            "X-Forwarded-For": "203.0.113.9",
            "X-Forwarded-Proto": "gopher",
            "X-Forwarded-Host": "spoofed.example",
        },
        environ_base={"REMOTE_ADDR": "192.0.2.7"},
        buffered=True,
    )
    headers = upstreams["orders"].last.headers
    assert headers["X-Forwarded-For"] == "203.0.113.9, 192.0.2.7"
    assert headers["X-Forwarded-Proto"] == "http"
    assert headers["X-Forwarded-Host"] == "localhost"


def test_the_callers_request_id_and_traceparent_reach_the_upstream(
    edge: FlaskClient, upstreams: Upstreams
) -> None:
    response = edge.get(
        "/api/catalog/products",
        headers={"X-Request-ID": "checkout-42", "traceparent": TRACEPARENT},
        buffered=True,
    )
    headers = upstreams["catalog"].last.headers
    assert headers["X-Request-ID"] == "checkout-42"
    assert headers["traceparent"] == TRACEPARENT
    assert response.headers.getlist("X-Request-ID") == ["checkout-42"]


def test_a_request_without_an_id_gets_one_the_upstream_and_the_caller_share(
    edge: FlaskClient, upstreams: Upstreams
) -> None:
    upstreams["catalog"].respond = lambda request: Response(
        "{}", headers={"X-Request-ID": request.headers["X-Request-ID"]}
    )
    response = edge.get("/api/catalog/products", buffered=True)
    (request_id,) = response.headers.getlist("X-Request-ID")
    assert NEW_ID.fullmatch(request_id)
    assert upstreams["catalog"].last.headers["X-Request-ID"] == request_id


def test_a_body_up_to_the_limit_is_forwarded_whole(
    make_edge: Callable[..., Flask], upstreams: Upstreams
) -> None:
    client = make_edge(MAX_BODY_BYTES=str(1024 * 1024)).test_client()
    body = bytes(range(256)) * 4096  # 1 MiB
    response = client.put("/api/catalog/products/p-1", data=body, buffered=True)
    assert response.status_code == 200
    assert upstreams["catalog"].last.body == body


def test_a_body_over_the_limit_is_refused_by_the_edge_and_never_sent(
    edge: FlaskClient, upstreams: Upstreams
) -> None:
    response = edge.post("/api/catalog/products", data=b"x" * (64 * 1024 + 1), buffered=True)
    check_problem(response, 413)
    assert upstreams["catalog"].seen == []


# What is relayed


@pytest.mark.parametrize("status", [404, 422])
def test_an_upstream_problem_document_is_relayed_as_is(
    edge: FlaskClient, upstreams: Upstreams, status: int
) -> None:
    document = json.dumps(
        {
            "type": "about:blank",
            "title": "Not Found" if status == 404 else "Unprocessable Content",
            "status": status,
            "detail": "from the catalog",
            "instance": "/api/catalog/products/nope",
        }
    ).encode()
    upstreams["catalog"].respond = lambda _: Response(
        document, status=status, mimetype="application/problem+json"
    )
    response = edge.get("/api/catalog/products/nope", buffered=True)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    assert response.data == document
    assert response.headers["Content-Length"] == str(len(document))


def test_status_and_end_to_end_headers_are_relayed_and_hop_by_hop_ones_are_not(
    edge: FlaskClient, upstreams: Upstreams
) -> None:
    upstreams["catalog"].respond = lambda _: Response(
        b"created",
        status=201,
        headers=[
            ("Location", "/api/catalog/products/p-2"),
            ("ETag", '"1"'),
            ("Cache-Control", "no-store"),
            ("Set-Cookie", "a=1; HttpOnly"),
            ("Set-Cookie", "b=2; HttpOnly"),
            ("Connection", "X-Private"),
            ("X-Private", "named by Connection"),
            ("Keep-Alive", "timeout=5"),
            ("Proxy-Authenticate", "Basic"),
            ("Trailer", "Expires"),
        ],
    )
    response = edge.post("/api/catalog/products", data=b"{}", buffered=True)
    assert response.status_code == 201
    assert response.data == b"created"
    assert response.headers["Location"] == "/api/catalog/products/p-2"
    assert response.headers["ETag"] == '"1"'
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers.getlist("Set-Cookie") == ["a=1; HttpOnly", "b=2; HttpOnly"]
    for hop in ("Connection", "X-Private", "Keep-Alive", "Proxy-Authenticate", "Trailer"):
        assert hop not in response.headers, hop


def test_a_response_without_a_body_gets_no_content_type(
    edge: FlaskClient, upstreams: Upstreams
) -> None:
    def no_content(_: Request) -> Response:
        response = Response(status=204)
        del response.headers["Content-Type"]
        return response

    upstreams["catalog"].respond = no_content
    response = edge.delete("/api/catalog/products/p-1", buffered=True)
    assert response.status_code == 204
    assert "Content-Type" not in response.headers
    assert response.data == b""


def test_a_redirect_is_relayed_not_followed(edge: FlaskClient, upstreams: Upstreams) -> None:
    upstreams["ui"].respond = lambda _: Response(status=302, headers={"Location": "/api/orders"})
    response = edge.get("/checkout", buffered=True)
    assert response.status_code == 302
    assert response.headers["Location"] == "/api/orders"
    assert upstreams["orders"].seen == []


def test_a_large_body_is_relayed_whole(edge: FlaskClient, upstreams: Upstreams) -> None:
    body = hashlib.sha256(b"emporium").digest() * (256 * 1024)  # 8 MiB
    upstreams["ui"].respond = lambda _: Response(body, mimetype="application/octet-stream")
    response = edge.get("/big.bin", buffered=True)
    assert response.status_code == 200
    assert response.headers["Content-Length"] == str(len(body))
    assert hashlib.sha256(response.data).digest() == hashlib.sha256(body).digest()


def test_a_compressed_body_is_relayed_as_the_upstream_encoded_it(
    edge: FlaskClient, upstreams: Upstreams
) -> None:
    encoded = gzip.compress(b'{"products": []}' * 64)
    upstreams["catalog"].respond = lambda _: Response(
        encoded, mimetype="application/json", headers={"Content-Encoding": "gzip"}
    )
    response = edge.get("/api/catalog/products", headers={"Accept-Encoding": "gzip"}, buffered=True)
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.data == encoded
    assert upstreams["catalog"].last.headers["Accept-Encoding"] == "gzip"


def test_a_body_is_streamed_as_the_upstream_sends_it(
    edge: FlaskClient, upstreams: Upstreams
) -> None:
    """The first chunk reaches the client while the upstream still holds back the rest: were
    the body buffered, the upstream would give up waiting and end with b"timed out"."""
    go_on = threading.Event()
    first = b"a" * (256 * 1024)

    def chunks() -> Iterator[bytes]:
        yield first
        # A bound for a busy machine: a streamed body is released at once.
        yield b"released" if go_on.wait(timeout=60) else b"timed out"

    upstreams["ui"].respond = lambda _: Response(chunks(), mimetype="application/octet-stream")
    with edge.get("/stream", buffered=False) as response:
        assert response.status_code == 200
        assert "Content-Length" not in response.headers
        body = response.iter_encoded()
        received = b""
        while len(received) < len(first):
            received += next(body)
        go_on.set()
        received += b"".join(body)
    assert received == first + b"released"


# When the upstream fails


def test_an_upstream_that_refuses_the_connection_is_a_502_naming_the_service(
    make_edge: Callable[..., Flask],
) -> None:
    client = make_edge(EDGE_UPSTREAM_CART=f"http://127.0.0.1:{unused_port()}").test_client()
    response = client.post("/api/cart/c-1/items", data=b"{}", buffered=True)
    document = check_problem(response, 502)
    assert document["service"] == "cart"
    assert "cart" in document["detail"]
    assert document["type"].endswith("/upstream-unavailable")


def test_an_upstream_that_does_not_answer_in_time_is_a_504_naming_the_service(
    make_edge: Callable[..., Flask], upstreams: Upstreams
) -> None:
    slow = upstreams["orders"]
    slow.respond = lambda _: Response("late" if not slow.released.wait(5) else "released")
    client = make_edge(EDGE_READ_TIMEOUT="0.2").test_client()
    response = client.get("/api/orders/o-1", buffered=True)
    document = check_problem(response, 504)
    assert document["service"] == "orders"
    assert "orders" in document["detail"]
    assert document["type"].endswith("/upstream-timeout")


@pytest.fixture
def unaccepting_port() -> Iterator[int]:
    """A port whose listen queue is full, so a new connection is never accepted (Linux)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port: int = listener.getsockname()[1]
        fillers: list[socket.socket] = []
        try:
            for _ in range(8):
                filler = socket.socket()
                fillers.append(filler)
                filler.settimeout(0.2)
                try:
                    filler.connect(("127.0.0.1", port))
                except TimeoutError:
                    break
            else:
                pytest.skip("this system accepts every connection into the listen queue")
            yield port
        finally:
            for filler in fillers:
                filler.close()


def test_an_upstream_that_does_not_accept_in_time_is_a_504(
    make_edge: Callable[..., Flask], unaccepting_port: int
) -> None:
    client = make_edge(
        EDGE_UPSTREAM_CATALOG=f"http://127.0.0.1:{unaccepting_port}",
        EDGE_CONNECT_TIMEOUT="0.2",
    ).test_client()
    document = check_problem(client.get("/api/catalog/products", buffered=True), 504)
    assert document["service"] == "catalog"


class HangUpServer(socketserver.TCPServer):
    """An upstream that reads each request and closes the connection without answering."""

    connections = 0


class _HangUp(socketserver.BaseRequestHandler):
    server: HangUpServer

    def handle(self) -> None:
        self.server.connections += 1
        self.request.recv(65536)


@contextlib.contextmanager
def serving(server: socketserver.TCPServer) -> Iterator[None]:
    """`server` answering on a thread of its own until the block ends."""
    thread = threading.Thread(target=server.serve_forever, args=(POLL,))
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        thread.join()


@pytest.fixture
def hang_up_server() -> Iterator[HangUpServer]:
    with HangUpServer(("127.0.0.1", 0), _HangUp) as server, serving(server):
        yield server


def test_a_post_whose_connection_drops_is_a_502_and_is_not_sent_again(
    make_edge: Callable[..., Flask], hang_up_server: HangUpServer
) -> None:
    port = hang_up_server.server_address[1]
    client = make_edge(EDGE_UPSTREAM_ORDERS=f"http://127.0.0.1:{port}").test_client()
    response = client.post("/api/orders", data=b'{"cartId": "c-1"}', buffered=True)
    document = check_problem(response, 502)
    assert document["service"] == "orders"
    assert hang_up_server.connections == 1


def test_a_method_the_edge_does_not_proxy_is_a_405(edge: FlaskClient, upstreams: Upstreams) -> None:
    check_problem(edge.open("/api/catalog/products", method="TRACE", buffered=True), 405)
    assert upstreams["catalog"].seen == []


class ShortBodyServer(socketserver.TCPServer):
    """An upstream that promises a body of 100 bytes, sends 10 and closes the connection."""


class _ShortBody(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.recv(65536)
        self.request.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Length: 100\r\n\r\n" + b"x" * 10
        )


@pytest.fixture
def short_body_server() -> Iterator[ShortBodyServer]:
    with ShortBodyServer(("127.0.0.1", 0), _ShortBody) as server, serving(server):
        yield server


def test_an_upstream_that_fails_mid_body_cuts_the_response_and_is_logged(
    make_edge: Callable[..., Flask],
    short_body_server: ShortBodyServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The status is sent by then: the response fails rather than end short and look whole,
    and the edge's log (JSON lines on stdout) names the upstream."""
    port = short_body_server.server_address[1]
    client = make_edge(EDGE_UPSTREAM_ORDERS=f"http://127.0.0.1:{port}").test_client()
    with pytest.raises(HTTPError):
        client.get("/api/orders/o-1", buffered=True)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    failures = [line for line in lines if line["message"] == "upstream failed mid-response"]
    assert [(line["level"], line["upstream"]) for line in failures] == [("warning", "orders")]


class KeepAliveServer(socketserver.ThreadingTCPServer):
    """An upstream that keeps each connection open for the next request, as gunicorn does (the
    fakes' server closes every one). To /held-back it answers a body of known length, its first
    part (one read's worth of the edge) at once and the rest once `go_on` is set; to any other
    path a small JSON body."""

    daemon_threads = True
    first, rest = b"a" * _CHUNK, b"the rest"

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _KeepAlive)
        self.go_on = threading.Event()
        self.connections = 0


class _KeepAlive(socketserver.StreamRequestHandler):
    server: KeepAliveServer

    def handle(self) -> None:
        self.server.connections += 1
        while request_line := self.rfile.readline():
            while self.rfile.readline() not in (b"\r\n", b""):
                pass  # the headers; the edge's GETs have no body
            if request_line.split()[1] == b"/held-back":
                first, rest = self.server.first, self.server.rest
                self.wfile.write(_head(len(first) + len(rest)) + first)
                self.server.go_on.wait(timeout=60)  # a bound for a busy machine
                try:
                    self.wfile.write(rest)
                except OSError:
                    return  # the edge closed the connection: the answer was cut short
            else:
                body = b'{"service": "ui"}'
                self.wfile.write(_head(len(body)) + body)


def _head(length: int) -> bytes:
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n"
    return head.encode() + b"\r\n"


@pytest.fixture
def keep_alive_server() -> Iterator[KeepAliveServer]:
    with KeepAliveServer() as server:
        thread = threading.Thread(target=server.serve_forever, args=(POLL,))
        thread.start()
        try:
            yield server
        finally:
            server.go_on.set()
            server.shutdown()
            thread.join()


def test_a_client_gone_mid_body_leaves_no_half_read_connection_to_the_next_request(
    keep_alive_server: KeepAliveServer, make_edge: Callable[..., Flask]
) -> None:
    """The client goes away after the first part of a body while the upstream still holds back
    the rest: the edge closes that connection, so the next request to the upstream goes over a
    fresh one rather than behind the old answer on a connection kept alive."""
    port = keep_alive_server.server_address[1]
    edge = make_edge(EDGE_UPSTREAM_UI=f"http://127.0.0.1:{port}").test_client()
    first = keep_alive_server.first
    with edge.get("/held-back", buffered=False) as response:
        body = response.iter_encoded()
        received = b""
        while len(received) < len(first):
            received += next(body)
        assert received == first
    after = edge.get("/after", buffered=True)
    assert after.status_code == 200
    assert after.json == {"service": "ui"}
    assert keep_alive_server.connections == 2


def test_a_path_no_route_serves_is_a_404_sent_nowhere(
    edge_environ: dict[str, str], upstreams: Upstreams, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A route table without the catch-all "/" leaves other paths to nobody: the edge answers
    them itself."""
    table = [Route("/api/catalog/", "catalog"), Route("/api/orders/", "orders")]
    monkeypatch.setattr("edge.app.load_routes", lambda: table)
    app = create_app(edge_environ)
    try:
        client = app.test_client()
        check_problem(client.get("/api/cart/c-1", buffered=True), 404)
        assert client.get("/api/orders", buffered=True).json == {"service": "orders"}
    finally:
        app.extensions["edge"].close()
    assert all(not upstream.seen for name, upstream in upstreams.items() if name != "orders")
