"""The edge's unit tests: an edge in front of upstreams faked as every neighbour is
(`tests.neighbours`), served over real HTTP on 127.0.0.1 in threads, recording what reaches them.

The edge is driven with Flask's test client. Servers are shut down and the edge's kept-alive
upstream connections closed after each test, since warnings (ResourceWarning included) are
errors.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from tests.neighbours import Neighbour, serve
from werkzeug.datastructures import Headers
from werkzeug.wrappers import Request, Response

from edge.app import create_app
from edge.proxy import Proxy

SERVICES = ("catalog", "cart", "orders", "ui")

Respond = Callable[[Request], Response]
POLL = 0.02  # seconds between a server's checks for shutdown: the teardown of each test waits it


@dataclass(frozen=True)
class Seen:
    """A request as it reached an upstream."""

    method: str
    target: str  # the raw request target: path and query, as sent
    headers: Headers
    body: bytes


class Upstream(Neighbour):
    """One service behind the edge, faked as every neighbour is (`tests.neighbours`) and served
    over HTTP on 127.0.0.1: it records requests as they reached it and answers with `respond`
    (by default 200 and a small JSON body naming the service)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.seen: list[Seen] = []
        self.respond: Respond = self._hello
        # Slow handlers wait on this; it is set at shutdown so none outlives the test.
        self.released = threading.Event()

    def _hello(self, request: Request) -> Response:
        return Response(
            f'{{"service": "{self.name}"}}',
            mimetype="application/json",
            headers={"X-Upstream": self.name},
        )

    def answer(self, request: Request) -> Response:
        target = request.environ["REQUEST_URI"]
        self.seen.append(Seen(request.method, target, Headers(request.headers), request.data))
        return self.respond(request)

    def closing(self) -> None:
        self.released.set()

    @property
    def last(self) -> Seen:
        assert self.seen, f"nothing reached {self.name}"
        return self.seen[-1]


def unused_port() -> int:
    """A local port nothing listens on: connections to it are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def upstreams() -> Iterator[dict[str, Upstream]]:
    """One running upstream per service of the route table, by service name."""
    servers: dict[str, Upstream] = {}
    with ExitStack() as running:
        for name in SERVICES:
            running.enter_context(serve(servers.setdefault(name, Upstream(name))))
        yield servers


@pytest.fixture
def edge_environ(upstreams: dict[str, Upstream]) -> dict[str, str]:
    return {f"EDGE_UPSTREAM_{name.upper()}": server.url for name, server in upstreams.items()}


@pytest.fixture
def make_edge(edge_environ: dict[str, str]) -> Iterator[Callable[..., Flask]]:
    """Build an edge in front of `upstreams`; keyword arguments override its settings."""
    built: list[Flask] = []

    def build(**overrides: str) -> Flask:
        app = create_app({**edge_environ, **overrides})
        built.append(app)
        return app

    yield build
    for app in built:  # before the servers stop, so their handler threads see the close
        proxy: Proxy = app.extensions["edge"]
        proxy.close()


@pytest.fixture
def edge(make_edge: Callable[..., Flask]) -> FlaskClient:
    """A client of the edge with its default settings."""
    return make_edge().test_client()


Upstreams = dict[str, Upstream]
