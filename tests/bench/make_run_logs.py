"""Benchmark: what `make run`'s log multiplexer costs a service.

    .venv/bin/python tests/bench/make_run_logs.py [--seconds 5] [--rounds 3]

Starts the moto server, redis-server and two catalogs under `emporium.gunicorn_conf` (the same
workers and threads): one writing its output to /dev/null, one whose output goes through
`devstack.processes` as under `make run` (a pipe read by the launcher, every line echoed with
the service's name; the echo itself goes to /dev/null here, not to a terminal). wrk drives a
cached product read on each in interleaved rounds; it prints the medians, the ratio (through
the multiplexer / to /dev/null) and the launcher's own CPU time per request (reading, keeping
and echoing the lines; it shares the cores with the services).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.catalog_read import PRODUCT, Result, run_wrk, seeded_catalog_env  # noqa: E402

from devstack.processes import Group, free_port  # noqa: E402
from devstack.stack import (  # noqa: E402
    start_gunicorn,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    report = sys.stdout
    base = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "WEB_CONCURRENCY": os.environ.get("WEB_CONCURRENCY", "2"),
        "GUNICORN_THREADS": os.environ.get("GUNICORN_THREADS", "4"),
        "MAX_REQUESTS": "0",
        "REUSE_PORT": "true",
    }
    results: dict[str, list[Result]] = {"to /dev/null": [], "through the multiplexer": []}
    launcher: dict[str, list[float]] = {name: [] for name in results}  # this process's CPU
    with Group() as group, Group(echo=True) as echoed, open(os.devnull, "w") as devnull:
        env = seeded_catalog_env(group, base)
        app = "catalog.app:create_app()"
        quiet_port, echoed_port = free_port(), free_port()
        quiet = start_gunicorn(group, "catalog", app, quiet_port, env, log_path=os.devnull)
        sys.stdout = devnull  # where the multiplexer echoes, instead of a terminal
        try:
            loud = start_gunicorn(echoed, "catalog", app, echoed_port, env)
            targets = {
                "to /dev/null": (quiet_port, quiet.pid),
                "through the multiplexer": (echoed_port, loud.pid),
            }
            path = f"/api/catalog/products/{PRODUCT}"
            for port, pid in targets.values():
                run_wrk(f"http://127.0.0.1:{port}{path}", 2, args.connections, pid)
            for number in range(1, args.rounds + 1):
                order = list(targets.items())
                if number % 2 == 0:
                    order.reverse()
                for name, (port, pid) in order:
                    before = resource.getrusage(resource.RUSAGE_SELF)
                    result = run_wrk(
                        f"http://127.0.0.1:{port}{path}", args.seconds, args.connections, pid
                    )
                    results[name].append(result)
                    after = resource.getrusage(resource.RUSAGE_SELF)
                    used = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
                    launcher[name].append(used * 1e6 / max(1.0, result.rps * args.seconds))
                    print(
                        f"  round {number}/{args.rounds}  catalog output {name:<24}"
                        f" {result.rps:>7.0f} req/s  p99 {result.p99_ms:6.2f} ms"
                        f"  launcher {launcher[name][-1]:5.1f} us CPU/req",
                        file=report,
                        flush=True,
                    )
            echoed.stop()  # its last lines too go to /dev/null
        finally:
            sys.stdout = report
    medians = {name: statistics.median(r.rps for r in rounds) for name, rounds in results.items()}
    for name, rps in medians.items():
        print(
            f"catalog output {name:<24} {rps:>7.0f} req/s,"
            f" launcher {statistics.median(launcher[name]):5.1f} us CPU/req (medians)"
        )
    ratio = medians["through the multiplexer"] / medians["to /dev/null"]
    print(f"through the multiplexer / to /dev/null = {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
