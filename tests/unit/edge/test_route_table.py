"""The route table: the one URL layout, longest prefix first, and a table that refuses typos."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.route_table import Route, RouteTableError, load_routes, route_for
from emporium.config import ConfigError


def test_the_table_is_the_url_layout_of_the_design() -> None:
    assert load_routes() == [
        Route("/api/catalog/", "catalog"),
        Route("/api/cart/", "cart"),
        Route("/api/orders/", "orders"),
        Route("/", "ui"),
    ]


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/api/catalog/products", "catalog"),
        ("/api/catalog/products/cast-iron-skillet", "catalog"),
        ("/api/catalog/", "catalog"),
        ("/api/catalog", "catalog"),
        ("/api/cart/c-1/items", "cart"),
        ("/api/cart", "cart"),
        ("/api/orders/o-1", "orders"),
        ("/api/orders", "orders"),
        ("/", "ui"),
        ("/index.html", "ui"),
        ("/static/app.js", "ui"),
        ("/api/catalogue", "ui"),  # a prefix matches whole path segments only
        ("/api/", "ui"),
        ("/api", "ui"),
    ],
)
def test_a_path_goes_to_the_service_of_its_longest_matching_prefix(path: str, service: str) -> None:
    assert route_for(path).service == service


def test_the_longest_prefix_wins_whatever_the_order_of_the_table() -> None:
    routes = [Route("/", "ui"), Route("/api/", "api"), Route("/api/catalog/", "catalog")]
    for table in (routes, routes[::-1]):
        assert route_for("/api/catalog/products", table).service == "catalog"
        assert route_for("/api/catalog", table).service == "catalog"
        assert route_for("/api/cart", table).service == "api"
        assert route_for("/cart", table).service == "ui"


def test_a_path_no_prefix_matches_is_a_lookup_error() -> None:
    with pytest.raises(LookupError, match="/elsewhere"):
        route_for("/elsewhere", [Route("/api/catalog/", "catalog")])


def test_every_public_service_has_a_route() -> None:
    services = {route.service for route in load_routes()}
    assert services == {"catalog", "cart", "orders", "ui"}
    for service in services - {"ui"}:
        assert route_for(f"/api/{service}/anything").prefix == f"/api/{service}/"


def test_a_valid_table_loads_from_a_file(tmp_path: Path) -> None:
    table = tmp_path / "routes.json"
    table.write_text(
        json.dumps(
            {
                "routes": [
                    {"prefix": "/api/gift-cards/", "service": "gift-cards"},
                    {"prefix": "/docs/v1.2/", "service": "ui"},
                    {"prefix": "/", "service": "ui"},
                ]
            }
        )
    )
    assert load_routes(table) == [
        Route("/api/gift-cards/", "gift-cards"),
        Route("/docs/v1.2/", "ui"),
        Route("/", "ui"),
    ]


@pytest.mark.parametrize(
    ("table", "named"),
    [
        ({"routes": [{"prefix": "api/catalog/", "service": "catalog"}]}, "routes[0].prefix"),
        ({"routes": [{"prefix": "/api/catalog", "service": "catalog"}]}, "routes[0].prefix"),
        ({"routes": [{"prefix": "", "service": "catalog"}]}, "routes[0].prefix"),
        ({"routes": [{"prefix": "/api//catalog/", "service": "catalog"}]}, "routes[0].prefix"),
        ({"routes": [{"prefix": "/api/*/", "service": "catalog"}]}, "routes[0].prefix"),
        ({"routes": [{"prefix": 7, "service": "catalog"}]}, "routes[0].prefix"),
        ({"routes": [{"prefix": "/", "service": "Catalog"}]}, "routes[0].service"),
        ({"routes": [{"prefix": "/", "service": "1catalog"}]}, "routes[0].service"),
        ({"routes": [{"prefix": "/", "service": "cata_log"}]}, "routes[0].service"),
        ({"routes": [{"prefix": "/", "service": ""}]}, "routes[0].service"),
        (
            {
                "routes": [
                    {"prefix": "/api/cart/", "service": "cart"},
                    {"prefix": "/api/cart/", "service": "orders"},
                ]
            },
            "routes[1].prefix='/api/cart/' appears more than once",
        ),
        ({"routes": [{"prefix": "/", "service": "ui", "strip": True}]}, "routes[0]"),
        ({"routes": [{"prefx": "/", "service": "ui"}]}, "routes[0]"),
        ({"routes": ["/"]}, "routes[0]"),
        ({"routes": []}, '"routes"'),
        ({"route": [{"prefix": "/", "service": "ui"}]}, '"routes"'),
        ([{"prefix": "/", "service": "ui"}], '"routes"'),
    ],
)
def test_a_malformed_table_is_refused_with_one_line_naming_the_entry(
    tmp_path: Path, table: object, named: str
) -> None:
    path = tmp_path / "routes.json"
    path.write_text(json.dumps(table))
    with pytest.raises(RouteTableError) as caught:
        load_routes(path)
    message = str(caught.value)
    assert message.startswith(str(path))
    assert named in message
    assert "\n" not in message


def test_a_table_that_is_not_json_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "routes.json"
    path.write_text('{"routes": [')
    with pytest.raises(RouteTableError, match="is not valid JSON"):
        load_routes(path)


def test_a_malformed_table_stops_start_up_like_a_bad_setting() -> None:
    assert issubclass(RouteTableError, ConfigError)
