"""checkov over what the store ships: the chart's rendered manifests (each values file) and the
Dockerfiles. Every check passes but the skips that the chart README's "checkov" table lists with
their reasons; a listed skip that no longer fails anywhere is stale and fails the test too.

checkov is the one `charts/install-checkov` installs into the cache (`make chart-tools`), or
$EMPORIUM_CHECKOV."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.unit.chart.conftest import (
    CHART,
    NAMESPACE,
    RELEASE,
    ROOT,
    SETUPS,
    run_helm,
    tools_dir,
    unavailable,
)

README = CHART / "README.md"
INSTALL = ROOT / "charts" / "install-checkov"
REQUIREMENTS = ROOT / "charts" / "checkov-requirements.txt"
RELEASES = ("kind", "eks", "eks-with-api-gateway", "kind-with-the-load-job")


@dataclass(frozen=True)
class Skip:
    check: str
    where: str

    @property
    def by_command_line(self) -> bool:
        return "(command line)" in self.where


def listed_skips() -> list[Skip]:
    """The rows of the README's checkov table: `CKV_...` ids, where, why."""
    text = README.read_text()
    section = text[text.index("## checkov") :]
    section = section[: section.index("\n## ", 1)]
    skips = []
    for row in section.splitlines():
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        if row.startswith("| `CKV_") and len(cells) == 3:
            assert cells[2], f"a skip without its reason: {row}"
            skips += [Skip(check, cells[1]) for check in re.findall(r"`(CKV_\w+)`", cells[0])]
    return skips


@pytest.fixture(scope="session")
def checkov() -> Path:
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:12]
    default = tools_dir() / f"checkov-{digest}" / "bin" / "checkov"
    path = Path(os.environ.get("EMPORIUM_CHECKOV") or default)
    if not os.access(path, os.X_OK):
        unavailable(f"checkov is not at {path}: install it with {INSTALL}, or make chart-tools")
    return path


def reports(checkov: Path, framework: str, *target: str) -> Iterator[dict[str, Any]]:
    done = subprocess.run(
        # --skip-download: no guidelines fetched from the vendor's service; the checks are local.
        [str(checkov), *target, "--framework", framework, "--output", "json", "--skip-download"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr  # 1: some check failed
    loaded = json.loads(done.stdout)
    for report in loaded if isinstance(loaded, list) else [loaded]:
        assert report["summary"]["parsing_errors"] == 0, report["summary"]
        assert report["summary"]["resource_count"] > 0, report["summary"]
        yield report


def outcomes(report: dict[str, Any], kind: str) -> set[tuple[str, str]]:
    """(check id, resource) of the report's failed or skipped checks."""
    return {(c["check_id"], c["resource"]) for c in report["results"].get(kind, [])}


@pytest.fixture(scope="module")
def results(helm: Path, checkov: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every report: one per release setup, and the Dockerfiles'."""
    found = {}
    for setup in RELEASES:
        rendered = tmp_path_factory.mktemp(setup) / "release.yaml"
        done = run_helm(
            helm, "template", RELEASE, str(CHART), "--namespace", NAMESPACE, *SETUPS[setup]
        )
        assert done.returncode == 0, done.stderr
        rendered.write_text(done.stdout)
        (found[setup],) = reports(checkov, "kubernetes", "--file", str(rendered))
    (found["dockerfiles"],) = reports(checkov, "dockerfile", "--directory", str(ROOT / "docker"))
    return found


def test_the_readme_lists_a_reason_for_each_skip() -> None:
    skips = listed_skips()
    assert {s.check for s in skips if s.by_command_line} >= {"CKV_K8S_15", "CKV_DOCKER_2"}
    assert len({s.check for s in skips}) == len(skips), "a check listed twice"


def test_nothing_fails_but_the_listed_skips(results: dict[str, Any]) -> None:
    allowed = {s.check for s in listed_skips() if s.by_command_line}
    for name, report in results.items():
        unexpected = {(c, r) for c, r in outcomes(report, "failed_checks") if c not in allowed}
        assert not unexpected, f"{name}: checkov fails {sorted(unexpected)}"


def test_every_listed_skip_is_still_needed(results: dict[str, Any]) -> None:
    failed = {c for report in results.values() for c, _ in outcomes(report, "failed_checks")}
    skipped = {c for report in results.values() for c, _ in outcomes(report, "skipped_checks")}
    for skip in listed_skips():
        seen = failed if skip.by_command_line else skipped
        assert skip.check in seen, f"{skip.check} ({skip.where}) is listed but never {seen}"
