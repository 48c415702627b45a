"""Benchmark on a cluster: the OrderPlaced events one fulfillment worker processes per second,
flat out, in a pod as the chart runs it (its CPU limit included).

    .venv/bin/python tests/bench/cluster_fulfillment.py --url http://localhost:8080 \\
        --issuer http://localhost:8086 [--namespace emporium] [--release emporium]
    (needs the store released, see README "Deploy with Helm", reached through
    `make port-forward SERVICE=edge PORT=8080` and the issuer through
    `make port-forward SERVICE=oidc-issuer PORT=8086`; kubectl from PATH or KUBECTL)

1. fulfillment's Deployment is scaled to 0: its events wait in the Redis stream;
2. the shopper journeys (`tests/load/run.py`, no pause) run against the edge for `--duration`
   seconds: their orders are placed and none is shipped (an HTTP error stops the bench);
3. fulfillment is scaled to 1 pod (the chart's WEB_CONCURRENCY worker processes, 1 by
   default) and works the backlog off; once its pod is ready, its `events_processed_total`
   (through a port-forward to its metrics port) is read every 0.2 s until it has not moved
   for 5 s, and its container's CPU (cgroup) then and at the start; every order placed is
   then read back, and each must be SHIPPED;
4. the Deployment gets its replicas back, whatever happened.
Prints events per second: the orders shipped over the time from the first status the worker
gave any of them to the last SHIPPED, both stamped by orders in each order's history (the
worker starts at its first probe, before its pod is ready and this script can watch it); and
CPU milliseconds per event: the container's over the events counted after its pod was ready
(the idle seconds after the last included).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.cluster_read import Forward, cpu_seconds, kubectl  # noqa: E402
from tests.load.run import follow_orders, run  # noqa: E402

STILL_SECONDS = 5.0  # the count has not moved for this long: the backlog is done


def events_processed(metrics_url: str) -> float:
    text = requests.get(metrics_url, timeout=5).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "events_processed_total"
    )


def scale(namespace: str, deployment: str, replicas: int) -> None:
    kubectl("scale", "deployment", deployment, "-n", namespace, f"--replicas={replicas}")


def new_pod(namespace: str, selector: str, deadline: float) -> str:
    """The name of the pod the Deployment makes once scaled up. `kubectl scale`
    returns before its ReplicaSet has made one, and `kubectl wait -l` with nothing matching
    fails ("no matching resources found") instead of waiting for it."""
    while True:
        names = kubectl("get", "pods", "-n", namespace, "-l", selector, "-o", "name").split()
        if names:
            return names[0].removeprefix("pod/")
        if time.monotonic() > deadline:
            raise SystemExit(f"error: no pod matches {selector} in {namespace} after scaling up")
        time.sleep(0.5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://localhost:8080", help="the store's edge")
    parser.add_argument("--issuer", default=os.environ.get("LOAD_ISSUER", ""))
    parser.add_argument("--namespace", default="emporium")
    parser.add_argument("--release", default="emporium")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--duration", type=int, default=180, help="seconds of shopping")
    args = parser.parse_args()
    ns, name = args.namespace, f"{args.release}-fulfillment"
    deployment = json.loads(kubectl("get", "deployment", "-n", ns, name, "-o", "json"))
    replicas = int(deployment["spec"].get("replicas", 1))
    labels = deployment["spec"]["selector"]["matchLabels"]
    selector = ",".join(f"{key}={value}" for key, value in labels.items())
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    limits = container.get("resources", {}).get("limits", {})

    print(f"[1/4] {name}: {replicas} -> 0 replicas (events wait in the stream)", flush=True)
    scale(ns, name, 0)
    try:
        deadline = time.monotonic() + 120
        while kubectl("get", "pods", "-n", ns, "-l", selector, "-o", "name").strip():
            if time.monotonic() > deadline:
                raise SystemExit(f"error: pods of {name} still there after 120 s")
            time.sleep(1)
        print(f"[2/4] shoppers: {args.users} users, no pause, {args.duration} s", flush=True)
        report = run(args.url, args.users, args.duration, issuer=args.issuer, pace=0, ship_within=0)
        if report.total.failures or not report.shipping.placed:
            expected = set(report.shipping.errors())  # nothing ships: no worker runs
            for error in report.errors:
                if error not in expected:
                    print(f"  error: {error}", file=sys.stderr)
            raise SystemExit(
                f"error: the shopping had {report.total.failures} errors and placed"
                f" {report.shipping.placed} orders"
            )
        placed = list(report.shipping.missed)  # none shipped: every order placed is here
        print(
            f"  {report.shipping.placed} orders placed at {report.total.rps:.0f} req/s,"
            f" {len(placed)} waiting for fulfillment",
            flush=True,
        )

        print(f"[3/4] {name}: 1 replica (CPU limit {limits.get('cpu', 'none')})", flush=True)
        scale(ns, name, 1)
        pod = new_pod(ns, selector, deadline=time.monotonic() + 120)
        kubectl("wait", "-n", ns, f"pod/{pod}", "--for=condition=Ready", "--timeout=120s")
        with Forward(ns, pod, remote=9090) as forward:
            metrics = f"http://127.0.0.1:{forward.port}/metrics"
            first, cpu_before = events_processed(metrics), cpu_seconds(ns, pod, container["name"])
            last, moved = first, time.monotonic()
            while time.monotonic() - moved < STILL_SECONDS:
                time.sleep(0.2)
                count = events_processed(metrics)
                if count != last:
                    last, moved = count, time.monotonic()
                    print(f"  {count:.0f} events", end="\r", flush=True)
            cpu = cpu_seconds(ns, pod, container["name"]) - cpu_before
        shipping = follow_orders(args.url.rstrip("/"), placed, 60)
    finally:
        print(f"[4/4] {name}: back to {replicas} replicas", flush=True)
        scale(ns, name, replicas)

    print(f"\nevents processed by the worker: {last:.0f}")
    # The window is orders' own: from the first status fulfillment gave any of these orders to
    # the last SHIPPED, stamped by orders as each call arrived (the worker's pod starts to
    # consume at its first probe, before this script can see it).
    stamps = [h for h in shipping.histories.values() if "SHIPPED" in h]
    if len(stamps) > 1:
        began = min(t for h in stamps for status, t in h.items() if status != "PLACED")
        seconds = max(h["SHIPPED"] for h in stamps) - began
        print(
            f"events/s of one worker, flat out: {len(stamps) / seconds:.1f}"
            f" ({len(stamps)} orders shipped in {seconds:.1f} s, by orders' status history)"
        )
    if last > first:
        print(
            f"CPU an event: {cpu * 1000 / (last - first):.1f} ms (the container's cgroup, over the"
            f" {last - first:.0f} events after the pod was ready, and the {STILL_SECONDS:.0f} s"
            " idle after the last)"
        )
    print(f"orders SHIPPED: {len(shipping.seconds)} of {len(placed)}")
    for error in shipping.errors():
        print(f"  error: {error}", file=sys.stderr)
    return 1 if shipping.missed else 0


if __name__ == "__main__":
    sys.exit(main())
