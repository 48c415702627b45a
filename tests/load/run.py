"""Run the shopper journeys headless against a store and print what a reader checks.

    make load URL=http://localhost:8080 USERS=20 DURATION=60
    .venv/bin/python tests/load/run.py --url http://localhost:8080 --users 20 --duration 60

Runs locust (tests/load/locustfile.py) headless for DURATION seconds, then prints requests per
second, p50/p95/p99 by endpoint and the error count, with each error's message. Exits 1 on
any error (or if locust itself fails), 0 otherwise. `--issuer` adds the sign-in journey (the
development issuer of `make run`, http://127.0.0.1:8086); `--pace` sets each user's journeys
per second (0: no pause, the most the store takes).
"""

from __future__ import annotations

import argparse
import csv
import os
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

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
    errors: list[tuple[str, str, str, int]] = field(default_factory=list)
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


def _number(value: str) -> float:
    return float(value) if value not in ("", "N/A") else 0.0


def read_report(prefix: Path, exit_code: int) -> Report:
    """The report of locust's --csv files (`<prefix>_stats.csv`, `<prefix>_failures.csv`)."""
    endpoints: list[Endpoint] = []
    total: Endpoint | None = None
    with open(f"{prefix}_stats.csv", newline="") as stats:
        for row in csv.DictReader(stats):
            endpoint = Endpoint(
                method=row["Type"],
                name=row["Name"],
                requests=int(row["Request Count"]),
                failures=int(row["Failure Count"]),
                rps=_number(row["Requests/s"]),
                p50=_number(row["50%"]),
                p95=_number(row["95%"]),
                p99=_number(row["99%"]),
            )
            if row["Name"] == "Aggregated":
                endpoint.method, endpoint.name = "", "all endpoints"
                total = endpoint
            else:
                endpoints.append(endpoint)
    if total is None:
        raise SystemExit(f"error: locust wrote no totals in {prefix}_stats.csv")
    errors: list[tuple[str, str, str, int]] = []
    with open(f"{prefix}_failures.csv", newline="") as failures:
        for row in csv.DictReader(failures):
            errors.append((row["Method"], row["Name"], row["Error"], int(row["Occurrences"])))
    return Report(endpoints, total, errors, exit_code)


def run(
    url: str,
    users: int,
    duration: int,
    *,
    spawn_rate: float | None = None,
    issuer: str = "",
    pace: float | None = None,
    quiet: bool = False,
) -> Report:
    """Locust headless against `url`; the report of its statistics."""
    env = {**os.environ, "LOAD_ISSUER": issuer}
    env.pop("LOAD_PACE", None)
    if pace is not None:
        env["LOAD_PACE"] = str(pace)
    with tempfile.TemporaryDirectory(prefix="emporium-load-") as scratch:
        prefix = Path(scratch) / "load"
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
            "--csv",
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
        if not Path(f"{prefix}_stats.csv").exists():
            print(log.read_text(), file=sys.stderr)
            raise SystemExit(
                f"error: locust exited {finished.returncode} without statistics:"
                f" {shlex.join(command)}"
            )
        report = read_report(prefix, finished.returncode)
        if report.exit_code and not report.error_count:
            print(log.read_text()[-4000:], file=sys.stderr)
        return report


def print_report(report: Report) -> None:
    print(report.table())
    print(f"requests/s: {report.total.rps:.1f}   errors: {report.error_count}")
    for method, name, error, count in report.errors:
        print(f"  error x{count}: {method} {name}: {error}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://localhost:8080", help="the store's edge")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--duration", type=int, default=60, help="seconds")
    parser.add_argument("--spawn-rate", type=float, default=None, help="users started per second")
    parser.add_argument("--issuer", default=os.environ.get("LOAD_ISSUER", ""))
    parser.add_argument("--pace", type=float, default=None, help="journeys/s per user")
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
