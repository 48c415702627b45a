"""Emporium's one route table: which service answers which public path.

The table is data, in `routes.json` beside this module, and it is the single source of the URL
layout: the local edge (`edge.proxy`) reads it here, and the Kubernetes Ingress rules and the
API Gateway routes are generated from the same file. Its shape:

    {"routes": [{"prefix": "/api/catalog/", "service": "catalog"}, ..., {"prefix": "/", ...}]}

- `prefix` starts and ends with "/" and is made of whole path segments (letters, digits and
  `. _ ~ -`). A prefix matches the paths that start with it, and also the path without its
  final slash: "/api/catalog/" takes "/api/catalog", "/api/catalog/products/x", but not
  "/api/catalogue". This is the Ingress `pathType: Prefix` rule (element by element); for API
  Gateway it becomes the two route keys `ANY /api/catalog` and `ANY /api/catalog/{proxy+}`,
  and "/" becomes `$default`.
- The longest matching prefix wins, whatever the order of the entries. Consumers that evaluate
  rules in order (ALB listener rules) list them longest prefix first.
- `service` is the service's name, `^[a-z][a-z0-9-]*$`: its Kubernetes Service, its chart
  component, and the edge's `EDGE_UPSTREAM_<SERVICE>` variable (upper case, "-" as "_").
- Paths are forwarded whole, never stripped of their prefix: every service serves its full
  public path (`/api/catalog/...`), because the ALB cannot rewrite paths.

Prefixes are unique; one service may have several. An entry has exactly these two keys, so a
misspelt key fails instead of being ignored.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from emporium.config import ConfigError

SERVICE_NAME = re.compile(r"[a-z][a-z0-9-]*")
PREFIX = re.compile(r"/(?:[A-Za-z0-9._~-]+/)*")
_KEYS = frozenset({"prefix", "service"})


class RouteTableError(ConfigError):
    """The route table is malformed; the one-line message names the file and the entry."""


@dataclass(frozen=True)
class Route:
    prefix: str
    service: str

    def matches(self, path: str) -> bool:
        return path.startswith(self.prefix) or path == self.prefix[:-1]


def load_routes(path: Path | None = None) -> list[Route]:
    """The validated routes of `path`, by default the `routes.json` shipped with this package."""
    if path is None:
        source, text = "edge/routes.json", resources.files("edge").joinpath("routes.json")
        return _parse(source, text.read_text(encoding="utf-8"))
    return _parse(str(path), path.read_text(encoding="utf-8"))


def route_for(path: str, routes: Sequence[Route] | None = None) -> Route:
    """The route that serves `path`: the longest matching prefix. LookupError if none matches."""
    best: Route | None = None
    for route in _default_routes() if routes is None else routes:
        if route.matches(path) and (best is None or len(route.prefix) > len(best.prefix)):
            best = route
    if best is None:
        raise LookupError(f"no route serves {path!r}")
    return best


@functools.cache
def _default_routes() -> tuple[Route, ...]:
    return tuple(load_routes())


def _parse(source: str, text: str) -> list[Route]:
    try:
        document = json.loads(text)
    except ValueError as error:
        raise RouteTableError(f"{source} is not valid JSON: {error}") from None
    entries = document.get("routes") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise RouteTableError(f'{source} must be an object with a non-empty "routes" list')
    routes: list[Route] = []
    for index, entry in enumerate(entries):
        where = f"{source}: routes[{index}]"
        if not isinstance(entry, dict) or set(entry) != _KEYS:
            raise RouteTableError(f'{where} must be an object with exactly "prefix" and "service"')
        prefix, service = entry["prefix"], entry["service"]
        if not isinstance(prefix, str) or not PREFIX.fullmatch(prefix):
            raise RouteTableError(
                f"{where}.prefix={prefix!r} must start and end with '/' and be made of path"
                " segments (letters, digits, . _ ~ -)"
            )
        if not isinstance(service, str) or not SERVICE_NAME.fullmatch(service):
            raise RouteTableError(f"{where}.service={service!r} must match {SERVICE_NAME.pattern}")
        if any(route.prefix == prefix for route in routes):
            raise RouteTableError(f"{where}.prefix={prefix!r} appears more than once")
        routes.append(Route(prefix, service))
    return routes
