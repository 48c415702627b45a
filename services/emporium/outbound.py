"""Calls from one service to another.

`ServiceClient` gives every call a connect and a read timeout; retries idempotent calls (GET,
PUT, DELETE, ...) a bounded number of times with full-jitter backoff, never a POST unless the
caller says it is safe; stops calling a failing dependency for a while (a circuit breaker), so
a request fails fast instead of queueing behind timeouts; and passes on the caller's
X-Request-ID and trace (W3C `traceparent`, with a new span id).

When the dependency cannot be reached, answers 5xx or the breaker is open, the call raises
`DependencyUnavailableError`: a 503 problem document with Retry-After.
"""

from __future__ import annotations

import json
import logging
import random
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import urllib3

from emporium.background import PerProcess
from emporium.config import Env
from emporium.logs import request_id_var, trace_id_var
from emporium.problems import Problem

log = logging.getLogger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class DependencyUnavailableError(Problem):
    def __init__(self, service: str, retry_after: float) -> None:
        super().__init__(
            503,
            f"The {service} service is unavailable; nothing was changed. Try again shortly.",
            type_="dependency-unavailable",
            headers={"Retry-After": str(max(1, round(retry_after)))},
            dependency=service,
        )


@dataclass(frozen=True)
class OutboundSettings:
    connect_timeout: float
    read_timeout: float
    retries: int
    backoff_base: float
    backoff_cap: float
    breaker_failures: int
    breaker_reset: float

    @classmethod
    def from_env(cls, env: Env) -> OutboundSettings:
        return cls(
            connect_timeout=env.number("OUTBOUND_CONNECT_TIMEOUT", 0.5, min=0.01),
            read_timeout=env.number("OUTBOUND_READ_TIMEOUT", 2.0, min=0.01),
            retries=env.integer("OUTBOUND_RETRIES", 2, min=0, max=5),
            backoff_base=env.number("OUTBOUND_BACKOFF_SECONDS", 0.05, min=0.0),
            backoff_cap=env.number("OUTBOUND_BACKOFF_CAP_SECONDS", 0.5, min=0.0),
            breaker_failures=env.integer("OUTBOUND_BREAKER_FAILURES", 5, min=1),
            breaker_reset=env.number("OUTBOUND_BREAKER_RESET_SECONDS", 5.0, min=0.1),
        )


class CircuitBreaker:
    """Closed until `failures` calls in a row fail; then open for `reset` seconds, after which
    one trial call at a time is let through (half-open) until one succeeds."""

    def __init__(self, failures: int, reset: float) -> None:
        self.failures = failures
        self.reset = reset
        self._lock = threading.Lock()
        self._consecutive = 0
        self._open_until = 0.0
        self._trial_running = False

    def allow(self) -> bool:
        with self._lock:
            if self._consecutive < self.failures:
                return True
            if time.monotonic() < self._open_until or self._trial_running:
                return False
            self._trial_running = True
            return True

    def retry_after(self) -> float:
        return max(0.0, self._open_until - time.monotonic()) or 1.0

    def succeeded(self) -> None:
        with self._lock:
            self._consecutive = 0
            self._trial_running = False

    def failed(self) -> None:
        with self._lock:
            self._consecutive += 1
            self._trial_running = False
            if self._consecutive >= self.failures:
                self._open_until = time.monotonic() + self.reset


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class ServiceClient:
    """Calls to one service at `base_url` (e.g. http://catalog:8080)."""

    def __init__(self, service: str, base_url: str, settings: OutboundSettings) -> None:
        self.service = service
        self.base_url = base_url.rstrip("/")
        self.settings = settings
        self.breaker = CircuitBreaker(settings.breaker_failures, settings.breaker_reset)
        self._pool = PerProcess(
            lambda: urllib3.PoolManager(
                num_pools=4,
                maxsize=16,
                retries=False,
                timeout=urllib3.Timeout(
                    connect=settings.connect_timeout, read=settings.read_timeout
                ),
            )
        )

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Reply:
        return self.request("GET", path, params=params)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> Reply:
        """Send the request; any answer below 500 is returned as it is, for the caller to judge.

        `idempotent` defaults to what the method promises; pass True for a POST that carries
        an idempotency key, so that it may be retried too.
        """
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        url = self.base_url + path + (f"?{urlencode(params)}" if params else "")
        sent_headers = {**self._propagated(), **(headers or {})}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            sent_headers["Content-Type"] = "application/json"
        attempts = 1 + (self.settings.retries if idempotent else 0)
        for attempt in range(attempts):
            if not self.breaker.allow():
                raise DependencyUnavailableError(self.service, self.breaker.retry_after())
            outcome = self._attempt(method, url, payload, sent_headers)
            if isinstance(outcome, Reply):
                self.breaker.succeeded()
                return outcome
            self.breaker.failed()
            log.warning(
                "call failed",
                extra={
                    "dependency": self.service,
                    "method": method,
                    "path": path,
                    "attempt": attempt + 1,
                    "error": outcome,
                },
            )
            if attempt + 1 < attempts:
                cap = min(self.settings.backoff_cap, self.settings.backoff_base * 2**attempt)
                time.sleep(random.uniform(0, cap))  # noqa: S311 - jitter, not crypto
        raise DependencyUnavailableError(self.service, self.breaker.retry_after())

    def _attempt(
        self, method: str, url: str, payload: bytes | None, headers: dict[str, str]
    ) -> Reply | str:
        """The reply, or why the attempt failed."""
        try:
            response = self._pool.get().request(
                method, url, body=payload, headers=headers, redirect=False, preload_content=True
            )
        except urllib3.exceptions.HTTPError as error:
            return type(error).__name__
        if response.status >= 500:
            return f"HTTP {response.status}"
        return Reply(response.status, dict(response.headers), response.data)

    @staticmethod
    def _propagated() -> dict[str, str]:
        headers = {}
        request_id, trace_id = request_id_var.get(), trace_id_var.get()
        if request_id:
            headers["X-Request-ID"] = request_id
        if trace_id:
            headers["traceparent"] = f"00-{trace_id}-{secrets.token_hex(8)}-01"
        return headers
