"""Every curl line of the README's "Calling the API" works as written against `make run`."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.conftest import make_run, require_binary

from devstack.stack import Ports

pytestmark = pytest.mark.integration

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_commands(section: str) -> list[str]:
    """The shell commands in the ```sh blocks of a README section, continuations joined."""
    text = README.read_text()
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", body, flags=re.DOTALL):
        for command in block.replace("\\\n", " ").splitlines():
            if command.strip() and not command.lstrip().startswith("#"):
                commands.append(command.strip())
    return commands


@pytest.fixture(scope="module")
def store() -> Iterator[str]:
    """`make run`'s stack on free ports; yields its entry point."""
    require_binary("redis-server", "the README's stack uses it when installed")
    ports = {name: str(port) for name, port in Ports.free().named()}
    env = {**os.environ, **ports}
    env.pop("CATALOG_ADMIN_TOKEN", None)  # the README uses the printed local token
    with make_run(env):
        yield f"http://127.0.0.1:{ports['EDGE_PORT']}"


def run(command: str, entry_point: str) -> str:
    command = command.replace("http://localhost:8080", entry_point)
    done = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, f"$ {command}\n{done.stderr}"
    return done.stdout


def body_of(output: str) -> dict[str, object]:
    document: dict[str, object] = json.loads(output.split("\n\n", 1)[-1])
    return document


def test_the_readme_shows_the_api_calls() -> None:
    commands = readme_commands("Calling the API")
    assert len(commands) >= 8
    assert all(command.startswith("curl ") for command in commands)


def test_every_readme_call_works_as_written(store: str) -> None:
    commands = readme_commands("Calling the API")
    outputs = [run(command, store) for command in commands]
    for command, output in zip(commands, outputs, strict=True):
        document = body_of(output)
        if "limit=500" in command:
            assert document["status"] == 422, output
        else:
            assert "status" not in document or document["status"] in (200, 201), (command, output)
    assert body_of(outputs[0])["nextCursor"]
    assert body_of(outputs[3])["id"] == "cast-iron-skillet"
    assert 'ETag: "1"' in outputs[3]

    put = next(command for command in commands if "-X PUT" in command)
    assert body_of(run(put, store))["status"] == 412  # "Run the PUT twice to see it"


def readme_script(section: str) -> str:
    """The first ```sh block of a README section, as one script."""
    body = README.read_text().split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", body, flags=re.DOTALL)[0]


def test_the_curl_journey_places_an_order_that_ships(store: str) -> None:
    script = readme_script("Shopping with curl").replace("http://localhost:8080", store)
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    order = json.loads(done.stdout.strip().splitlines()[-1])
    assert order["status"] == "SHIPPED"
    assert [item["productId"] for item in order["items"]] == [
        "cast-iron-skillet",
        "linen-tea-towels",
    ]
