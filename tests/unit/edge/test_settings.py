"""The edge's settings: an upstream URL per service of the route table, and its timeouts."""

from __future__ import annotations

import pytest
from tests.checks import config_error

from edge.app import EdgeSettings, create_app, upstream_variable
from edge.route_table import Route

UPSTREAMS = {
    "EDGE_UPSTREAM_CATALOG": "http://127.0.0.1:8081",
    "EDGE_UPSTREAM_CART": "http://127.0.0.1:8082",
    "EDGE_UPSTREAM_ORDERS": "http://127.0.0.1:8083",
    "EDGE_UPSTREAM_UI": "https://ui.internal:8443/",
}


def without(name: str) -> dict[str, str]:
    return {key: value for key, value in UPSTREAMS.items() if key != name}


def test_every_service_of_the_table_gets_its_upstream_and_the_timeouts_their_defaults() -> None:
    settings = EdgeSettings.from_env(UPSTREAMS)
    assert settings.upstreams == {
        "catalog": "http://127.0.0.1:8081",
        "cart": "http://127.0.0.1:8082",
        "orders": "http://127.0.0.1:8083",
        "ui": "https://ui.internal:8443",
    }
    assert settings.connect_timeout == 1.0
    assert settings.read_timeout == 30.0
    assert settings.service.max_body_bytes == 64 * 1024


def test_the_timeouts_are_read_in_seconds() -> None:
    settings = EdgeSettings.from_env(
        {**UPSTREAMS, "EDGE_CONNECT_TIMEOUT": "0.5", "EDGE_READ_TIMEOUT": "120"}
    )
    assert (settings.connect_timeout, settings.read_timeout) == (0.5, 120.0)


def test_a_missing_upstream_stops_start_up_naming_its_variable() -> None:
    message = config_error(lambda: create_app(without("EDGE_UPSTREAM_CATALOG")))
    assert message == "EDGE_UPSTREAM_CATALOG is required but not set"


def test_an_empty_upstream_counts_as_missing() -> None:
    message = config_error(lambda: EdgeSettings.from_env({**UPSTREAMS, "EDGE_UPSTREAM_UI": ""}))
    assert message == "EDGE_UPSTREAM_UI is required but not set"


@pytest.mark.parametrize(
    "url",
    ["127.0.0.1:8081", "ftp://127.0.0.1:8081", "http://", "http://127.0.0.1:99999"],
)
def test_an_upstream_that_is_not_an_http_url_is_refused(url: str) -> None:
    message = config_error(lambda: EdgeSettings.from_env({**UPSTREAMS, "EDGE_UPSTREAM_CART": url}))
    assert message.startswith("EDGE_UPSTREAM_CART=")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8081/api/catalog",
        "http://127.0.0.1:8081/?debug=1",
        "http://user:hunter2-password@127.0.0.1:8081",
    ],
)
def test_an_upstream_with_more_than_scheme_host_and_port_is_refused(url: str) -> None:
    message = config_error(
        lambda: EdgeSettings.from_env({**UPSTREAMS, "EDGE_UPSTREAM_CATALOG": url})
    )
    assert message.startswith("EDGE_UPSTREAM_CATALOG is malformed")
    assert "hunter2" not in message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("EDGE_CONNECT_TIMEOUT", "soon"),
        ("EDGE_CONNECT_TIMEOUT", "0"),
        ("EDGE_READ_TIMEOUT", "-1"),
        ("EDGE_READ_TIMEOUT", "inf"),
    ],
)
def test_a_malformed_timeout_is_refused_naming_its_variable(name: str, value: str) -> None:
    message = config_error(lambda: EdgeSettings.from_env({**UPSTREAMS, name: value}))
    assert message.startswith(f"{name}=")


def test_a_service_name_with_a_dash_has_an_underscore_in_its_variable() -> None:
    assert upstream_variable("gift-cards") == "EDGE_UPSTREAM_GIFT_CARDS"
    routes = [Route("/api/gift-cards/", "gift-cards"), Route("/", "ui")]
    environ = {"EDGE_UPSTREAM_GIFT_CARDS": "http://127.0.0.1:9000", **UPSTREAMS}
    settings = EdgeSettings.from_env(environ, routes)
    assert settings.upstreams == {
        "gift-cards": "http://127.0.0.1:9000",
        "ui": "https://ui.internal:8443",
    }
    message = config_error(lambda: EdgeSettings.from_env(UPSTREAMS, routes))
    assert message == "EDGE_UPSTREAM_GIFT_CARDS is required but not set"
