"""Run the shopper journeys headless against a store and print what a reader checks.

    make load URL=http://localhost:8080 USERS=20 DURATION=60
    .venv/bin/python tests/load/run.py --url http://localhost:8080 --users 20 --duration 60

Runs locust (tests/load/locustfile.py) headless for DURATION seconds, then prints requests per
second, p50/p95/p99 by endpoint (locust's final statistics) and the error count, with each
error's message. Exits 1 on any error (or if locust itself fails), 0 otherwise. `--issuer`
adds the sign-in journey (the development issuer of `make run`, http://127.0.0.1:8086);
`--pace` sets each user's journeys per second (0: no pause, the most the store takes).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
LOCUSTFILE = HERE / "locustfile.py"


@dataclass
class Endpoint:
    method: str
    name: str
    requests: int
    failures: int
    rps: float
    p50: float
    p95: float
    p99: float


@dataclass
class Report:
    endpoints: list[Endpoint]
    total: Endpoint
    errors: list[str] = field(default_factory=list)
    exit_code: int = 0

    @property
    def error_count(self) -> int:
        return self.total.failures

    def table(self) -> str:
        head = (
            f"{'endpoint':<52} {'req':>7} {'err':>5} {'req/s':>8} {'p50':>7} {'p95':>7} {'p99':>7}"
        )
        lines = [head, "-" * len(head)]
        for row in [*self.endpoints, self.total]:
            label = f"{row.method} {row.name}".strip()
            lines.append(
                f"{label:<52} {row.requests:>7} {row.failures:>5} {row.rps:>8.1f}"
                f" {row.p50:>5.0f}ms {row.p95:>5.0f}ms {row.p99:>5.0f}ms"
            )
        return "\n".join(lines)


def percentile(histogram: dict[int, int], fraction: float) -> float:
    """The response time (ms) below which `fraction` of the requests fall (locust's buckets)."""
    total = sum(histogram.values())
    if not total:
        return 0.0
    seen = 0
    for milliseconds in sorted(histogram):
        seen += histogram[milliseconds]
        if seen >= fraction * total:
            return float(milliseconds)
    return float(max(histogram))


def _row(method: str, name: str, entries: list[dict[str, Any]], seconds: float) -> Endpoint:
    histogram: dict[int, int] = {}
    for entry in entries:
        for milliseconds, count in entry["response_times"].items():
            histogram[int(milliseconds)] = histogram.get(int(milliseconds), 0) + count
    requests = sum(entry["num_requests"] for entry in entries)
    return Endpoint(
        method=method,
        name=name,
        requests=requests,
        failures=sum(entry["num_failures"] for entry in entries),
        rps=requests / seconds if seconds > 0 else 0.0,
        p50=percentile(histogram, 0.50),
        p95=percentile(histogram, 0.95),
        p99=percentile(histogram, 0.99),
    )


def read_report(stats_file: Path, errors_file: Path, exit_code: int) -> Report:
    """The report of locust's final statistics (--json-file) and errors (LOAD_ERRORS_FILE)."""
    entries: list[dict[str, Any]] = json.loads(stats_file.read_text())
    starts = [entry["start_time"] for entry in entries if entry["num_requests"]]
    ends = [entry["last_request_timestamp"] for entry in entries if entry["num_requests"]]
    # From the first request to the last, as locust counts; at least a second.
    seconds = max(1.0, max(ends) - min(starts)) if starts else 1.0
    endpoints = [
        _row(entry["method"], entry["name"], [entry], seconds)
        for entry in sorted(entries, key=lambda entry: (entry["name"], entry["method"]))
    ]
    total = _row("", "all endpoints", entries, seconds)
    errors: list[str] = []
    if errors_file.exists():
        for line in errors_file.read_text().splitlines():
            occurrences, method, name, error = json.loads(line)
            errors.append(f"{occurrences} {method} {name}: {error}")
    return Report(endpoints, total, errors, exit_code)


def run(
    url: str,
    users: int,
    duration: int,
    *,
    spawn_rate: float | None = None,
    issuer: str = "",
    pace: float | None = None,
    until_seen: tuple[str, ...] = (),
    quiet: bool = False,
) -> Report:
    """Locust headless against `url`; the report of its statistics."""
    env = {**os.environ, "LOAD_ISSUER": issuer}
    env.pop("LOAD_PACE", None)
    env["LOAD_UNTIL_SEEN"] = "\n".join(until_seen)
    if pace is not None:
        env["LOAD_PACE"] = str(pace)
    with tempfile.TemporaryDirectory(prefix="emporium-load-") as scratch:
        prefix = Path(scratch) / "load"
        errors_file = Path(scratch) / "errors.jsonl"
        env["LOAD_ERRORS_FILE"] = str(errors_file)
        command = [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(LOCUSTFILE),
            "--headless",
            "--host",
            url.rstrip("/"),
            "--users",
            str(users),
            "--spawn-rate",
            str(spawn_rate or max(1.0, users / 5)),
            "--run-time",
            f"{duration}s",
            "--stop-timeout",
            "10",
            "--json-file",
            str(prefix),
            "--only-summary",
            "--loglevel",
            "WARNING",
        ]
        if not quiet:
            print("+", shlex.join(command), flush=True)
        # locust's own summary repeats ours; its output is shown only when something failed.
        log = Path(scratch) / "locust.log"
        with log.open("w") as output:
            finished = subprocess.run(
                command, env=env, check=False, stdout=output, stderr=subprocess.STDOUT
            )
        stats_file = Path(f"{prefix}.json")
        if not stats_file.exists():
            print(log.read_text(), file=sys.stderr)
            raise SystemExit(
                f"error: locust exited {finished.returncode} without statistics:"
                f" {shlex.join(command)}"
            )
        report = read_report(stats_file, errors_file, finished.returncode)
        if report.exit_code and not report.error_count:
            print(log.read_text()[-4000:], file=sys.stderr)
        return report


def print_report(report: Report) -> None:
    print(report.table())
    print(f"requests/s: {report.total.rps:.1f}   errors: {report.error_count}")
    for error in report.errors:
        count, message = error.split(maxsplit=1)
        print(f"  error x{count}: {message}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://localhost:8080", help="the store's edge")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--duration", type=int, default=60, help="seconds")
    parser.add_argument("--spawn-rate", type=float, default=None, help="users started per second")
    parser.add_argument("--issuer", default=os.environ.get("LOAD_ISSUER", ""))
    parser.add_argument("--pace", type=float, default=None, help="journeys/s per user")
    parser.add_argument(
        "--until-seen",
        action="append",
        default=[],
        metavar="'METHOD NAME'",
        help="stop once this endpoint has been called (repeatable; --duration is then a bound)",
    )
    args = parser.parse_args(argv)
    if args.users < 1:
        parser.error("--users must be at least 1")
    if args.duration < 1:
        parser.error("--duration must be at least 1 second")
    report = run(
        args.url,
        args.users,
        args.duration,
        spawn_rate=args.spawn_rate,
        issuer=args.issuer,
        pace=args.pace,
        until_seen=tuple(args.until_seen),
    )
    print_report(report)
    if report.error_count or report.exit_code:
        print(
            f"FAILED: {report.error_count} errors (locust exited {report.exit_code})",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
