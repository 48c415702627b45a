"""Benchmark: how many OrderPlaced events one fulfillment worker processes per second.

    .venv/bin/python tests/bench/fulfillment_throughput.py [--events 2000]

Starts redis-server (or the embedded server when it is not installed), the DynamoDB emulator
(moto server) and orders' fake of the tests (`tests.neighbours.FakeOrders`, served by
werkzeug, threaded, in this process), XADDs N events, then starts one worker under gunicorn
(WEB_CONCURRENCY=1, emporium.gunicorn_conf) and waits until every order is SHIPPED or
PAYMENT_DECLINED. The rate is N over the time from the first status call orders received to
the last, so the worker's start-up is not counted. Each event costs the worker two
conditional puts to its DynamoDB table (one for a declined card), two PUTs to orders (one)
and one XACK; the fake, the emulator and Redis share the machine with it. No pass or fail:
it prints the figure.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # for tests.*, when run as a script

import redis  # noqa: E402
from tests.neighbours import FINAL, ORDERS_TOKEN, FakeOrders, serve  # noqa: E402
from tests.order_stream import fulfillment_records, publish  # noqa: E402
from werkzeug.wrappers import Request  # noqa: E402

from devstack.processes import Group, free_port  # noqa: E402
from devstack.stack import (  # noqa: E402
    Addresses,
    redis_mode,
    service_env,
    start_dynamodb,
    start_gunicorn,
    start_redis,
)

TABLE = "bench-fulfillment"


class TimedOrders(FakeOrders):
    """Orders' fake, noting when the first and the last status call arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.first_call: float | None = None
        self.last_call = 0.0

    def put_status(self, order_id: str, request: Request) -> tuple[int, dict[str, Any]]:
        answer = super().put_status(order_id, request)
        now = time.monotonic()
        self.first_call = self.first_call or now
        self.last_call = now
        return answer


def cpu_seconds(master_pid: int) -> float | None:
    """CPU time (user + system) of gunicorn's worker processes so far; None off Linux."""
    try:
        with open(f"/proc/{master_pid}/task/{master_pid}/children") as children:
            pids = children.read().split()
        total = 0
        for pid in pids:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime in clock ticks
    except OSError:
        return None
    return total / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000, help="events to process (2000)")
    args = parser.parse_args()

    orders = TimedOrders()
    with Group() as group, serve(orders) as orders_url, tempfile.TemporaryDirectory() as logs:
        redis_port, dynamodb_port = free_port(), free_port()
        start_redis(group, redis_port, os.environ, mode=redis_mode(os.environ))
        start_dynamodb(group, dynamodb_port, os.environ)
        dynamodb_url = f"http://127.0.0.1:{dynamodb_port}"
        with redis.Redis(port=redis_port) as client:
            order_ids = publish(client, orders, args.events, "bench")
            where = Addresses(
                dynamodb=dynamodb_url,
                redis=f"redis://127.0.0.1:{redis_port}/0",
                services={"orders": orders_url},
            )
            env = service_env(
                where,
                {
                    **os.environ,
                    "HOST": "127.0.0.1",
                    "WEB_CONCURRENCY": "1",
                    "LOG_LEVEL": "WARNING",  # one log line per charge and shipment otherwise
                    "FULFILLMENT_TABLE": TABLE,
                    "ORDERS_INTERNAL_TOKEN": ORDERS_TOKEN,
                },
            )
            started = time.monotonic()
            worker = start_gunicorn(
                group,
                "fulfillment",
                "fulfillment.app:create_app()",
                free_port(),
                env,
                log_path=os.path.join(logs, "fulfillment.log"),
            )
            deadline = started + 600
            while not all(orders.status(order_id) in FINAL for order_id in order_ids):
                if time.monotonic() > deadline:
                    print("the worker did not finish in 10 minutes", file=sys.stderr)
                    return 1
                time.sleep(0.05)
            wall = time.monotonic() - started
            cpu = cpu_seconds(worker.pid)
            charges = len(fulfillment_records(dynamodb_url, TABLE, "payment"))

    busy = orders.last_call - (orders.first_call or orders.last_call)
    print(f"events:               {args.events} ({charges} charges recorded)")
    print(f"status calls:         {len(orders.puts)}")
    print(f"first to last call:   {busy:.2f} s")
    print(f"wall, with start-up:  {wall:.2f} s")
    if cpu is not None:
        print(f"worker CPU:           {cpu:.2f} s ({cpu / args.events * 1000:.2f} ms per event)")
    print(f"events/s per worker:  {args.events / busy:.0f}" if busy else "too fast to time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
