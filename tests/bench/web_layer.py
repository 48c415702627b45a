"""Benchmark: the store's own web layer (`emporium.api`) against the maintained libraries that
validate Flask requests with pydantic and document them: flask-openapi3, spectree and APIFlask
(its pydantic adapter), with bare Flask as the floor.

    uv run --with flask-openapi3==4.3.2 --with spectree==3.0.0 --with apiflask==3.1.2 \\
        python tests/bench/web_layer.py

(`uv run --with` adds the three to a throwaway environment on top of the locked one: the store
does not depend on them.) Each variant serves the same two operations of catalog with catalog's
own models: `GET /api/catalog/products/<product_id>` (the id matched against PRODUCT_ID) and
`POST /api/catalog/products` (a `ProductWrite` body, 201 with a `Product`). No storage and no
logging: what is measured is the layer alone. It prints, per variant:

- the microseconds per request of a read, a valid write and a refused write, calling the WSGI
  application directly (no server, no sockets: both sides measured alike, median of rounds);
- the milliseconds that importing the library and building the app and its OpenAPI document
  add to a start, in a fresh interpreter that has already imported Flask, pydantic and the
  models (median of runs);
- what each answers, as it comes, to a body that breaks the schema and to an id that breaks its
  pattern (status, media type, the shape of the error), and whether the OpenAPI document states
  the id's pattern and a problem document for errors: the contracts the store's clients rely on.
"""

# Each variant imports its library inside its builder: the import is part of the start measured.
# ruff: noqa: PLC0415

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, jsonify, request
from pydantic import BaseModel, Field
from werkzeug.test import EnvironBuilder

from catalog.models import Product, ProductWrite
from emporium.models import PRODUCT_ID

PRODUCT = {
    "id": "prd-0123456789abcdef",
    "name": "Espresso cup",
    "description": "Porcelain, 80 ml",
    "category": "kitchen",
    "price": {"amount": 1200, "currency": "USD"},
    "imageUrl": "",
    "tags": ["cups"],
    "version": 1,
}
WRITE = {k: PRODUCT[k] for k in ("name", "description", "category", "price", "imageUrl", "tags")}
BAD_WRITE = {**WRITE, "price": {"amount": -5, "currency": "USD"}}
GET_PATH = f"/api/catalog/products/{PRODUCT['id']}"
BAD_GET_PATH = "/api/catalog/products/NOT-AN-ID"  # upper case: outside PRODUCT_ID
CREATE_PATH = "/api/catalog/products"
LIBRARIES = {"flask-openapi3": "flask_openapi3", "spectree": "spectree", "apiflask": "apiflask"}


class ProductPath(BaseModel):
    product_id: str = Field(pattern=f"^{PRODUCT_ID}$")


def created() -> Product:
    body = request.get_json()
    return Product(id=PRODUCT["id"], version=1, **body)


# The variants: each builds a WSGI app and returns it with its OpenAPI document.


def build_bare() -> tuple[Flask, dict[str, Any]]:
    app = Flask("bare")

    @app.get("/api/catalog/products/<product_id>")
    def get_product(product_id: str) -> Any:
        return jsonify(PRODUCT)

    @app.post(CREATE_PATH)
    def create_product() -> Any:
        return jsonify({**request.get_json(), "id": PRODUCT["id"], "version": 1}), 201

    return app, {}


def build_emporium() -> tuple[Flask, dict[str, Any]]:
    from emporium import problems
    from emporium.api import Api

    app = Flask("emporium")
    problems.init_app(app)
    api = Api("catalog", prefix="/api/catalog", title="Catalog", version="1")

    @api.get(
        "/products/<product_id>", summary="Get", response=Product, path={"product_id": PRODUCT_ID}
    )
    def get_product(product_id: str) -> Product:
        return Product.model_validate(PRODUCT)

    @api.post("/products", summary="Create", body=ProductWrite, response=Product, status=201)
    def create_product(body: ProductWrite) -> Product:
        return Product(id=PRODUCT["id"], version=1, **body.model_dump())

    app.register_blueprint(api.blueprint)
    return app, api.openapi()


def build_flask_openapi3() -> tuple[Flask, dict[str, Any]]:
    from flask_openapi3 import OpenAPI

    app = OpenAPI("flask_openapi3")

    @app.get("/api/catalog/products/<product_id>", responses={200: Product})
    def get_product(path: ProductPath) -> Any:
        return Response(
            Product.model_validate(PRODUCT).model_dump_json(), mimetype="application/json"
        )

    @app.post(CREATE_PATH, responses={201: Product})
    def create_product(body: ProductWrite) -> Any:
        product = Product(id=PRODUCT["id"], version=1, **body.model_dump())
        return Response(product.model_dump_json(), 201, mimetype="application/json")

    return app, app.api_doc


def build_spectree() -> tuple[Flask, dict[str, Any]]:
    from spectree import Response as Responses
    from spectree import SpecTree

    app = Flask("spectree")
    spec = SpecTree("flask", app=app)

    @app.get("/api/catalog/products/<product_id>")
    @spec.validate(resp=Responses(HTTP_200=Product))
    def get_product(product_id: str) -> Any:
        return Response(
            Product.model_validate(PRODUCT).model_dump_json(), mimetype="application/json"
        )

    @app.post(CREATE_PATH)
    @spec.validate(json=ProductWrite, resp=Responses(HTTP_201=Product))
    def create_product() -> Any:
        body: ProductWrite = request.context.json  # type: ignore[attr-defined]
        product = Product(id=PRODUCT["id"], version=1, **body.model_dump())
        return Response(product.model_dump_json(), 201, mimetype="application/json")

    with app.app_context():
        document = spec.spec
    return app, document


def build_apiflask() -> tuple[Flask, dict[str, Any]]:
    from apiflask import APIFlask

    app = APIFlask("apiflask", spec_path="/openapi.json", docs_path=None)

    @app.get("/api/catalog/products/<product_id>")
    @app.output(Product)
    def get_product(product_id: str) -> Any:
        return Product.model_validate(PRODUCT)

    @app.post(CREATE_PATH)
    @app.input(ProductWrite)
    @app.output(Product, status_code=201)
    def create_product(json_data: ProductWrite) -> Any:
        return Product(id=PRODUCT["id"], version=1, **json_data.model_dump())

    with app.app_context():
        document = app.spec
    return app, document


VARIANTS: dict[str, Callable[[], tuple[Flask, dict[str, Any]]]] = {
    "bare Flask": build_bare,
    "emporium.api": build_emporium,
    "flask-openapi3": build_flask_openapi3,
    "spectree": build_spectree,
    "apiflask": build_apiflask,
}


# Measuring.


def call(app: Flask, environ: dict[str, Any], body: bytes) -> tuple[int, str, bytes]:
    environ = {**environ, "wsgi.input": io.BytesIO(body)}
    status: list[str] = []
    headers: list[tuple[str, str]] = []

    def start_response(
        line: str, response_headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Any:
        status.append(line)
        headers.extend(response_headers)

    chunks = app.wsgi_app(environ, start_response)
    data = b"".join(chunks)
    getattr(chunks, "close", lambda: None)()
    media = dict(headers).get("Content-Type", "")
    return int(status[0].split()[0]), media, data


def environ_of(method: str, path: str, body: dict[str, Any] | None) -> tuple[dict[str, Any], bytes]:
    data = json.dumps(body).encode() if body is not None else b""
    builder = EnvironBuilder(
        path=path, method=method, data=data, content_type="application/json" if body else None
    )
    return builder.get_environ(), data


REQUESTS = {
    "read": ("GET", GET_PATH, None),
    "write": ("POST", CREATE_PATH, WRITE),
    "refused": ("POST", CREATE_PATH, BAD_WRITE),
}


def per_request_us(apps: dict[str, Flask], *, rounds: int, n: int) -> dict[tuple[str, str], float]:
    """Median microseconds per request of each (variant, request). The rounds go round the
    variants in turn, so a slower moment of the machine falls on all of them alike."""
    prepared = {what: environ_of(*request) for what, request in REQUESTS.items()}
    for app in apps.values():  # warm up
        for environ, data in prepared.values():
            for _ in range(200):
                call(app, environ, data)
    timings: dict[tuple[str, str], list[float]] = {}
    for _ in range(rounds):
        for name, app in apps.items():
            for what, (environ, data) in prepared.items():
                started = time.perf_counter()
                for _ in range(n):
                    call(app, environ, data)
                elapsed = (time.perf_counter() - started) / n * 1e6
                timings.setdefault((name, what), []).append(elapsed)
    return {key: statistics.median(values) for key, values in timings.items()}


def startup_ms(variant: str, runs: int) -> float:
    timings = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, __file__, "--startup-of", variant],
            capture_output=True,
            text=True,
            check=True,
        )
        timings.append(float(done.stdout.strip()))
    return statistics.median(timings)


def contract(app: Flask, document: dict[str, Any]) -> dict[str, str]:
    status, media, data = call(app, *environ_of("POST", CREATE_PATH, BAD_WRITE))
    shape = json.loads(data) if data else None
    if isinstance(shape, dict):
        shape_text = "{" + ", ".join(sorted(shape)) + "}"
    else:
        shape_text = type(shape).__name__
    bad_id, _, _ = call(app, *environ_of("GET", BAD_GET_PATH, None))
    text = json.dumps(document)
    return {
        "bad body": f"{status} {media.split(';')[0]} {shape_text}",
        "bad id": str(bad_id),
        "pattern in doc": "yes"
        if re.escape(PRODUCT_ID)[:8] in text or PRODUCT_ID in text
        else "no",
        "problem+json in doc": "yes" if "application/problem+json" in text else "no",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--startup-of", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=2000, help="per round")
    parser.add_argument("--startup-runs", type=int, default=5)
    args = parser.parse_args()

    if args.startup_of:  # in a fresh interpreter: import, build, document
        started = time.perf_counter()
        VARIANTS[args.startup_of]()
        print((time.perf_counter() - started) * 1000)
        return

    missing = [
        name for name, module in LIBRARIES.items() if importlib.util.find_spec(module) is None
    ]
    if missing:
        sys.exit(
            f"web_layer: {', '.join(missing)} not installed; run it as its docstring says:\n"
            "  uv run --with flask-openapi3==4.3.2 --with spectree==3.0.0 --with apiflask==3.1.2 "
            "python tests/bench/web_layer.py"
        )
    built = {name: build() for name, build in VARIANTS.items()}
    apps = {name: app for name, (app, _) in built.items()}
    print(f"web_layer: {args.rounds} rounds of {args.requests} requests each", file=sys.stderr)
    timing = per_request_us(apps, rounds=args.rounds, n=args.requests)
    rows = []
    for name, (app, document) in built.items():
        print(f"web_layer: starting {name} {args.startup_runs} times", file=sys.stderr)
        rows.append(
            (
                name,
                timing[name, "read"],
                timing[name, "write"],
                timing[name, "refused"],
                startup_ms(name, args.startup_runs),
                contract(app, document),
            )
        )

    print(
        f"{'':16} {'read µs':>8} {'write µs':>9} {'refused µs':>11} {'startup ms':>11}  "
        "bad body -> ; bad id -> ; id pattern in OpenAPI ; problem+json in OpenAPI"
    )
    for name, read, write, refused, startup, found in rows:
        print(
            f"{name:16} {read:8.1f} {write:9.1f} {refused:11.1f} {startup:11.0f}  "
            f"{found['bad body']} ; {found['bad id']} ; {found['pattern in doc']} ; "
            f"{found['problem+json in doc']}"
        )


if __name__ == "__main__":
    main()
