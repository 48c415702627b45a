"""Benchmark: a cached catalog read against a bare Flask endpoint, same gunicorn settings.

    make bench          (or: .venv/bin/python tests/bench/catalog_read.py --seconds 10)

Starts the moto server, redis-server, catalog and a bare Flask app, each under gunicorn with
emporium.gunicorn_conf and the same WEB_CONCURRENCY and GUNICORN_THREADS; warms the cache;
then drives both endpoints with wrk in alternating rounds and prints requests per second,
p99 latency and the catalog/bare ratio (target: at least 0.70). The load generator shares the
machine with the servers, as it does for both endpoints alike.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # for tests.bench.bare_app, when run as a script

from devstack.processes import Group, free_port  # noqa: E402
from devstack.stack import (  # noqa: E402
    Addresses,
    service_env,
    start_dynamodb,
    start_gunicorn,
    start_redis,
)

TARGET_RATIO = 0.70


@dataclass
class Result:
    rps: float
    p99_ms: float


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(url: str, seconds: int, connections: int, threads: int) -> Result:
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if rps is None or p99 is None:
        raise RuntimeError(f"could not read wrk's output:\n{out}")
    if errors:
        raise RuntimeError(f"{errors.group(1)} requests failed:\n{out}")
    return Result(float(rps.group(1)), _ms(p99.group(1), p99.group(2)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per endpoint")
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()

    for tool, hint in (
        ("wrk", "apt-get install wrk"),
        ("redis-server", "apt-get install redis-server"),
    ):
        if not shutil.which(tool):
            print(f"bench: {tool} is not on PATH ({hint})", file=sys.stderr)
            return 2

    workers, threads = (
        os.environ.get("WEB_CONCURRENCY", "2"),
        os.environ.get("GUNICORN_THREADS", "4"),
    )
    with tempfile.TemporaryDirectory(prefix="emporium-bench-") as tmp, Group() as group:
        logs = Path(tmp)
        print(f"[1/4] moto server and redis-server (logs in {logs})", flush=True)
        dynamodb_port, redis_port = free_port(), free_port()
        # For both servers alike: wrk keeps its connections alive, so which worker accepted
        # each one would decide a round's figure more than the code does (one worker may hold
        # them all). REUSE_PORT lets the kernel spread them evenly, and recycling is off so
        # they are not dealt again mid-run.
        base = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "WEB_CONCURRENCY": workers,
            "GUNICORN_THREADS": threads,
            "MAX_REQUESTS": "0",
            "REUSE_PORT": "true",
        }
        start_dynamodb(group, dynamodb_port, base, log_path=str(logs / "dynamodb.log"))
        start_redis(group, redis_port, base, mode="redis-server", log_path=str(logs / "redis.log"))
        where = Addresses(
            dynamodb=f"http://127.0.0.1:{dynamodb_port}",
            redis=f"redis://127.0.0.1:{redis_port}/0",
        )
        env = service_env(
            where,
            {
                **base,
                "CATALOG_ADMIN_TOKEN": "bench-admin-token-0000",
                "CATALOG_HMAC_KEY": "bench-catalog-hmac-key-0123456789abcdef",
            },
        )
        print("[2/4] seeding the catalog", flush=True)
        subprocess.run(
            [sys.executable, "-m", "catalog.seed"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        print(
            f"[3/4] catalog and bare Flask under gunicorn ({workers} workers x {threads} threads)"
        )
        catalog_port, bare_port = free_port(), free_port()
        start_gunicorn(
            group,
            "catalog",
            "catalog.app:create_app()",
            catalog_port,
            env,
            log_path=str(logs / "catalog.log"),
        )
        start_gunicorn(
            group,
            "bare",
            "tests.bench.bare_app:create_app()",
            bare_port,
            env,
            ready_path="/bare",
            log_path=str(logs / "bare.log"),
        )
        catalog, bare = f"http://127.0.0.1:{catalog_port}", f"http://127.0.0.1:{bare_port}"
        targets = {
            "bare Flask   GET /bare": bare + "/bare",
            "catalog      GET /api/catalog/products/{id}": catalog
            + "/api/catalog/products/cast-iron-skillet",
        }
        for url in targets.values():  # warm: fill the cache, open the pools
            run_wrk(url, 2, args.connections, 1)

        print(
            f"[4/4] wrk: {args.rounds} rounds x {args.seconds} s per endpoint, "
            f"{args.connections} connections",
            flush=True,
        )
        results: dict[str, list[Result]] = {name: [] for name in targets}
        for round_number in range(1, args.rounds + 1):
            for name, url in targets.items():
                result = run_wrk(url, args.seconds, args.connections, 1)
                results[name].append(result)
                print(
                    f"  round {round_number}/{args.rounds}  {name:<46} {result.rps:>8.0f} req/s"
                    f"  p99 {result.p99_ms:6.2f} ms",
                    flush=True,
                )

    print(f"\n{'endpoint':<46} {'req/s':>8} {'p99 ms':>8}   (median of {args.rounds} rounds)")
    medians = {}
    for name, rounds in results.items():
        medians[name] = statistics.median(r.rps for r in rounds)
        p99 = statistics.median(r.p99_ms for r in rounds)
        print(f"{name:<46} {medians[name]:>8.0f} {p99:>8.2f}")
    bare_rps, catalog_rps = medians.values()
    ratio = catalog_rps / bare_rps
    verdict = "meets" if ratio >= TARGET_RATIO else "misses"
    print(f"\ncatalog / bare = {ratio:.2f} ({verdict} the {TARGET_RATIO:.2f} target)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
