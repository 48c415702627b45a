"""skaffold.yaml: valid for its apiVersion, and in step with the images of docker/build-images
and the chart's values (an image skaffold builds but the release never uses, or the reverse,
fails here)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from tests.unit.chart.conftest import CHART, ROOT
from tests.unit.deploy.conftest import load_schema

from deploy.config import NAMESPACE, RELEASE

SKAFFOLD = ROOT / "skaffold.yaml"


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(SKAFFOLD.read_text())
    return loaded


def built_images() -> dict[str, tuple[str, str | None]]:
    """What `make images` builds: name -> (Dockerfile, target), read from docker/build-images."""
    script = (ROOT / "docker" / "build-images").read_text()
    services = re.search(r"^SERVICES=\(([^)]*)\)", script, re.MULTILINE)
    assert services, "docker/build-images no longer lists SERVICES=(...)"
    images: dict[str, tuple[str, str | None]] = {
        name: ("docker/Dockerfile", name) for name in services[1].split()
    }
    for name, dockerfile in re.findall(r'builds\+=\("([\w-]+) (docker/\S+) - ', script):
        images[name] = (dockerfile, None)
    return images


def release(config: dict[str, Any]) -> dict[str, Any]:
    releases = config["deploy"]["helm"]["releases"]
    assert len(releases) == 1
    found: dict[str, Any] = releases[0]
    return found


def profile(config: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in config["profiles"] if p["name"] == name)


def test_valid_against_the_schema_of_its_api_version(config: dict[str, Any]) -> None:
    assert config["apiVersion"] == "skaffold/v4beta13"
    schema = load_schema("skaffold/v4beta13.json")
    jsonschema.Draft7Validator(schema).validate(config)


def test_the_schema_refuses_a_misspelt_field(config: dict[str, Any]) -> None:
    schema = load_schema("skaffold/v4beta13.json")
    broken = {**config, "portForwards": config["portForward"]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schema).validate(broken)


def test_one_artifact_per_image_of_make_images(config: dict[str, Any]) -> None:
    artifacts = {a["image"]: a["docker"] for a in config["build"]["artifacts"]}
    images = built_images()
    assert set(artifacts) == {f"emporium/{name}" for name in images}
    for name, (dockerfile, target) in images.items():
        docker = artifacts[f"emporium/{name}"]
        assert docker["dockerfile"] == dockerfile, name
        assert docker.get("target") == target, name
        # The bases as build arguments, as docker/build-images passes them.
        assert "BASE_IMAGE" in docker["buildArgs"], name


def test_every_image_reaches_the_release_by_repository_and_tag(config: dict[str, Any]) -> None:
    templates = release(config)["setValueTemplates"]
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for artifact in config["build"]["artifacts"]:
        key = re.sub(r"[/.:-]", "_", artifact["image"])  # as skaffold names its variables
        given = {path for path, value in templates.items() if re.search(rf"_{key}\b", str(value))}
        assert len(given) == 2, f"{artifact['image']}: {given}"
        for path in given:
            *block, field = path.split(".")
            node = values
            for part in block:
                node = node[part]
            assert field in node, f"{path} is not a value of the chart"
            assert str(templates[path]) == (
                f"{{{{.IMAGE_{'REPO' if field == 'repository' else 'TAG'}_{key}}}}}"
            )


def test_the_release_is_the_one_make_deploy_and_the_makefile_name(config: dict[str, Any]) -> None:
    found = release(config)
    assert (found["name"], found["namespace"]) == (RELEASE, NAMESPACE)
    assert found["chartPath"] == "charts/emporium"
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(rf"^RELEASE := {RELEASE}$", makefile, re.MULTILINE)
    assert re.search(rf"^NAMESPACE \?= {NAMESPACE}$", makefile, re.MULTILINE)


def test_the_kind_profile(config: dict[str, Any]) -> None:
    kind = profile(config, "kind")
    assert kind["activation"] == [{"kubeContext": "kind-.*"}]
    assert kind["build"]["local"]["push"] is False
    patched = {p["path"]: p["value"] for p in kind["patches"]}
    assert patched["/deploy/helm/releases/0/valuesFiles"] == ["charts/emporium/values-kind.yaml"]
    kind_values = yaml.safe_load((CHART / "values-kind.yaml").read_text())
    assert kind_values["local"]["enabled"] is True  # the stand-ins
    assert kind_values["secrets"]["create"] is True  # from the values the profile gives


def test_the_eks_profile(config: dict[str, Any]) -> None:
    eks = profile(config, "eks")
    assert eks["build"]["local"]["push"] is True
    patched = {p["path"]: p["value"] for p in eks["patches"]}
    assert "charts/emporium/values-eks.yaml" in patched["/deploy/helm/releases/0/valuesFiles"]


def test_port_forwards_the_entry_point_and_each_service(config: dict[str, Any]) -> None:
    forwarded = {f["resourceName"] for f in config["portForward"]}
    services = {"edge", "catalog", "cart", "orders", "fulfillment", "ui", "oidc-issuer"}
    assert forwarded == {f"{RELEASE}-{s}" for s in services}
    assert len({f["localPort"] for f in config["portForward"]}) == len(forwarded)
    assert {f["namespace"] for f in config["portForward"]} == {NAMESPACE}
    # The browser signs in at the development issuer's publicUrl: the tokens carry that address.
    issuer = next(f for f in config["portForward"] if f["resourceName"].endswith("oidc-issuer"))
    public_url = yaml.safe_load((CHART / "values.yaml").read_text())["local"]["oidcIssuer"][
        "publicUrl"
    ]
    assert public_url == f"http://localhost:{issuer['localPort']}"


def test_the_uis_static_files_are_synced(config: dict[str, Any]) -> None:
    ui = next(a for a in config["build"]["artifacts"] if a["image"] == "emporium/ui")
    (rule,) = ui["sync"]["manual"]
    assert rule["src"] == "services/ui/static/**"
    assert rule["strip"] == "services/ui/static/"
    assert Path(ROOT / "services/ui/static/index.html").is_file()
    # The pods' root is read-only: the files land in /tmp, where kind's ui serves them from.
    assert rule["dest"].startswith("/tmp/")  # noqa: S108 - the pod's emptyDir
    patched = {p["path"]: p["value"] for p in profile(config, "kind")["patches"]}
    assert patched["/deploy/helm/releases/0/setValues"] == {"ui.env.UI_STATIC_DIR": rule["dest"]}
