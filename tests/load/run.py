"""Run the shopper journeys headless against a store and print what a reader checks.

    make load URL=http://localhost:8080 USERS=20 DURATION=60
    .venv/bin/python tests/load/run.py --url http://localhost:8080 --users 20 --duration 60

Runs locust (tests/load/locustfile.py) headless for DURATION seconds, then prints requests per
second, p50/p95/p99 by endpoint (locust's final statistics) and the error count, with each
error's message. Exits 1 on any error (or if locust itself fails), 0 otherwise. `--issuer`
adds the sign-in journey (the development issuer of `make run`, http://127.0.0.1:8086);
`--pace` sets each user's journeys per second (0: no pause, the most the store takes).

Checkout to SHIPPED: after the run, every order the buyers placed is read back
(`GET /api/orders/orders/{id}`, readable by its id alone), again every half second until it is
SHIPPED or PAYMENT_DECLINED, for at most `--ship-within` seconds (60) after the run; each
shipped order's time runs from PLACED to SHIPPED in its own status history, both stamped by
orders, so neither this machine's clock nor the polling enters the figure. An order not SHIPPED
by then is an error, named. The read-backs are not in the requests per second. Orders SHIPPED
per second runs from the first PLACED to the last SHIPPED of those orders: what fulfillment
processed of this run's checkouts (the checkout rate, unless fulfillment fell behind), per
worker with `--fulfillment-workers N` (the count is the caller's word: nothing here sees it).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

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


FINAL = frozenset({"SHIPPED", "PAYMENT_DECLINED"})
NAMED = 10  # order ids named in one error line, at most


@dataclass
class Shipping:
    """What became of the orders the buyers placed, read back after the run."""

    placed: int = 0
    seconds: list[float] = field(default_factory=list)  # PLACED -> SHIPPED, each shipped order
    window: float = 0.0  # seconds from the first PLACED to the last SHIPPED
    missed: dict[str, str] = field(default_factory=dict)  # order id -> its status, last read
    within: float = 0.0
    # order id -> each status it reached and when (orders' stamps), as last read
    histories: dict[str, dict[str, float]] = field(default_factory=dict)

    def percentile(self, fraction: float) -> float:
        """Milliseconds, as the endpoints' percentiles are counted."""
        return percentile(Counter(round(s * 1000) for s in self.seconds), fraction)

    def errors(self) -> list[str]:
        """One line per thing the missed orders were instead of SHIPPED, naming them."""
        by_state: dict[str, list[str]] = {}
        for order_id, state in self.missed.items():
            by_state.setdefault(state, []).append(order_id)
        lines = []
        for state, ids in sorted(by_state.items()):
            more = f" and {len(ids) - NAMED} more" if len(ids) > NAMED else ""
            named = ", ".join(ids[:NAMED]) + more
            lines.append(
                f"{len(ids)} GET /api/orders/orders/{{id}}: not SHIPPED {self.within:g} s after"
                f" the run (last read: {state}): {named}"
            )
        return lines


@dataclass
class Report:
    endpoints: list[Endpoint]
    total: Endpoint
    errors: list[str] = field(default_factory=list)
    exit_code: int = 0
    shipping: Shipping = field(default_factory=Shipping)

    @property
    def error_count(self) -> int:
        return self.total.failures + len(self.shipping.missed)

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


def _stamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def follow_orders(
    url: str, order_ids: Iterable[str], within: float, *, interval: float = 0.5, threads: int = 8
) -> Shipping:
    """Read each order back until it is SHIPPED or PAYMENT_DECLINED, polling every `interval`
    seconds for at most `within` seconds (each order is read at least once)."""
    deadline = time.monotonic() + within
    pending = list(dict.fromkeys(order_ids))
    shipping = Shipping(placed=len(pending), within=within)
    histories: dict[str, dict[str, float]] = {}
    seen: dict[str, str] = {}
    local = threading.local()
    sessions: list[requests.Session] = []

    def read(order_id: str) -> tuple[str, str, dict[str, float] | None]:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            sessions.append(local.session)
        try:
            answer = local.session.get(f"{url}/api/orders/orders/{order_id}", timeout=10)
        except requests.RequestException as error:
            return order_id, f"no answer: {type(error).__name__}", None
        if answer.status_code != 200:
            return order_id, f"status {answer.status_code}", None
        try:
            order = answer.json()
            history = {change["status"]: _stamp(change["at"]) for change in order["statusHistory"]}
            return order_id, str(order["status"]), history
        except (ValueError, KeyError, TypeError):
            return order_id, "an answer without a status history", None

    try:
        with ThreadPoolExecutor(threads) as pool:
            while pending:
                for order_id, state, history in pool.map(read, pending):
                    seen[order_id] = state
                    if history is not None:
                        histories[order_id] = history
                pending = [o for o in pending if seen[o] not in FINAL]
                if not pending or time.monotonic() + interval > deadline:
                    break
                time.sleep(interval)
    finally:
        for session in sessions:
            session.close()
    shipped = {o: h for o, h in histories.items() if seen[o] == "SHIPPED" and "PLACED" in h}
    shipping.seconds = [h["SHIPPED"] - h["PLACED"] for h in shipped.values()]
    if shipped:
        first = min(h["PLACED"] for h in shipped.values())
        shipping.window = max(h["SHIPPED"] for h in shipped.values()) - first
    shipping.missed = {o: state for o, state in seen.items() if o not in shipped}
    shipping.histories = histories
    return shipping


def run(
    url: str,
    users: int,
    duration: int,
    *,
    spawn_rate: float | None = None,
    issuer: str = "",
    pace: float | None = None,
    until_seen: tuple[str, ...] = (),
    ship_within: float = 60.0,
    quiet: bool = False,
) -> Report:
    """Locust headless against `url`, then its orders read back; the report of both."""
    env = {**os.environ, "LOAD_ISSUER": issuer}
    env.pop("LOAD_PACE", None)
    env["LOAD_UNTIL_SEEN"] = "\n".join(until_seen)
    if pace is not None:
        env["LOAD_PACE"] = str(pace)
    with tempfile.TemporaryDirectory(prefix="emporium-load-") as scratch:
        prefix = Path(scratch) / "load"
        errors_file = Path(scratch) / "errors.jsonl"
        env["LOAD_ERRORS_FILE"] = str(errors_file)
        orders_file = Path(scratch) / "orders.txt"
        env["LOAD_ORDERS_FILE"] = str(orders_file)
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
        placed = orders_file.read_text().split() if orders_file.exists() else []
        report.shipping = follow_orders(url.rstrip("/"), placed, ship_within)
        report.errors += report.shipping.errors()
        return report


def print_report(report: Report, fulfillment_workers: int | None = None) -> None:
    print(report.table())
    shipping = report.shipping
    if not shipping.seconds:
        print(f"checkout to SHIPPED: no order shipped ({shipping.placed} placed)")
    else:
        print(
            f"checkout to SHIPPED: p50 {shipping.percentile(0.50):.0f} ms"
            f"  p95 {shipping.percentile(0.95):.0f} ms  p99 {shipping.percentile(0.99):.0f} ms"
            f"  ({len(shipping.seconds)} of {shipping.placed} orders; PLACED to SHIPPED in each"
            " order's status history)"
        )
    if len(shipping.seconds) > 1 and shipping.window > 0:
        rate = len(shipping.seconds) / shipping.window
        per_worker = (
            f", {rate / fulfillment_workers:.2f} per fulfillment worker ({fulfillment_workers})"
            if fulfillment_workers
            else ""
        )
        print(
            f"orders SHIPPED/s: {rate:.2f}{per_worker} (first PLACED to last SHIPPED,"
            f" {shipping.window:.1f} s)"
        )
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
    parser.add_argument(
        "--ship-within",
        type=float,
        default=60.0,
        help="seconds after the run for every order placed to be SHIPPED (else an error)",
    )
    parser.add_argument(
        "--fulfillment-workers",
        type=int,
        default=None,
        help="fulfillment's worker processes, to print orders SHIPPED/s per worker",
    )
    args = parser.parse_args(argv)
    if args.users < 1:
        parser.error("--users must be at least 1")
    if args.duration < 1:
        parser.error("--duration must be at least 1 second")
    if args.ship_within < 0:
        parser.error("--ship-within must be 0 seconds or more")
    if args.fulfillment_workers is not None and args.fulfillment_workers < 1:
        parser.error("--fulfillment-workers must be at least 1")
    report = run(
        args.url,
        args.users,
        args.duration,
        spawn_rate=args.spawn_rate,
        issuer=args.issuer,
        pace=args.pace,
        until_seen=tuple(args.until_seen),
        ship_within=args.ship_within,
    )
    print_report(report, args.fulfillment_workers)
    if report.error_count or report.exit_code:
        print(
            f"FAILED: {report.error_count} errors (locust exited {report.exit_code})",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
