"""The shared outbound client against a real local HTTP server (a `tests.neighbours` fake)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.neighbours import Neighbour, serve
from werkzeug.wrappers import Request, Response

from devstack.processes import free_port
from emporium.logs import request_id_var, trace_id_var
from emporium.outbound import (
    CircuitBreaker,
    DependencyUnavailableError,
    OutboundSettings,
    ServiceClient,
)

SETTINGS = OutboundSettings(
    # Bounds for a busy machine: no test here waits for a timeout to fire.
    connect_timeout=10.0,
    read_timeout=30.0,
    retries=2,
    backoff_base=0.0,
    backoff_cap=0.0,
    breaker_failures=3,
    breaker_reset=60.0,
)


class Upstream(Neighbour):
    """The service called, faked as every neighbour is (`tests.neighbours`) and served on
    loopback, since the client's own HTTP is under test. It answers the statuses of `answers`
    in turn (then 200), and records every request in `seen`."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Request] = []
        self.answers: list[int] = []

    def answer(self, request: Request) -> Response:
        request.get_data()
        self.seen.append(request)
        status = self.answers.pop(0) if self.answers else 200
        return Response(b'{"ok": true}', status=status, mimetype="application/json")


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    fake = Upstream()
    with serve(fake):
        yield fake


def test_passes_the_request_id_and_a_child_of_the_trace(upstream: Upstream) -> None:
    request_token = request_id_var.set("req-123")
    trace_token = trace_id_var.set("a" * 32)
    try:
        reply = ServiceClient("catalog", upstream.url, SETTINGS).get("/x", params={"q": "1 2"})
    finally:
        request_id_var.reset(request_token)
        trace_id_var.reset(trace_token)
    assert reply.status == 200
    assert reply.json() == {"ok": True}
    sent = upstream.seen[0]
    assert sent.full_path == "/x?q=1+2"
    assert sent.headers["X-Request-ID"] == "req-123"
    version, trace, span, flags = sent.headers["traceparent"].split("-")
    assert (version, trace, flags) == ("00", "a" * 32, "01")
    assert len(span) == 16


def test_retries_an_idempotent_call_on_a_5xx_and_returns_the_answer(upstream: Upstream) -> None:
    upstream.answers = [503, 502, 200]
    reply = ServiceClient("catalog", upstream.url, SETTINGS).get("/x")
    assert reply.status == 200
    assert len(upstream.seen) == 3


def test_never_retries_a_post_unless_told_it_is_idempotent(upstream: Upstream) -> None:
    client = ServiceClient("orders", upstream.url, SETTINGS)
    upstream.answers = [503, 200]
    with pytest.raises(DependencyUnavailableError):
        client.request("POST", "/x", body={"a": 1})
    assert len(upstream.seen) == 1
    upstream.answers = [503, 200]
    assert client.request("POST", "/x", body={"a": 1}, idempotent=True).status == 200
    assert upstream.seen[-1].get_json() == {"a": 1}


def test_a_4xx_is_the_callers_to_judge_not_a_failure(upstream: Upstream) -> None:
    upstream.answers = [404]
    client = ServiceClient("catalog", upstream.url, SETTINGS)
    assert client.get("/missing").status == 404
    assert len(upstream.seen) == 1
    assert client.breaker.allow()


def test_an_unreachable_service_is_a_503_problem_with_retry_after() -> None:
    client = ServiceClient("catalog", f"http://127.0.0.1:{free_port()}", SETTINGS)
    with pytest.raises(DependencyUnavailableError) as raised:
        client.get("/x")
    assert raised.value.status == 503
    assert int(raised.value.headers["Retry-After"]) >= 1
    assert raised.value.extra["dependency"] == "catalog"


def test_the_breaker_opens_after_repeated_failures_and_stops_calling(upstream: Upstream) -> None:
    client = ServiceClient("catalog", upstream.url, SETTINGS)
    upstream.answers = [503] * 3
    with pytest.raises(DependencyUnavailableError):
        client.get("/x")  # three attempts, three failures: open
    with pytest.raises(DependencyUnavailableError) as raised:
        client.get("/x")
    assert len(upstream.seen) == 3  # the second call never left the process
    assert int(raised.value.headers["Retry-After"]) > 30


def test_a_half_open_breaker_lets_one_trial_through_and_closes_on_success() -> None:
    now = [100.0]
    breaker = CircuitBreaker(failures=2, reset=5.0)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("emporium.outbound.time.monotonic", lambda: now[0])
        breaker.failed()
        breaker.failed()
        assert not breaker.allow()
        now[0] += 5.1
        assert breaker.allow()  # the trial
        assert not breaker.allow()  # only one at a time
        breaker.succeeded()
        assert breaker.allow()
        assert breaker.allow()
