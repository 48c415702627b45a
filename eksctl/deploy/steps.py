"""What every command prints: its steps, the commands it runs, and the one line of a failure."""

from __future__ import annotations

import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence


class DeployError(Exception):
    """A failure said in one line (printed as `deploy: FAILED: <message>`, exit 1)."""


class Steps:
    """Numbered steps of one command: `deploy push: step 2/5: ...` on stderr."""

    def __init__(self, command: str, total: int) -> None:
        self.command = command
        self.total = total
        self.done = 0

    def step(self, what: str) -> None:
        self.done += 1
        say(f"{self.command}: step {self.done}/{self.total}: {what}")

    def note(self, what: str) -> None:
        say(f"{self.command}: {what}")


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def shown(argv: Sequence[str]) -> str:
    return shlex.join(argv)


def run(
    argv: Sequence[str],
    *,
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
    capture: bool = False,
) -> str:
    """Run a command, printed first; a failure raises DeployError naming it. With `capture`,
    its stdout is returned instead of shown. What goes to stdin (a password, a manifest with
    secrets) is never printed."""
    say(f"$ {shown(argv)}")
    try:
        done = subprocess.run(  # noqa: S603 - commands of our own, never through a shell
            list(argv),
            input=stdin,
            env=dict(env) if env is not None else None,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.PIPE if capture else None,
            text=True,
            check=False,
        )
    except FileNotFoundError as error:
        raise DeployError(
            f"{argv[0]} is not installed or not on PATH (running {shown(argv)})"
        ) from error
    if done.returncode != 0:
        detail = (
            f": {done.stderr.strip().splitlines()[-1]}" if capture and done.stderr.strip() else ""
        )
        raise DeployError(f"{shown(argv)} exited with {done.returncode}{detail}")
    return done.stdout if capture else ""
