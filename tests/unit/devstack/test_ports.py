"""The laptop stack's ports: each service's own and its metrics port, 1000 above it."""

from __future__ import annotations

import pytest

from devstack.stack import SERVICES, Ports
from emporium.config import ConfigError


def test_defaults_put_each_metrics_port_1000_above_its_service() -> None:
    ports = Ports.from_env({})
    assert ports.services["catalog"] == 8081
    assert ports.metrics["catalog"] == 9081
    assert ports.metrics["edge"] == 9080
    assert ports.metrics_url("catalog") == "http://127.0.0.1:9081/metrics"


def test_a_moved_service_takes_its_metrics_port_along_unless_that_is_set_too() -> None:
    ports = Ports.from_env({"CATALOG_PORT": "9081"})
    assert ports.services["catalog"] == 9081
    assert ports.metrics["catalog"] == 10081  # never the same port as the service
    moved = Ports.from_env({"CATALOG_PORT": "7081", "CATALOG_METRICS_PORT": "7181"})
    assert moved.metrics["catalog"] == 7181


def test_every_port_is_named_by_a_variable_that_sets_it() -> None:
    ports = Ports.free()
    named = dict(ports.named())
    again = Ports.from_env({name: str(port) for name, port in named.items()})
    assert again == ports
    assert {s.metrics_variable for s in SERVICES} <= named.keys()
    assert "CATALOG_METRICS_PORT" in named


def test_a_bad_metrics_port_is_a_one_line_error_naming_it() -> None:
    with pytest.raises(ConfigError, match="CATALOG_METRICS_PORT"):
        Ports.from_env({"CATALOG_METRICS_PORT": "70000"})
