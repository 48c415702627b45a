"""Forwarding a request to the service its route names, and relaying the answer.

A small HTTP/1.1 reverse proxy for the laptop: on EKS the ALB and API Gateway do this job, so it
stays small. The request goes to the upstream with its method, raw path and query, body and
end-to-end headers, plus X-Forwarded-For/-Proto/-Host and this request's X-Request-ID; the
upstream's status, end-to-end headers and body come back, the body streamed as it arrives.
There are no retries (a POST must not be sent twice) and redirects are relayed, not followed.
An upstream that refuses the connection is a 502, one that does not answer in time a 504.
Not supported: WebSocket upgrades (Upgrade is hop-by-hop) and trailers.

A path with a dot segment (`/api/orders/../internal/...`, also when %-encoded or written with
a backslash) is refused with a 400 before any routing: the edge routes on the path as it reads
it, and no server behind it may resolve the segment into a path of another service. Header
names with "_" are not forwarded (a server may map them onto CGI variables such as SCRIPT_NAME).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING
from urllib.parse import quote

import urllib3
from flask import Response, request
from urllib3.exceptions import HTTPError, NewConnectionError
from urllib3.exceptions import TimeoutError as UpstreamTimeout
from urllib3.util import SKIP_HEADER, Timeout
from werkzeug.datastructures import Headers
from werkzeug.exceptions import MethodNotAllowed, NotFound

from edge.route_table import Route, route_for
from emporium.background import PerProcess
from emporium.logs import request_id_var
from emporium.problems import problem_response

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

log = logging.getLogger(__name__)

# CONNECT and TRACE are not proxied.
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

# Headers of one connection (RFC 9110 7.6.1), never passed on; Proxy-* also count.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade"}
)
# Also not forwarded: the upstream gets its own Host and Content-Length from urllib3, the body
# is already read (so no Expect), and the edge sets the X-Forwarded-* and X-Request-ID itself.
_NOT_FORWARDED = HOP_BY_HOP | {
    "host",
    "content-length",
    "expect",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-request-id",
}
# Also not relayed: the edge's server sends its own Date and Server, and the edge's telemetry
# its own X-Request-ID (the same id).
_NOT_RELAYED = HOP_BY_HOP | {"date", "server", "x-request-id"}

_CHUNK = 64 * 1024
# More connections per upstream than a worker has threads, so kept-alive ones are not dropped.
_POOL_SIZE = 32
# Characters left as they are in a request target; others (spaces, non-ASCII) are %-encoded.
_TARGET_SAFE = "!$%&'()*+,/:;=?@[]~"


class Proxy:
    """The edge's catch-all view. `upstreams` maps each service to its `scheme://host:port`;
    `own` maps the edge's own paths (/healthz, ...) to their methods, never proxied."""

    def __init__(
        self,
        routes: Sequence[Route],
        upstreams: Mapping[str, str],
        timeout: Timeout,
        own: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self.routes = tuple(routes)
        self.upstreams = dict(upstreams)
        self.timeout = timeout
        self.own = {path: sorted(methods) for path, methods in (own or {}).items()}
        # gunicorn forks its workers from the master: each process has its own connections.
        self._pools = PerProcess(self._pool_manager)

    def _pool_manager(self) -> urllib3.PoolManager:
        return urllib3.PoolManager(
            num_pools=max(len(self.upstreams), 1),
            maxsize=_POOL_SIZE,
            retries=False,
            timeout=self.timeout,
        )

    def close(self) -> None:
        """Close this process's idle upstream connections."""
        self._pools.get().clear()

    def forward(self, **_: str) -> Response:
        """Forward this request to the service its path's route names; relay the answer.

        The view of every rule the edge does not serve itself; it takes the raw path from the
        environment, not the rule's variables, so the upstream sees what the client sent.
        """
        if request.path in self.own:  # the edge's own path, with another method
            raise MethodNotAllowed(self.own[request.path])
        if _ambiguous(request.environ):
            return problem_response(
                400,
                "The path has a . or .. segment; send it normalised.",
                type_="ambiguous-path",
            )
        try:
            service = route_for(request.path, self.routes).service
        except LookupError:
            raise NotFound() from None
        body = request.get_data(cache=False)  # 413 above MAX_CONTENT_LENGTH, before any upstream
        pool = self._pools.get().connection_from_url(self.upstreams[service])
        try:
            upstream = pool.urlopen(
                request.method,
                _target(request.environ),
                body=body or None,
                headers=_forwarded_headers(),
                retries=False,
                redirect=False,
                timeout=self.timeout,
                preload_content=False,
                decode_content=False,
            )
        except HTTPError as error:
            return _upstream_failed(service, error, self.timeout)
        return _relay(upstream, service)


def _ambiguous(environ: WSGIEnvironment) -> bool:
    """Whether the (decoded) path has a "." or ".." segment, "\\" counting as a separator."""
    segments = environ.get("PATH_INFO", "").replace("\\", "/").split("/")
    return "." in segments or ".." in segments


def _target(environ: WSGIEnvironment) -> str:
    """The request target to send upstream: the raw one the client sent, %-encoded as it was."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or ""
    if not raw.startswith("/"):  # absent, or the absolute form: rebuild it
        raw = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        raw = quote(raw.encode("latin-1"), safe="/") or "/"
        if environ.get("QUERY_STRING"):
            raw += "?" + environ["QUERY_STRING"]
    # WSGI strings carry the request's bytes as latin-1 characters.
    return quote(raw.encode("latin-1"), safe=_TARGET_SAFE)


def _connection_tokens(values: Iterable[str]) -> set[str]:
    """The headers a Connection header names as hop-by-hop."""
    return {token.strip().lower() for value in values for token in value.split(",")}


def _end_to_end(
    headers: Iterable[tuple[str, str]], connection: Iterable[str], dropped: frozenset[str]
) -> Iterator[tuple[str, str]]:
    listed = _connection_tokens(connection)
    for name, value in headers:
        lower = name.lower()
        if (
            lower not in dropped
            and lower not in listed
            and not lower.startswith("proxy-")
            and "_" not in lower
        ):
            yield name, value


def _forwarded_headers() -> urllib3.HTTPHeaderDict:
    incoming = request.headers
    headers = urllib3.HTTPHeaderDict()
    for name, value in _end_to_end(
        incoming.items(), incoming.getlist("Connection"), _NOT_FORWARDED
    ):
        headers.add(name, value)
    client = request.remote_addr
    chain = incoming.get("X-Forwarded-For")
    if client:
        headers["X-Forwarded-For"] = f"{chain}, {client}" if chain else client
    elif chain:
        headers["X-Forwarded-For"] = chain
    headers["X-Forwarded-Proto"] = request.scheme
    headers["X-Forwarded-Host"] = request.host
    headers["X-Request-ID"] = request_id_var.get() or ""  # set for every request by telemetry
    for name in ("User-Agent", "Accept-Encoding"):
        if name not in headers:
            headers[name] = SKIP_HEADER  # none, as the client sent, rather than urllib3's own
    return headers


def _relay(upstream: urllib3.BaseHTTPResponse, service: str) -> Response:
    def body() -> Iterator[bytes]:
        try:
            yield from upstream.stream(_CHUNK, decode_content=False)
        except HTTPError as error:
            # The status is sent already: failing makes the server cut the connection, so the
            # client sees an incomplete body rather than a short one that looks whole.
            log.warning(
                "upstream failed mid-response", extra={"upstream": service, "error": str(error)}
            )
            raise

    def finish() -> None:
        if not upstream.closed:  # not read to the end (HEAD, client gone): unusable
            upstream.close()
        upstream.release_conn()

    response = Response(body(), status=upstream.status)
    # Replaced whole, so no default Content-Type is added where the upstream sent none.
    response.headers = Headers(
        list(
            _end_to_end(
                upstream.headers.items(), upstream.headers.getlist("Connection"), _NOT_RELAYED
            )
        )
    )
    response.call_on_close(finish)
    return response


def _upstream_failed(service: str, error: HTTPError, timeout: Timeout) -> Response:
    log.warning("upstream failed", extra={"upstream": service, "error": str(error)})
    # NewConnectionError is a ConnectTimeoutError too, but means the connection was refused.
    if isinstance(error, UpstreamTimeout) and not isinstance(error, NewConnectionError):
        return problem_response(
            504,
            f"The {service} service did not answer in time"
            f" (connect {timeout.connect_timeout} s, read {timeout.read_timeout} s).",
            type_="upstream-timeout",
            service=service,
        )
    return problem_response(
        502,
        f"The {service} service is unreachable.",
        type_="upstream-unavailable",
        service=service,
    )
