"""The yardstick: bare Flask, with nothing of Emporium in it.

    gunicorn -k gthread -w 2 --threads 4 'tests.bench.bare_app:create_app()'

Started by `tests/bench/catalog_read.py` under plain gunicorn (its defaults: no access log, no
configuration of ours). `GET /bare` answers a small product-like document; `GET
/carts/<cart_id>` reads one cart's item from DynamoDB with a plain boto3 client (the same
consistent GetItem the cart service makes, on the cart's table) and answers it as JSON: the
floor a cart read can reach with the same storage call.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import boto3
from botocore.config import Config
from flask import Flask, abort


def create_app() -> Flask:
    app = Flask(__name__)
    table = os.environ.get("CART_TABLE", "emporium-carts")
    pid_and_client: list[Any] = [None, None]
    lock = threading.Lock()

    def dynamodb() -> Any:
        # One client per process, made after gunicorn forks (a client is thread-safe).
        with lock:
            if pid_and_client[0] != os.getpid():
                client = boto3.session.Session().client(
                    "dynamodb",
                    region_name=os.environ.get("AWS_REGION", "us-east-1"),
                    endpoint_url=os.environ.get("AWS_ENDPOINT_URL_DYNAMODB"),
                    config=Config(max_pool_connections=32),  # as many as the cart's
                )
                pid_and_client[:] = [os.getpid(), client]
            return pid_and_client[1]

    @app.get("/bare")
    def bare() -> dict[str, object]:
        return {
            "id": "bare",
            "name": "A bare endpoint",
            "price": {"amount": 100, "currency": "USD"},
        }

    @app.get("/carts/<cart_id>")
    def cart(cart_id: str) -> dict[str, object]:
        item = (
            dynamodb()
            .get_item(TableName=table, Key={"id": {"S": cart_id}}, ConsistentRead=True)
            .get("Item")
        )
        if not item:
            abort(404)
        return {"id": cart_id, "item": item}

    return app
