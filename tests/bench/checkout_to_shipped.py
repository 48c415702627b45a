"""Benchmark: how long from checkout to SHIPPED, with the whole store running.

    make bench          (or: .venv/bin/python tests/bench/checkout_to_shipped.py --orders 200)

Starts the store as `make run` does (on free ports, logs to files), then 10 clients each fill a
cart and check out until 200 orders are placed. Each order's time runs from the moment its
checkout request was sent to the SHIPPED time orders recorded in its status history (the same
machine's clock), so nothing polls while the orders flow. Prints p50 and p95 (target: p95
under 1 s on a laptop), and what each process of the store spent per order: CPU time (user +
system, /proc/<pid>/stat, a gunicorn master with its workers) from the first checkout until the
last order shipped, per order and as a share of one core (a sharded DynamoDB emulator's front
and each shard too); with the machine's cores, that says which part limits the rate.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from devstack.processes import Child, Group  # noqa: E402
from devstack.stack import Ports, service_env, start_store  # noqa: E402

CUSTOMER = {
    "email": "bench@example.com",
    "name": "Bench Mark",
    "address": {"line1": "1 Load St", "city": "Testville", "postalCode": "12345", "country": "US"},
}


def place_order(http: requests.Session, store: str) -> tuple[str, float]:
    """Fill a cart and check out; returns the order id and when the checkout was sent."""
    cart = http.post(f"{store}/api/cart/carts", timeout=10).json()["id"]
    added = http.put(
        f"{store}/api/cart/carts/{cart}/items/cast-iron-skillet", json={"quantity": 1}, timeout=10
    )
    added.raise_for_status()
    sent = time.time()
    order = http.post(
        f"{store}/api/orders/orders",
        json={"cartId": cart, "customer": CUSTOMER, "payment": {"card": "4242424242424242"}},
        headers={"Idempotency-Key": str(uuid.uuid4())},
        timeout=10,
    )
    order.raise_for_status()
    return order.json()["id"], sent


def history(http: requests.Session, store: str, order_id: str, deadline: float) -> dict[str, float]:
    """When the order reached each status (epoch seconds), once it has shipped."""
    while time.monotonic() < deadline:
        order = http.get(f"{store}/api/orders/orders/{order_id}", timeout=10).json()
        times = {
            change["status"]: datetime.fromisoformat(
                change["at"].replace("Z", "+00:00")
            ).timestamp()
            for change in order["statusHistory"]
        }
        if "SHIPPED" in times:
            return times
        time.sleep(0.2)
    raise RuntimeError(f"order {order_id} did not ship in time")


def cpu_seconds(children: list[Child]) -> dict[str, float]:
    """Each child's CPU time so far, its descendants' (gunicorn's workers) included."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue  # ended meanwhile
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def tree(pid: int) -> float:
        return times.get(pid, 0.0) + sum(tree(c) for c, p in parents.items() if p == pid)

    totals: dict[str, float] = {}
    for child in children:
        totals[child.name] = totals.get(child.name, 0.0) + tree(child.pid)
        if child.name == "dynamodb":  # a sharded emulator: its front and each shard, apart
            shards = sorted(pid for pid, parent in parents.items() if parent == child.pid)
            for n, pid in enumerate(shards):
                totals[f"  shard {n}"] = tree(pid)
            if shards:
                totals["  front"] = times.get(child.pid, 0.0)
    return totals


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    return f"p50 {statistics.median(ordered) * 1000:6.0f} ms   p95 {p95 * 1000:6.0f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--clients", type=int, default=10)
    args = parser.parse_args()
    if not shutil.which("redis-server"):
        print("bench: redis-server is not on PATH (apt-get install redis-server)", file=sys.stderr)
        return 2

    ports = Ports.free()
    with tempfile.TemporaryDirectory(prefix="emporium-bench-") as scratch, Group() as group:
        logs = os.environ.get("BENCH_LOGS", scratch)  # BENCH_LOGS keeps them after the run
        print(f"[1/3] starting the store (logs in {logs})", flush=True)
        env = service_env(ports.addresses(), {**os.environ, "PYTHONPATH": str(ROOT)})
        start_store(group, ports, env, redis="redis-server", log_dir=logs)
        store = ports.url("edge")
        print(f"[2/3] {args.clients} clients placing {args.orders} orders", flush=True)
        with ThreadPoolExecutor(args.clients) as pool:
            sessions = [requests.Session() for _ in range(args.clients)]
            cpu_before = cpu_seconds(group.children)
            started = time.monotonic()
            placed = list(
                pool.map(
                    lambda n: place_order(sessions[n % args.clients], store), range(args.orders)
                )
            )
            placing = time.monotonic() - started
            print(f"[3/3] waiting for every order to ship ({placing:.1f} s to place them)")
            deadline = time.monotonic() + 120
            histories = list(
                pool.map(lambda pair: history(sessions[0], store, pair[0], deadline), placed)
            )
            elapsed = time.monotonic() - started
            cpu = {
                name: spent - cpu_before.get(name, 0.0)
                for name, spent in cpu_seconds(group.children).items()
            }
            for session in sessions:
                session.close()

    sent = [when for _, when in placed]
    stages = {
        "checkout sent -> SHIPPED": [
            h["SHIPPED"] - t for h, t in zip(histories, sent, strict=True)
        ],
        "  sent -> PLACED": [h["PLACED"] - t for h, t in zip(histories, sent, strict=True)],
        "  PLACED -> PAID": [h["PAID"] - h["PLACED"] for h in histories],
        "  PAID -> SHIPPED": [h["SHIPPED"] - h["PAID"] for h in histories],
    }
    rate = len(placed) / placing
    print(f"\n{len(placed)} orders, {args.clients} clients, {rate:.0f} orders/s placed:")
    for stage, seconds in stages.items():
        print(f"  {stage:<26} {percentiles(seconds)}")
    total = sorted(stages["checkout sent -> SHIPPED"])
    p95 = total[max(0, round(0.95 * len(total)) - 1)]
    print(f"  target p95 < 1000 ms: {'met' if p95 < 1 else 'missed'}")
    print(
        f"\nCPU from the first checkout to the last SHIPPED ({elapsed:.1f} s, {os.cpu_count()}"
        " cores):"
    )
    parts = {name: spent for name, spent in cpu.items() if name.startswith("  ")}
    processes = {name: spent for name, spent in cpu.items() if name not in parts}
    for name, spent in sorted(processes.items(), key=lambda item: -item[1]):
        print(
            f"  {name:<14} {spent * 1000 / len(placed):6.1f} ms per order"
            f"   {spent / elapsed:5.2f} of a core"
        )
        if name == "dynamodb":
            for part, part_spent in sorted(parts.items()):
                print(
                    f"  {part:<14} {part_spent * 1000 / len(placed):6.1f} ms per order"
                    f"   {part_spent / elapsed:5.2f} of a core"
                )
    total = sum(processes.values())
    per_order = total * 1000 / len(placed)
    print(f"  {'the store':<14} {per_order:6.1f} ms per order   {total / elapsed:5.2f} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
