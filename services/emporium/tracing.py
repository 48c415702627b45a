"""OpenTelemetry tracing, off unless an OTLP endpoint is configured.

Set `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) and every request
becomes a span exported over OTLP/HTTP, continuing the caller's `traceparent`, with child spans
for the calls it makes to other services (urllib3), DynamoDB (botocore) and Redis. The other
standard variables apply too (`OTEL_SERVICE_NAME`, `OTEL_TRACES_SAMPLER`, ...). Off, nothing of
OpenTelemetry is imported and a request pays nothing for it.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask

_enabled = False


def enabled(environ: dict[str, str] | os._Environ[str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return bool(
        env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )


def init_app(app: Flask, service: str) -> None:
    """Trace the app's requests when an endpoint is configured (call after the other WSGI
    middleware is in place: the request span must be the outermost, so that the logs carry
    its trace id)."""
    global _enabled  # noqa: PLW0603 - one tracer provider per process, as OpenTelemetry has
    if not enabled():
        return
    from opentelemetry import trace  # noqa: PLC0415 - only when tracing is on
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
        OTLPSpanExporter,
    )
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor  # noqa: PLC0415
    from opentelemetry.instrumentation.redis import RedisInstrumentor  # noqa: PLC0415
    from opentelemetry.instrumentation.urllib3 import URLLib3Instrumentor  # noqa: PLC0415
    from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware  # noqa: PLC0415
    from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415

    if not _enabled:
        name = os.environ.get("OTEL_SERVICE_NAME") or service
        provider = TracerProvider(resource=Resource.create({"service.name": name}))
        # The batch processor restarts its export thread in each forked gunicorn worker.
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(provider)
        botocore = BotocoreInstrumentor()  # type: ignore[no-untyped-call]
        for instrumentor in (URLLib3Instrumentor(), botocore, RedisInstrumentor()):
            if not instrumentor.is_instrumented_by_opentelemetry:
                instrumentor.instrument()
        _enabled = True
    app.wsgi_app = OpenTelemetryMiddleware(app.wsgi_app)  # type: ignore[method-assign]


def current_trace_id() -> str | None:
    """The trace id of the active span, as 32 hex digits; None when tracing is off."""
    if not _enabled:
        return None
    from opentelemetry import trace  # noqa: PLC0415

    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def name_span(method: str, route: str) -> None:
    """Name the request's span after its route template, as OpenTelemetry's HTTP spans are."""
    if not _enabled:
        return
    from opentelemetry import trace  # noqa: PLC0415

    span: Any = trace.get_current_span()
    span.update_name(f"{method} {route}")
    span.set_attribute("http.route", route)
