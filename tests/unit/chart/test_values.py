"""Values that are wrong fail the install with a message that names what to set; the schema
knows every key of values.yaml and no other; the README's table is values.yaml's."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from tests.unit.chart.conftest import (
    CHART,
    ROOT,
    SECRETS,
    SETUPS,
    SIGN_IN,
    SUBNETS,
    template,
    template_error,
)

VALUES_TABLE = ROOT / "tests" / "unit" / "chart" / "values_table.py"


def test_a_misspelt_key_fails_the_install(helm: Path) -> None:
    message = template_error(helm, *SETUPS["kind"], "--set=catalog.replicaCont=2")
    assert "/catalog" in message
    assert "'replicaCont' not allowed" in message


def test_a_value_of_the_wrong_shape_fails_the_install(helm: Path) -> None:
    message = template_error(helm, *SETUPS["kind"], "--set=settings.logLevel=LOUD")
    assert "/settings/logLevel" in message
    message = template_error(helm, *SETUPS["kind"], "--set=redis.url=http://redis:6379")
    assert "/redis/url" in message


def test_without_a_source_for_a_secret_the_install_names_the_values_to_set(helm: Path) -> None:
    message = template_error(helm, "--set=redis.url=redis://redis:6379/0")
    assert "secrets.catalogAdminToken" in message
    assert "existingSecret" in message
    assert "secrets.create=true" in message


def test_create_without_the_value_fails_and_says_how_to_give_it(helm: Path) -> None:
    message = template_error(helm, "-f", str(CHART / "values-kind.yaml"), *SECRETS[1:])
    assert "secrets.catalogAdminToken.value is required with secrets.create=true" in message
    assert "--set-string secrets.catalogAdminToken.value=" in message


def test_a_short_secret_fails_like_the_service_would(helm: Path) -> None:
    short = "--set-string=secrets.catalogAdminToken.value=too-short"
    message = template_error(helm, *SETUPS["kind"], short)
    assert "secrets.catalogAdminToken.value is too short" in message


def test_secrets_are_never_in_the_values_files() -> None:
    for path in CHART.glob("values*.yaml"):
        values = yaml.safe_load(path.read_text())
        for name, entry in values.get("secrets", {}).items():
            if isinstance(entry, dict):
                assert not entry.get("value"), f"{path.name}: secrets.{name}.value"


def test_an_existing_secret_needs_no_value_and_no_secret_is_made(helm: Path) -> None:
    rendered = template(helm, *SETUPS["eks"])
    assert rendered.of_kind("Secret") == []


def test_without_redis_or_local_stand_ins_the_install_asks_for_redis_url(helm: Path) -> None:
    message = template_error(helm, *SETUPS["eks"], "--set=redis.url=")
    assert "redis.url is required without local.enabled" in message


def test_an_extra_variable_may_not_replace_one_the_chart_sets(helm: Path) -> None:
    message = template_error(helm, *SETUPS["kind"], "--set=cart.env.CART_CATALOG_URL=http://x")
    assert "cart.env.CART_CATALOG_URL: the chart sets CART_CATALOG_URL itself" in message
    message = template_error(helm, *SETUPS["kind"], "--set=catalog.env.CATALOG_ADMIN_TOKEN=x")
    assert "catalog.env.CATALOG_ADMIN_TOKEN" in message


def test_a_shutdown_delay_past_the_graceful_timeout_fails(helm: Path) -> None:
    message = template_error(
        helm,
        *SETUPS["kind"],
        "--set=settings.shutdownDelaySeconds=20,settings.gracefulTimeoutSeconds=20",
    )
    assert "settings.shutdownDelaySeconds (20) must be below" in message


def test_sign_in_is_required_where_no_development_issuer_runs(helm: Path) -> None:
    message = template_error(helm, *SETUPS["kind"], "--set=local.oidcIssuer.enabled=false")
    assert "orders.oidc.issuer is required" in message
    message = template_error(
        helm, *SETUPS["kind"], "--set=local.oidcIssuer.publicUrl=http://localhost:8086/"
    )
    assert "local.oidcIssuer.publicUrl" in message.replace("/", ".")


# The schema against values.yaml.


def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((CHART / "values.schema.json").read_text())
    return loaded


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        resolved: dict[str, Any] = schema()["definitions"][node["$ref"].rsplit("/", 1)[1]]
        return resolved
    return node


def schema_paths(node: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every property of the schema with its path, e.g. ("catalog.image.tag", {...})."""
    node = resolve(node)
    for key, child in node.get("properties", {}).items():
        path = f"{prefix}{key}"
        yield path, resolve(child)
        yield from schema_paths(child, path + ".")


def value_paths(values: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(values, dict):
        for key, child in values.items():
            yield f"{prefix}{key}"
            yield from value_paths(child, f"{prefix}{key}.")


# Maps whose keys are the user's (labels, annotations, variables) or Kubernetes' own objects.
FREE_FORM = ("annotations", "podAnnotations", "podLabels", "nodeSelector", "labels", "env")
KUBERNETES_OBJECTS = ("affinity", "global")


def test_every_object_of_the_schema_refuses_unknown_keys() -> None:
    for path, node in schema_paths(schema()):
        last = path.rsplit(".", 1)[-1]
        if node.get("type") == "object" and last not in FREE_FORM + KUBERNETES_OBJECTS:
            assert node.get("additionalProperties") is False, path
    assert schema()["additionalProperties"] is False


def test_the_schema_describes_exactly_the_keys_of_values_yaml() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    in_values = set(value_paths(values))
    in_schema = {path for path, _ in schema_paths(schema())} - {"global"}
    # A probe's and a resource list's other Kubernetes fields may be set; values.yaml shows some.
    kubernetes_fields = re.compile(r".*\.(probes\.[a-z]+|resources\.(requests|limits))\.[^.]+")
    assert {p for p in in_schema if not kubernetes_fields.fullmatch(p)} <= in_values
    assert in_values <= in_schema


def test_every_values_file_is_valid(helm: Path) -> None:
    for path in CHART.glob("values-*.yaml"):
        # -f loads the file; a key the schema does not know fails here.
        args = [
            *SECRETS,
            *SIGN_IN,
            "--set=redis.url=rediss://r:6379/0",
            f"--set=aws.elasticache.subnetIds={SUBNETS}",
        ]
        template(helm, "-f", str(path), *args)


# The README's parameter table.


def run_values_table(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(VALUES_TABLE), *args], capture_output=True, text=True, check=False
    )


def test_the_readme_table_is_made_from_values_yaml() -> None:
    done = run_values_table()
    assert done.returncode == 0, done.stderr


def test_the_table_check_fails_on_a_key_without_a_comment(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text((CHART / "README.md").read_text())
    values = (CHART / "values.yaml").read_text()
    (tmp_path / "values.yaml").write_text(values + "\nundocumented: true\n")
    done = run_values_table("--chart", str(tmp_path))
    assert done.returncode == 1
    assert "undocumented has no comment" in done.stderr


def test_the_table_check_fails_on_a_stale_table(tmp_path: Path) -> None:
    readme = (CHART / "README.md").read_text()
    (tmp_path / "README.md").write_text(
        readme.replace("`catalog.replicaCount` | `2`", "`catalog.replicaCount` | `3`")
    )
    (tmp_path / "values.yaml").write_text((CHART / "values.yaml").read_text())
    done = run_values_table("--chart", str(tmp_path))
    assert done.returncode == 1
    assert "stale" in done.stderr
