"""Benchmark: a cached catalog read and a cart read, each against bare Flask on the same
workers and threads.

    make bench          (or: .venv/bin/python tests/bench/catalog_read.py --seconds 3 --rounds 10)

What is compared (the yardstick):
- bare: Flask under plain gunicorn (`tests/bench/bare_app.py`; gunicorn's defaults, so no
  access log and no configuration of ours), the same WEB_CONCURRENCY workers and
  GUNICORN_THREADS threads (gthread) as the services;
- the service: catalog (or cart) under `emporium.gunicorn_conf`, as deployed: JSON access log,
  Prometheus metrics (multi-process), readiness checks, request ids;
- both with SO_REUSEPORT and no worker recycling (wrk keeps its connections alive: the kernel
  then spreads them evenly over the workers, and they stay put), and both writing their
  output to /dev/null, so neither pays for a reader of its logs.

Pairs measured, each with wrk (1 thread, `--connections` kept-alive connections):
- catalog `GET /api/catalog/products/{id}` (warm cache) against bare `GET /bare`, as deployed
  by default (the near cache on, evicted through Redis pub/sub) and with the near cache off
  (`CATALOG_NEAR_CACHE_SECONDS=0`: every read asks Redis);
- cart `GET /api/cart/carts/{id}` (a cart of 3 lines, read by the id its owner holds) against
  bare `GET /carts/{id}` (the same consistent GetItem with a plain boto3 client) and bare
  `GET /bare`.
Runs are interleaved: every round runs each endpoint once, the order reversed every other
round; the figures are medians over rounds. It prints req/s, p50 and p99 per endpoint and each
pair's ratio (target: at least 0.80), taken round by round (the two sides of a ratio ran
seconds apart, under the same load on the machine) and given as the median and the range. The
load generator shares the machine with the servers, alike for every endpoint: the ratios are
the figures to compare, not the absolute rates, which move with what else the machine runs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # for tests.bench.bare_app, when run as a script

from devstack.processes import Child, Group, free_port, http_status  # noqa: E402
from devstack.stack import (  # noqa: E402
    Addresses,
    service_env,
    start_dynamodb,
    start_gunicorn,
    start_redis,
)

TARGET_RATIO = 0.80
PRODUCT = "cast-iron-skillet"
CART_PRODUCTS = ("cast-iron-skillet", "linen-tea-towels", "bamboo-cutting-board")


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float  # the server's CPU time (all its processes, user + system) per request


FIELDS = ("rps", "p50_ms", "p99_ms", "cpu_us")


def cpu_seconds(group_id: int) -> float:
    """User + system CPU time of every live process of a process group (a gunicorn master
    started in a session of its own, and its workers)."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:  # the process is gone
            continue
        if int(fields[2]) == group_id:  # fields[2] is pgrp; utime and stime follow at 11, 12
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


@dataclass
class WrkRun:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int


def wrk(url: str, seconds: int, connections: int) -> WrkRun:
    """wrk (1 thread, kept-alive connections) against `url`; fails on any non-2xx answer."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    requests = re.search(r"(\d+) requests in", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)\b", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if rps is None or p50 is None or p99 is None or requests is None:
        raise RuntimeError(f"could not read wrk's output:\n{out}")
    if errors:
        raise RuntimeError(f"{errors.group(1)} requests failed:\n{out}")
    return WrkRun(
        float(rps.group(1)), _ms(*p50.groups()), _ms(*p99.groups()), int(requests.group(1))
    )


def run_wrk(url: str, seconds: int, connections: int, server: int) -> Result:
    """wrk against `url` for `seconds`; `server` is the process group that serves it."""
    cpu_before = cpu_seconds(server)
    run = wrk(url, seconds, connections)
    cpu = cpu_seconds(server) - cpu_before
    return Result(run.rps, run.p50_ms, run.p99_ms, cpu * 1e6 / max(1, run.requests))


def bare_gunicorn(python: str, app: str, bind: str, workers: str, threads: str) -> list[str]:
    """The command of bare Flask under plain gunicorn: its defaults, nothing of ours, with the
    services' worker class, workers and threads."""
    return [python, "-m", "gunicorn", "--worker-class", "gthread", "--workers", workers,
            "--threads", threads, "--reuse-port", "--bind", bind, app]  # fmt: skip


def start_bare(group: Group, port: int, env: dict[str, str], workers: str, threads: str) -> Child:
    """Bare Flask under plain gunicorn on 127.0.0.1:`port`."""
    argv = bare_gunicorn(
        sys.executable, "tests.bench.bare_app:create_app()", f"127.0.0.1:{port}", workers, threads
    )
    child = group.start("bare", argv, env, log_path=os.devnull)
    child.wait_until(lambda: http_status(f"http://127.0.0.1:{port}/bare") == 200, "ready")
    return child


def _send(method: str, url: str, body: object | None = None) -> dict[str, object]:
    request = urllib.request.Request(  # noqa: S310 - a local URL
        url,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        answer: dict[str, object] = json.loads(response.read())
        return answer


def fill_cart(cart: str) -> str:
    """A cart of a few lines, as a shopper's would be; returns its id."""
    cart_id = str(_send("POST", f"{cart}/api/cart/carts")["id"])
    for product in CART_PRODUCTS:
        _send("PUT", f"{cart}/api/cart/carts/{cart_id}/items/{product}", {"quantity": 2})
    return cart_id


BARE = "bare         GET /bare"
BARE_GET_ITEM = "bare         GET /carts/{id} (boto3 GetItem)"
CATALOG = "catalog      GET /api/catalog/products/{id}"
CATALOG_REDIS = "catalog      the same, near cache off"
CART = "cart         GET /api/cart/carts/{id}"
# Each service's read and the bare endpoints it is compared with.
PAIRS = (
    ("catalog", CATALOG, (BARE,)),
    ("catalog, near cache off", CATALOG_REDIS, (BARE,)),
    ("cart", CART, (BARE_GET_ITEM, BARE)),
)


def verdict(ratio: float) -> str:
    return f"{'meets' if ratio >= TARGET_RATIO else 'misses'} {TARGET_RATIO:.2f}"


def report(results: dict[str, list[Result]]) -> None:
    print(
        f"\n{'endpoint':<48} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'CPU us/req':>10}  (medians)"
    )
    medians: dict[str, Result] = {}
    for name, rounds in results.items():
        medians[name] = Result(
            *(statistics.median(getattr(r, field) for r in rounds) for field in FIELDS)
        )
        m = medians[name]
        print(f"{name:<48} {m.rps:>7.0f} {m.p50_ms:>7.2f} {m.p99_ms:>7.2f} {m.cpu_us:>10.0f}")
    print(
        "\nratios, each taken within one round (both sides under the same load on the machine)"
        "\nand given as the median over rounds [lowest, highest]: req/s (both sides sharing this"
        "\nmachine's cores), and bare's CPU per request over the service's (the req/s ratio a"
        "\nserver would reach on cores of its own)"
    )
    for label, name, floors in PAIRS:
        if name not in results:
            continue
        for floor in floors:
            pairs = list(zip(results[name], results[floor], strict=True))
            rps = sorted(ours.rps / theirs.rps for ours, theirs in pairs)
            cpu = sorted(theirs.cpu_us / ours.cpu_us for ours, theirs in pairs)
            print(
                f"{label} / bare {' '.join(floor.split()[1:])}:"
                f" req/s {spread(rps)} ({verdict(statistics.median(rps))}),"
                f" CPU {spread(cpu)} ({verdict(statistics.median(cpu))})"
            )


def spread(ratios: list[float]) -> str:
    return f"{statistics.median(ratios):.2f} [{ratios[0]:.2f}, {ratios[-1]:.2f}]"


def seeded_catalog_env(group: Group, base: dict[str, str]) -> dict[str, str]:
    """The DynamoDB emulator and redis-server started in `group`, quiet, and the catalog seeded
    into them: a benchmarked catalog's environment (`base` plus the stack's settings)."""
    dynamodb_port, redis_port = free_port(), free_port()
    start_dynamodb(group, dynamodb_port, base, log_path=os.devnull)
    start_redis(group, redis_port, base, mode="redis-server", log_path=os.devnull)
    env = service_env(
        Addresses(
            dynamodb=f"http://127.0.0.1:{dynamodb_port}",
            redis=f"redis://127.0.0.1:{redis_port}/0",
        ),
        {
            **base,
            "CATALOG_ADMIN_TOKEN": "bench-admin-token-0000",
            "CATALOG_HMAC_KEY": "bench-catalog-hmac-key-0123456789abcdef",
        },
    )
    subprocess.run(
        [sys.executable, "-m", "catalog.seed"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Ten short rounds rather than five long ones: on a shared machine a round's ratio moves by
    # up to 0.2, and the median of more, closer pairs moves less from run to run.
    parser.add_argument("--seconds", type=int, default=3, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--only", choices=("catalog", "cart"), help="measure one service (and bare) only"
    )
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
    with Group() as group:
        print("[1/4] moto server and redis-server; [2/4] the catalog seeded", flush=True)
        base = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "WEB_CONCURRENCY": workers,
            "GUNICORN_THREADS": threads,
            "MAX_REQUESTS": "0",
            "REUSE_PORT": "true",
        }
        env = seeded_catalog_env(group, base)
        print(f"[3/4] services and bare Flask under gunicorn ({workers} x {threads} threads)")
        catalog_port, cart_port, bare_port = free_port(), free_port(), free_port()
        catalog = f"http://127.0.0.1:{catalog_port}"
        catalog_pid = start_gunicorn(
            group, "catalog", "catalog.app:create_app()", catalog_port, env, log_path=os.devnull
        ).pid
        bare = f"http://127.0.0.1:{bare_port}"
        bare_pid = start_bare(group, bare_port, env, workers, threads).pid
        # Each endpoint: its URL and the process group of the server that answers it.
        targets = {BARE: (f"{bare}/bare", bare_pid)}
        if args.only != "cart":
            targets[CATALOG] = (f"{catalog}/api/catalog/products/{PRODUCT}", catalog_pid)
            redis_only_port = free_port()
            redis_only = start_gunicorn(
                group,
                "catalog-redis-only",
                "catalog.app:create_app()",
                redis_only_port,
                {**env, "CATALOG_NEAR_CACHE_SECONDS": "0"},
                log_path=os.devnull,
            )
            targets[CATALOG_REDIS] = (
                f"http://127.0.0.1:{redis_only_port}/api/catalog/products/{PRODUCT}",
                redis_only.pid,
            )
        if args.only != "catalog":
            cart = f"http://127.0.0.1:{cart_port}"
            cart_pid = start_gunicorn(
                group,
                "cart",
                "cart.app:create_app()",
                cart_port,
                {**env, "CART_CATALOG_URL": catalog},
                log_path=os.devnull,
            ).pid
            cart_id = fill_cart(cart)
            targets[BARE_GET_ITEM] = (f"{bare}/carts/{cart_id}", bare_pid)
            targets[CART] = (f"{cart}/api/cart/carts/{cart_id}", cart_pid)
        for url, server in targets.values():  # warm: fill the cache, open the pools
            run_wrk(url, 2, args.connections, server)

        print(
            f"[4/4] wrk: {args.rounds} interleaved rounds x {args.seconds} s per endpoint, "
            f"{args.connections} connections",
            flush=True,
        )
        results: dict[str, list[Result]] = {name: [] for name in targets}
        for number in range(1, args.rounds + 1):
            order = list(targets.items())
            if number % 2 == 0:
                order.reverse()  # neither side always runs first
            for name, (url, server) in order:
                result = run_wrk(url, args.seconds, args.connections, server)
                results[name].append(result)
                print(
                    f"  round {number}/{args.rounds}  {name:<48} {result.rps:>7.0f} req/s"
                    f"  p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:6.2f} ms"
                    f"  {result.cpu_us:5.0f} us CPU/req",
                    flush=True,
                )

    report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
