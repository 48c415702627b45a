"""Child processes for the local stack and the tests: started in their own process group,
their output kept (and echoed with a name prefix when asked), stopped in reverse order.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import TextIO

# How long the reader of a child's output waits after a read, for more lines to gather.
ECHO_INTERVAL = 0.02


class StartupError(RuntimeError):
    """A process exited or did not become ready; the message carries its last output."""


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    # If the launcher is killed outright (SIGKILL), the kernel stops its children too.
    if sys.platform.startswith("linux"):
        import ctypes  # noqa: PLC0415

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Child:
    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        *,
        echo: bool,
        log_path: str | None = None,
        echo_to: TextIO | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.tail: deque[str] = deque(maxlen=40)
        self.echo = echo
        self.echo_to = echo_to  # None: the launcher's stdout at the time of each write
        self._lock = threading.Lock()
        # Output goes to a file when asked (a benchmark must not pay for reading it), else a pipe.
        self.log_path = log_path
        self._log = open(log_path, "w") if log_path else None  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(  # noqa: S603 - our own commands
            self.argv,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=self._log or subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the launcher, which stops children in order
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - a single-threaded moment at start
        )
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        """Read the child's output in batches, whatever has arrived at once, at most every
        ECHO_INTERVAL: a busy service writes thousands of lines a second, and one wake-up, one
        read, one write and one flush for all the lines that are waiting cost the launcher far
        less than one each per line (a launcher that falls behind fills the pipe, and then the
        service waits on its log writes)."""
        if self.popen.stdout is None:
            return
        fd, pending = self.popen.stdout.fileno(), b""
        while True:
            try:
                chunk = os.read(fd, 1 << 16)
            except (OSError, ValueError):  # closed by stop()
                break
            if not chunk:
                break
            *lines, pending = (pending + chunk).split(b"\n")
            if lines:
                self._take(lines)
            # Let the lines gather: a few dozen wake-ups a second however fast the child
            # writes (the pipe holds 64 KiB, many times what a service writes meanwhile).
            time.sleep(ECHO_INTERVAL)
        if pending:
            self._take([pending])

    def _take(self, raw: list[bytes]) -> None:
        lines = [line.decode(errors="replace").rstrip() for line in raw]
        with self._lock:
            self.tail.extend(lines)
            if self.echo:
                self._write(lines)

    def _write(self, lines: Iterable[str]) -> None:
        out = self.echo_to or sys.stdout
        prefix = f"{self.name:<12}| "
        out.write("".join(f"{prefix}{line}\n" for line in lines))
        out.flush()

    def follow(self) -> None:
        """Echo the output kept so far, then every new line, prefixed with the name."""
        with self._lock:
            self._write(self.tail)
            self.echo = True

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        if self.log_path:
            with open(self.log_path) as log:
                return "".join(deque(log, maxlen=40))
        return "\n".join(self.tail)

    def signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signum)

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, then SIGKILL after `timeout` seconds; returns the exit code."""
        if self.running():
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.popen.wait()
        # Anything the child left behind in its process group goes too.
        self.signal(signal.SIGKILL)
        self._reader.join(timeout=2)
        for stream in (self.popen.stdout, self._log):
            if stream is not None:
                stream.close()
        return self.popen.returncode

    def wait_until(self, ready: Callable[[], bool], what: str, timeout: float = 30.0) -> float:
        """Poll `ready` until true; returns the seconds it took. Fails if the child exits."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if not self.running():
                raise StartupError(
                    f"{self.name} exited with code {self.popen.returncode} before {what}:\n"
                    f"$ {' '.join(self.argv)}\n{self.output()}"
                )
            if ready():
                return time.monotonic() - started
            time.sleep(0.05)
        raise StartupError(
            f"{self.name} was not {what} after {timeout:.0f} s:\n"
            f"$ {' '.join(self.argv)}\n{self.output()}"
        )


class Group:
    """Children started together and stopped together, last started first."""

    def __init__(self, *, echo: bool = False, echo_to: TextIO | None = None) -> None:
        self.echo = echo
        self.echo_to = echo_to
        self.children: list[Child] = []

    def start(
        self, name: str, argv: Sequence[str], env: Mapping[str, str], log_path: str | None = None
    ) -> Child:
        child = Child(name, argv, env, echo=self.echo, log_path=log_path, echo_to=self.echo_to)
        self.children.append(child)
        return child

    def stop(self) -> None:
        for child in reversed(self.children):
            child.stop()
        self.children.clear()

    def __enter__(self) -> Group:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def http_status(url: str, timeout: float = 1.0) -> int | None:
    """The HTTP status `url` answers with, or None if nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - local URLs
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, OSError):
        return None
