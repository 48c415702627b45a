"""Coverage counts the code that runs only in gunicorn's workers (make coverage).

gunicorn loads the app in its master and forks the workers, which serve every request; a
worker's lines count only if the worker, stopped with SIGTERM as the stack stops it, saves a
data file of its own. The service runs with the environment coverage's `patch = subprocess`
gives every process the tests start, pointed at a data file of this test alone.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import coverage
import pytest
import requests
from tests.integration.conftest import start_gunicorn

from devstack.processes import Group
from emporium.health import Health

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_a_gunicorn_worker_s_lines_count_in_a_data_file_of_its_own(tmp_path: Path) -> None:
    data_file = tmp_path / ".coverage"
    config = coverage.Coverage(
        data_file=str(data_file), config_file=str(ROOT / "pyproject.toml")
    ).config
    env = {name: value for name, value in os.environ.items() if not name.startswith("COVERAGE_")}
    env |= {"COVERAGE_PROCESS_CONFIG": config.serialize(), "WEB_CONCURRENCY": "2"}
    with Group() as group:
        served = start_gunicorn(group, "slow", "tests.integration.slow_app:create_app()", env)
        for _ in range(4):
            assert requests.get(served.url + "/healthz", timeout=10).status_code == 200
        master = served.child.pid
        assert served.child.stop() == 0

    # The line of /healthz's answer, which only a worker runs.
    lines, first = inspect.getsourcelines(Health.healthz)
    answer = first + next(n for n, line in enumerate(lines) if "return" in line)
    health = str(ROOT / "services" / "emporium" / "health.py")
    runs: dict[str, set[int]] = {}
    for path in tmp_path.glob(".coverage.*"):
        data = coverage.CoverageData(str(path))
        data.read()
        runs[path.name] = set(data.lines(health) or ())
    masters = [name for name in runs if f".pid{master}." in name]
    workers = [name for name in runs if name not in masters]
    assert len(masters) == 1, sorted(runs)
    assert len(workers) == 2, sorted(runs)  # each worker saved its own on SIGTERM
    assert answer not in runs[masters[0]]
    assert any(answer in runs[name] for name in workers), {
        name: sorted(runs[name]) for name in runs
    }
