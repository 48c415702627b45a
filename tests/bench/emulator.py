"""Benchmark: checkout-shaped transactions against the DynamoDB emulator, and its memory.

    .venv/bin/python tests/bench/emulator.py [--transactions 2000] [--every 500]
                                             [--shards 1 [2 ...]] [--no-moto-server]

Starts servers side by side on loopback: moto's own server (`python -m moto.server`, the
baseline: nothing of ours; --no-moto-server leaves it out) and the store's emulator (`python -m
devstack.dynamodb_emulator`), once per --shards count (default 1: one process; more: the front
and its shards, the table in one of them, so this measures what the front's routing costs).
Against each, one client writes what a checkout writes: a TransactWriteItems of two Puts (the
order, with `attribute_not_exists`, and its outbox event) into one table, N times. Every `--every`
transactions it prints the table's size, that stretch's transactions per second, the
server's CPU time per transaction (user + system, /proc/<pid>/stat, its shards included: unlike
the rate, it does not move with what else the machine runs), the part of it spent in a sharded
emulator's front, and the server's resident memory (VmRSS of /proc/<pid>/status, the front's
alone when sharded). One client, so moto's server never
meets the concurrency that the emulator serializes; the runs alternate stretch by stretch so
both see the same machine. No pass or fail: it prints the figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from devstack.processes import Child, Group, free_port, http_status


@dataclass
class Server:
    name: str
    child: Child
    client: Any
    written: int = 0

    def rss_mb(self) -> float:
        with open(f"/proc/{self.child.popen.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        raise RuntimeError(f"no VmRSS for {self.name}")

    def cpu_seconds(self) -> tuple[float, float]:
        """The server's user + system CPU time so far (/proc/<pid>/stat, fields 14 and 15),
        its child processes' (a front's shards) included, and its own alone."""
        own = cpu_of(self.child.popen.pid)
        tasks = [int(task.name) for task in Path(f"/proc/{self.child.popen.pid}/task").iterdir()]
        children: list[int] = []
        for task in tasks:
            try:
                with open(f"/proc/{self.child.popen.pid}/task/{task}/children") as listed:
                    children.extend(int(pid) for pid in listed.read().split())
            except FileNotFoundError:
                continue  # a thread that ended meanwhile
        return own + sum(cpu_of(pid) for pid in children), own


def cpu_of(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start(group: Group, name: str, argv: list[str]) -> Server:
    port = free_port()
    child = group.start(
        name,
        [*argv, "--port", str(port)] if name != "moto_server" else [*argv, "-p", str(port)],
        os.environ,
    )
    url = f"http://127.0.0.1:{port}"
    child.wait_until(lambda: http_status(f"{url}/moto-api/") is not None, "answering")
    client = boto3.client(
        "dynamodb",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )
    client.create_table(
        TableName="orders",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return Server(name, child, client)


def checkouts(server: Server, count: int) -> float:
    """Writes `count` checkouts; transactions per second."""
    body = {"S": "x" * 300}  # about an order's size
    started = time.perf_counter()
    for _ in range(count):
        n = server.written = server.written + 1
        server.client.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": "orders",
                        "Item": {"pk": {"S": f"order#{n}"}, "body": body},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                {
                    "Put": {
                        "TableName": "orders",
                        "Item": {"pk": {"S": f"outbox#{n}"}, "body": body},
                    }
                },
            ]
        )
    return count / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=2000)
    parser.add_argument("--every", type=int, default=500)
    parser.add_argument("--shards", type=int, nargs="+", default=[1])
    parser.add_argument("--no-moto-server", action="store_true")
    args = parser.parse_args()

    with Group() as group:
        servers = []
        if not args.no_moto_server:
            moto = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1"]
            servers.append(start(group, "moto_server", moto))
        for shards in args.shards:
            emulator = [sys.executable, "-m", "devstack.dynamodb_emulator", "--shards", str(shards)]
            name = "emulator" if shards == 1 else f"emulator/{shards}"
            servers.append(start(group, name, emulator))
        print(
            f"{'server':<12} {'items':>7} {'tx/s':>8} {'CPU ms/tx':>10} {'front ms/tx':>12}"
            f" {'VmRSS MB':>9}"
        )
        for server in servers:
            print(f"{server.name:<12} {0:>7} {'':>8} {'':>10} {'':>12} {server.rss_mb():>9.0f}")
        for _ in range(args.transactions // args.every):
            for server in servers:
                cpu, own = server.cpu_seconds()
                rate = checkouts(server, args.every)
                cpu_after, own_after = server.cpu_seconds()
                cpu_ms = (cpu_after - cpu) * 1000 / args.every
                front = (
                    f"{(own_after - own) * 1000 / args.every:>12.2f}"
                    if "/" in server.name
                    else f"{'':>12}"
                )
                items = 2 * server.written
                print(
                    f"{server.name:<12} {items:>7} {rate:>8.1f} {cpu_ms:>10.2f} {front}"
                    f" {server.rss_mb():>9.0f}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
