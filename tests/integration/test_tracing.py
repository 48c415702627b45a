"""Tracing on: a request to catalog under gunicorn becomes spans exported over OTLP/HTTP,
received here by a small collector that decodes what it gets."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from tests.integration.conftest import local_env, seed, start_gunicorn, start_redis
from tests.neighbours import Neighbour, serve
from werkzeug.wrappers import Request, Response

from devstack.processes import Group, free_port

pytestmark = pytest.mark.integration

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


class Collector(Neighbour):
    """Receives OTLP/HTTP trace exports and keeps every span with its service's name: a
    `tests.neighbours` fake, served on loopback."""

    def __init__(self) -> None:
        super().__init__()
        self.spans: list[dict[str, Any]] = []

    def answer(self, received: Request) -> Response:
        request = ExportTraceServiceRequest.FromString(received.get_data())
        for resource_spans in request.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.spans.append(
                        {
                            "service": attributes.get("service.name"),
                            "name": span.name,
                            "trace_id": span.trace_id.hex(),
                            "parent": span.parent_span_id.hex(),
                        }
                    )
        return Response(b"", status=200)


@pytest.fixture
def collector() -> Iterator[Collector]:
    receiver = Collector()
    with serve(receiver):
        yield receiver


def test_a_request_is_traced_through_cache_and_store_under_the_callers_trace(
    dynamodb_url: str, collector: Collector
) -> None:
    with Group() as group:
        redis_port = free_port()
        start_redis(group, redis_port)
        env = local_env(
            dynamodb_url,
            redis_port,
            "catalog-traced",
            OTEL_EXPORTER_OTLP_ENDPOINT=collector.url,
            OTEL_BSP_SCHEDULE_DELAY="100",  # export within a tenth of a second
        )
        seed(env)
        catalog = start_gunicorn(group, "catalog", "catalog.app:create_app()", env)
        url = catalog.url
        answer = requests.get(
            url + "/api/catalog/products/cast-iron-skillet",
            headers={"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"},
            timeout=10,
        )
        assert answer.status_code == 200

        # Spans arrive in batches, children often before their parent: wait for the request's
        # span itself, and for a DynamoDB and a Redis child under it.
        def arrived() -> bool:
            names = [s["name"] for s in collector.spans if s["trace_id"] == TRACE_ID]
            return (
                "GET /api/catalog/products/<product_id>" in names
                and any(name.startswith("DynamoDB") for name in names)
                and any(name.upper().startswith(("GET", "EVALSHA", "SET")) for name in names)
            )

        deadline = time.monotonic() + 30
        while not arrived() and time.monotonic() < deadline:
            time.sleep(0.1)
        ours = [span for span in collector.spans if span["trace_id"] == TRACE_ID]
        if not arrived():  # say what did arrive, and what the catalog said meanwhile
            pytest.fail(
                f"within 30 s, spans of the trace: {sorted(s['name'] for s in ours)}; of others: "
                f"{sorted(s['name'] for s in collector.spans if s not in ours)}; the catalog's "
                f"output:\n{catalog.child.output()[-4000:]}"
            )

    request_span = next(s for s in ours if s["name"] == "GET /api/catalog/products/<product_id>")
    assert request_span["service"] == "catalog"
    assert request_span["parent"] == "00f067aa0ba902b7"  # continues the caller's trace
    children = {s["name"] for s in ours if s is not request_span}
    assert any(name.startswith("DynamoDB") for name in children), children
    assert any(name.upper().startswith(("GET", "EVALSHA", "SET")) for name in children), children
