"""One route table: the chart's copy is the edge's table, and the Ingress and the edge are made
from it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.unit.chart.conftest import CHART, ROOT, SETUPS, name, template

from edge.route_table import load_routes

EDGE_TABLE = ROOT / "services" / "edge" / "routes.json"
CHART_TABLE = CHART / "files" / "routes.json"


def test_the_charts_copy_is_the_edges_route_table() -> None:
    # Helm reads only files inside the chart; this keeps the copy and the source together.
    assert json.loads(CHART_TABLE.read_text()) == json.loads(EDGE_TABLE.read_text()), (
        f"copy {EDGE_TABLE.relative_to(ROOT)} to {CHART_TABLE.relative_to(ROOT)}"
    )
    assert load_routes(CHART_TABLE) == load_routes(EDGE_TABLE)  # and it is a valid table


def ingress_paths(release_objects: list[dict[str, object]]) -> list[tuple[str, str]]:
    (ingress,) = [o for o in release_objects if o["kind"] == "Ingress"]
    (rule,) = ingress["spec"]["rules"]  # type: ignore[index]
    return [(path["path"], path["backend"]["service"]["name"]) for path in rule["http"]["paths"]]


def test_the_ingress_has_one_path_per_route_longest_prefix_first(helm: Path) -> None:
    rendered = template(helm, *SETUPS["eks"])
    paths = ingress_paths(rendered.objects)
    routes = sorted(load_routes(EDGE_TABLE), key=lambda route: -len(route.prefix))
    assert paths == [(route.prefix, name(route.service)) for route in routes]
    (ingress,) = rendered.of_kind("Ingress")
    for path in ingress["spec"]["rules"][0]["http"]["paths"]:
        assert path["pathType"] == "Prefix"
        assert path["backend"]["service"]["port"] == {"name": "http"}
        assert rendered.has("Service", path["backend"]["service"]["name"])


def test_the_eks_ingress_is_an_internal_alb_with_ip_targets(helm: Path) -> None:
    (ingress,) = template(helm, *SETUPS["eks"]).of_kind("Ingress")
    annotations = ingress["metadata"]["annotations"]
    assert ingress["spec"]["ingressClassName"] == "alb"
    assert annotations["alb.ingress.kubernetes.io/target-type"] == "ip"
    assert annotations["alb.ingress.kubernetes.io/scheme"] == "internal"
    assert annotations["alb.ingress.kubernetes.io/healthcheck-path"] == "/readyz"
    assert annotations["alb.ingress.kubernetes.io/group.name"]


def test_a_new_route_reaches_the_ingress_and_the_edge(helm: Path, tmp_path: Path) -> None:
    chart = tmp_path / "emporium"
    shutil.copytree(CHART, chart)
    table = json.loads(CHART_TABLE.read_text())
    table["routes"].insert(0, {"prefix": "/api/catalog/admin/", "service": "catalog"})
    (chart / "files" / "routes.json").write_text(json.dumps(table))
    rendered = template(helm, *SETUPS["kind"], "--set=ingress.enabled=true", chart=chart)
    assert ingress_paths(rendered.objects)[0] == ("/api/catalog/admin/", name("catalog"))
