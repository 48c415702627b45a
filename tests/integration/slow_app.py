"""A service made of the shared library alone, with a slow endpoint to shut down under."""

from __future__ import annotations

import logging
import time

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue

from emporium.app import create_service_app
from emporium.config import Env, ServiceSettings

log = logging.getLogger(__name__)


def create_app() -> Flask:
    app = create_service_app("slow", ServiceSettings.from_env(Env()))

    @app.get("/slow")
    def slow() -> ResponseReturnValue:
        seconds = min(float(request.args.get("seconds", "1")), 10.0)
        log.info("slow request started", extra={"seconds": seconds})  # the test waits for it
        time.sleep(seconds)  # slow on purpose: a request still in flight when SIGTERM comes
        return jsonify(slept=seconds)

    return app
