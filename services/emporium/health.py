"""Liveness and readiness.

`/healthz` answers while the process can serve at all. `/readyz` runs the service's dependency
checks and fails as soon as the process starts draining (SIGTERM, see `gunicorn_conf`), so the
load balancer stops sending new requests before the in-flight ones are finished.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, Response, jsonify

from emporium.problems import problem_response

log = logging.getLogger(__name__)

DRAINING = threading.Event()


@dataclass(frozen=True)
class Check:
    name: str
    probe: Callable[[], object]
    critical: bool  # a failing non-critical check reports "degraded" but keeps the pod ready


class Health:
    def __init__(self) -> None:
        self.checks: list[Check] = []

    def add_check(self, name: str, probe: Callable[[], object], *, critical: bool = True) -> None:
        """`probe` returns when the dependency answers and raises when it does not."""
        self.checks.append(Check(name, probe, critical))

    def init_app(self, app: Flask) -> None:
        app.extensions["emporium.health"] = self
        app.add_url_rule("/healthz", "healthz", self.healthz)
        app.add_url_rule("/readyz", "readyz", self.readyz)

    def healthz(self) -> Response:
        return jsonify(status="ok")

    def readyz(self) -> Response:
        if DRAINING.is_set():
            return problem_response(503, "The process is shutting down.", checks={})
        results: dict[str, str] = {}
        ready = True
        for check in self.checks:
            try:
                check.probe()
                results[check.name] = "ok"
            except Exception as error:
                log.warning(
                    "readiness check failed", extra={"check": check.name, "error": str(error)}
                )
                results[check.name] = "failing" if check.critical else "degraded"
                ready = ready and not check.critical
        if not ready:
            return problem_response(503, "A dependency is unreachable.", checks=results)
        return jsonify(status="ready", checks=results)
