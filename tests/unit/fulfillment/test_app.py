"""Settings, the app around the loop (health, readiness, metrics), and `python -m fulfillment`."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from typing import Any

import fakeredis
import pytest
from tests.neighbours import ORDERS_TOKEN, FakeOrders, order_placed, serve
from tests.unit.fulfillment.conftest import STREAM, records, shared_dynamodb_client
from tests.waits import eventually

import fulfillment.__main__
import fulfillment.app
from emporium.config import ConfigError
from emporium.health import DRAINING
from fulfillment.app import FulfillmentSettings, consumer_name, create_app
from fulfillment.store import FulfillmentStore
from fulfillment.worker import ConsumerThread

METRICS = "http://localhost:9090"  # /metrics is served on METRICS_PORT (9090) only


def settings_environ(**overrides: str) -> dict[str, str]:
    return {
        "FULFILLMENT_ORDERS_URL": "http://orders:8080",
        "FULFILLMENT_ORDERS_TOKEN": ORDERS_TOKEN,
        "AWS_REGION": "us-east-1",
        **overrides,
    }


def test_settings_have_defaults_for_all_but_the_orders_url_and_token() -> None:
    settings = FulfillmentSettings.from_env(settings_environ())
    assert settings.orders_url == "http://orders:8080"
    assert settings.orders_token == ORDERS_TOKEN
    assert settings.table == "emporium-fulfillment"
    assert settings.dynamodb.region == "us-east-1"
    assert settings.stream == "emporium:orders:events"
    assert settings.group == "fulfillment"
    assert (settings.claim_idle_ms, settings.max_deliveries) == (30_000, 5)
    assert settings.dead_letter_max_length == 100_000
    assert settings.redis.url == "redis://localhost:6379/0"


def test_settings_are_read_from_their_variables() -> None:
    settings = FulfillmentSettings.from_env(
        settings_environ(
            ORDERS_EVENTS_STREAM="{shop}:orders",
            FULFILLMENT_TABLE="shop-fulfillment",
            FULFILLMENT_GROUP="fulfil-2",
            FULFILLMENT_CLAIM_IDLE_MS="1000",
            FULFILLMENT_MAX_DELIVERIES="9",
            FULFILLMENT_DEAD_LETTER_MAX_LENGTH="5000",
            REDIS_URL="rediss://cache:6380/1",
            OUTBOUND_RETRIES="1",
        )
    )
    assert (settings.stream, settings.group) == ("{shop}:orders", "fulfil-2")
    assert settings.table == "shop-fulfillment"
    assert (settings.claim_idle_ms, settings.max_deliveries) == (1000, 9)
    assert settings.dead_letter_max_length == 5000
    assert settings.redis.url == "rediss://cache:6380/1"
    assert settings.outbound.retries == 1


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"FULFILLMENT_ORDERS_URL": ""}, "FULFILLMENT_ORDERS_URL is required but not set"),
        ({"FULFILLMENT_ORDERS_URL": "orders:8080"}, "FULFILLMENT_ORDERS_URL='orders:8080' is"),
        ({"FULFILLMENT_ORDERS_TOKEN": ""}, "FULFILLMENT_ORDERS_TOKEN is required but not set"),
        ({"FULFILLMENT_ORDERS_TOKEN": "short"}, "FULFILLMENT_ORDERS_TOKEN is too short"),
        ({"FULFILLMENT_GROUP": "a group"}, "FULFILLMENT_GROUP='a group' is malformed"),
        ({"FULFILLMENT_TABLE": "a table"}, "FULFILLMENT_TABLE='a table' is malformed"),
        ({"AWS_REGION": ""}, "AWS_REGION is required but not set"),
        ({"FULFILLMENT_CLAIM_IDLE_MS": "soon"}, "FULFILLMENT_CLAIM_IDLE_MS='soon' is malformed"),
        ({"FULFILLMENT_CLAIM_IDLE_MS": "10"}, "FULFILLMENT_CLAIM_IDLE_MS=10 is out of range"),
        ({"FULFILLMENT_MAX_DELIVERIES": "0"}, "FULFILLMENT_MAX_DELIVERIES=0 is out of range"),
        (
            {"FULFILLMENT_DEAD_LETTER_MAX_LENGTH": "0"},
            "FULFILLMENT_DEAD_LETTER_MAX_LENGTH=0 is out of range",
        ),
        (
            {"FULFILLMENT_DEAD_LETTER_MAX_LENGTH": "many"},
            "FULFILLMENT_DEAD_LETTER_MAX_LENGTH='many' is malformed",
        ),
        ({"ORDERS_EVENTS_STREAM": "a stream"}, "ORDERS_EVENTS_STREAM='a stream' is malformed"),
        ({"REDIS_URL": "http://redis"}, "REDIS_URL='http://redis' is malformed"),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable(
    overrides: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        FulfillmentSettings.from_env(settings_environ(**overrides))
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_a_short_token_is_refused_without_showing_it() -> None:
    with pytest.raises(ConfigError) as caught:
        FulfillmentSettings.from_env(settings_environ(FULFILLMENT_ORDERS_TOKEN="s3cr3t"))
    assert "s3cr3t" not in str(caught.value)


def test_each_process_is_a_consumer_of_its_own() -> None:
    host, _, pid = consumer_name().rpartition("-")
    assert host
    assert pid.isdigit()


@pytest.fixture
def fake_redis(monkeypatch: pytest.MonkeyPatch) -> fakeredis.FakeServer:
    """Every Redis client the app and its worker make talks to this server."""
    server = fakeredis.FakeServer()

    def connect(*_args: object, **_kwargs: object) -> fakeredis.FakeRedis:
        return fakeredis.FakeRedis(server=server)

    monkeypatch.setattr(fulfillment.app, "redis_client", connect)
    return server


@pytest.fixture
def dynamodb(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The app's table is in moto's in-memory DynamoDB (through the tests' one client)."""
    monkeypatch.setattr(fulfillment.app, "dynamodb_client", lambda _: shared_dynamodb_client())


@pytest.fixture
def draining() -> Iterator[None]:
    DRAINING.set()
    try:
        yield
    finally:
        DRAINING.clear()


WITH_TABLE = {"DYNAMODB_CREATE_TABLES": "true"}


@pytest.mark.usefixtures("dynamodb")
def test_the_app_answers_health_readiness_and_metrics(fake_redis: fakeredis.FakeServer) -> None:
    client = create_app(settings_environ(**WITH_TABLE), consume=False).test_client()
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").json == {
        "status": "ready",
        "checks": {"redis": "ok", "dynamodb": "ok"},
    }
    assert b"fulfillment_effects_total" in client.get("/metrics", base_url=METRICS).data
    assert client.get("/api/anything").status_code == 404  # no public API


@pytest.mark.usefixtures("dynamodb")
def test_health_and_readiness_are_served_on_the_metrics_port(
    fake_redis: fakeredis.FakeServer,
) -> None:
    # Its Service's only port, where the probes and `helm test` ask (the chart's deployment).
    client = create_app(settings_environ(**WITH_TABLE), consume=False).test_client()
    assert client.get("/healthz", base_url=METRICS).json == {"status": "ok"}
    ready = client.get("/readyz", base_url=METRICS)
    assert (ready.status_code, ready.json) == (
        200,
        {"status": "ready", "checks": {"redis": "ok", "dynamodb": "ok"}},
    )
    fake_redis.connected = False
    assert client.get("/readyz", base_url=METRICS).status_code == 503  # the same checks
    for path in ("/api/anything", "/healthz/", "/openapi.json"):
        assert client.get(path, base_url=METRICS).status_code == 404, path  # and nothing else
    assert client.post("/readyz", base_url=METRICS).status_code == 404


@pytest.mark.usefixtures("draining", "dynamodb")
def test_readiness_on_the_metrics_port_fails_while_draining(
    fake_redis: fakeredis.FakeServer,
) -> None:
    client = create_app(settings_environ(**WITH_TABLE), consume=False).test_client()
    assert client.get("/readyz", base_url=METRICS).status_code == 503
    assert client.get("/healthz", base_url=METRICS).status_code == 200


@pytest.mark.usefixtures("dynamodb")
def test_readiness_fails_without_redis(fake_redis: fakeredis.FakeServer) -> None:
    client = create_app(settings_environ(**WITH_TABLE), consume=False).test_client()
    fake_redis.connected = False
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json is not None
    assert response.json["checks"] == {"redis": "failing", "dynamodb": "ok"}


@pytest.mark.usefixtures("dynamodb", "fake_redis")
def test_readiness_fails_without_its_dynamodb_table() -> None:
    client = create_app(settings_environ(), consume=False).test_client()  # table not created
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json is not None
    assert response.json["checks"] == {"redis": "ok", "dynamodb": "failing"}


@pytest.mark.usefixtures("dynamodb")
def test_the_table_is_created_when_dynamodb_create_tables_is_set(
    fake_redis: fakeredis.FakeServer,
) -> None:
    create_app(settings_environ(**WITH_TABLE, FULFILLMENT_TABLE="made-at-start"), consume=False)
    assert "made-at-start" in shared_dynamodb_client().list_tables()["TableNames"]


@pytest.mark.usefixtures("draining", "dynamodb")
def test_readiness_fails_while_draining(fake_redis: fakeredis.FakeServer) -> None:
    client = create_app(settings_environ(**WITH_TABLE), consume=False).test_client()
    assert client.get("/readyz").status_code == 503


@pytest.mark.usefixtures("dynamodb")
def test_the_loop_starts_once_per_process_after_a_fork_or_on_first_use(
    fake_redis: fakeredis.FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    hooks: list[Callable[[], None]] = []
    monkeypatch.setattr(
        os, "register_at_fork", lambda *, after_in_child: hooks.append(after_in_child)
    )
    orders = FakeOrders()
    with serve(orders) as orders_url:  # the worker's own client calls it
        app = create_app(
            settings_environ(
                **WITH_TABLE, FULFILLMENT_ORDERS_URL=orders_url, ORDERS_EVENTS_STREAM=STREAM
            )
        )
        consumer: ConsumerThread = app.extensions["fulfillment"]
        assert len(hooks) == 1  # gunicorn's workers start the loop right after the fork
        with pytest.raises(RuntimeError, match="not running"):
            consumer.check()
        try:
            # This process was not forked: the first request starts it.
            response = app.test_client().get("/readyz")
            assert response.json == {
                "status": "ready",
                "checks": {"redis": "ok", "dynamodb": "ok", "consumer": "ok"},
            }
            orders.place("from-the-app")
            fakeredis.FakeRedis(server=fake_redis).xadd(
                STREAM, {"event": order_placed("from-the-app")}
            )
            eventually(lambda: orders.status("from-the-app") == "SHIPPED", "shipped")
            table = FulfillmentStore(shared_dynamodb_client, "emporium-fulfillment")
            assert set(records(table, "payment")) == {"from-the-app"}  # the default table
        finally:
            DRAINING.set()
            consumer.join(timeout=60)
            DRAINING.clear()
    with pytest.raises(RuntimeError, match="not running"):
        consumer.check()


def test_python_m_fulfillment_stops_at_a_bad_setting_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("FULFILLMENT_ORDERS_URL", raising=False)
    monkeypatch.setenv("FULFILLMENT_ORDERS_TOKEN", ORDERS_TOKEN)
    assert fulfillment.__main__.main() == 2
    assert capsys.readouterr().err == (
        "fulfillment: FULFILLMENT_ORDERS_URL is required but not set\n"
    )


@pytest.mark.usefixtures("draining")
def test_python_m_fulfillment_runs_the_loop_until_draining(
    monkeypatch: pytest.MonkeyPatch, fake_redis: fakeredis.FakeServer
) -> None:
    handlers: dict[int, Any] = {}
    monkeypatch.setattr(
        signal,
        "signal",
        lambda signum, handler: handlers.update({signum: handler}),
    )
    monkeypatch.setattr(fulfillment.__main__, "configure_logging", lambda *args: None)
    for name, value in settings_environ().items():
        monkeypatch.setenv(name, value)
    assert fulfillment.__main__.main() == 0  # DRAINING is set: it stops at once
    assert set(handlers) == {signal.SIGTERM, signal.SIGINT}
