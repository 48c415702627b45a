"""The yardstick: a bare Flask endpoint with nothing of Emporium in it."""

from __future__ import annotations

from flask import Flask


def create_app() -> Flask:
    app = Flask(__name__)

    @app.get("/bare")
    def bare() -> dict[str, object]:
        return {
            "id": "bare",
            "name": "A bare endpoint",
            "price": {"amount": 100, "currency": "USD"},
        }

    return app
