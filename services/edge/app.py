"""Wiring: the edge's settings and its catch-all proxy, assembled by `create_app`.

    gunicorn -c python:emporium.gunicorn_conf 'edge.app:create_app()'

The edge is the store's one port on a laptop (and the one port-forward on a dev cluster): it
sends each request to the service that `routes.json` names for its path. On EKS the ALB and API
Gateway do this job, from the same table; this is a development tool, kept small. Its own
/healthz, /readyz and /metrics are not proxied, and it is ready whenever it is not draining:
an upstream that is down is that upstream's 502, not a reason to take the edge out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import Flask
from urllib3.util import Timeout

from edge.proxy import METHODS, Proxy
from edge.route_table import Route, load_routes
from emporium.app import create_service_app
from emporium.config import ConfigError, Env, ServiceSettings


@dataclass(frozen=True)
class EdgeSettings:
    routes: tuple[Route, ...]
    upstreams: Mapping[str, str]  # service -> scheme://host:port
    connect_timeout: float
    read_timeout: float
    service: ServiceSettings

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, routes: Sequence[Route] | None = None
    ) -> EdgeSettings:
        """`EDGE_UPSTREAM_<SERVICE>` for every service of `routes` (the route table by default)."""
        own, shared = Env("EDGE_", environ), Env("", environ)
        routes = tuple(load_routes() if routes is None else routes)
        return cls(
            routes=routes,
            upstreams={route.service: _upstream(own, route.service) for route in routes},
            connect_timeout=own.number("CONNECT_TIMEOUT", 1.0, min=0.01),
            read_timeout=own.number("READ_TIMEOUT", 30.0, min=0.01),
            service=ServiceSettings.from_env(shared),
        )


def upstream_variable(service: str) -> str:
    """The variable that holds a service's upstream URL: catalog -> EDGE_UPSTREAM_CATALOG."""
    return "EDGE_UPSTREAM_" + service.upper().replace("-", "_")


def _upstream(env: Env, service: str) -> str:
    name = upstream_variable(service).removeprefix(env.prefix)
    parts = urlsplit(env.url(name, schemes=("http", "https")))
    if parts.path not in ("", "/") or parts.query or parts.fragment or "@" in parts.netloc:
        raise ConfigError(
            f"{env.prefix}{name} is malformed: expected only scheme://host:port, with no path"
            " (every service serves its full public path)"
        )
    return f"{parts.scheme}://{parts.netloc}"


def create_app(environ: Mapping[str, str] | None = None) -> Flask:
    """Build the edge from `environ` (the process environment by default)."""
    settings = EdgeSettings.from_env(environ)
    app = create_service_app("edge", settings.service)
    own = {rule.rule: rule.methods or () for rule in app.url_map.iter_rules()}
    proxy = Proxy(
        settings.routes,
        settings.upstreams,
        Timeout(connect=settings.connect_timeout, read=settings.read_timeout),
        own,
    )
    app.extensions["edge"] = proxy
    # Paths go upstream as they came: no slash merging or redirects here.
    for rule in ("/", "/<path:path>"):
        app.add_url_rule(
            rule,
            "proxy",
            proxy.forward,
            methods=METHODS,
            provide_automatic_options=False,
            merge_slashes=False,
        )
    return app
