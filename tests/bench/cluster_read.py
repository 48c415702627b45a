"""Benchmark on a cluster: a cached catalog read and a cart read against bare Flask in a pod of
its own, as each pod's CPU per request.

    .venv/bin/python tests/bench/cluster_read.py [--namespace emporium] [--release emporium]
    (needs the store released, see README "Deploy with Helm", and wrk; kubectl from PATH or
    KUBECTL)

The yardstick of `tests/bench/catalog_read.py`, with the chart's pods instead of processes:
- bare: `tests/bench/bare_app.py` (from a ConfigMap) under plain gunicorn, in a pod made from
  the service Deployment's own pod template: the same image, resources, security context,
  node and environment (the service's ConfigMap: the cart's table and DynamoDB), and the
  service's WEB_CONCURRENCY workers and GUNICORN_THREADS threads; nothing of ours runs in it;
- the service: one of the release's pods, as deployed.
Pairs: catalog `GET /api/catalog/products/{id}` against bare `GET /bare`; cart `GET
/api/cart/carts/{id}` (3 lines) against bare `GET /carts/{id}` (the same GetItem, plain boto3).
Each is reached through `kubectl port-forward` and driven by wrk (1 thread, `--connections`),
interleaved round by round. kubectl's forwarding caps the rate (both sides alike), so the
figure to compare is the CPU each pod's container spent per request: its cgroup's
`cpuacct.usage` (cgroups v1, as kind's nodes here; `cpu.stat` on cgroups v2) read before and
after each run, over the requests wrk counted. Prints both, their ratio round by round
(median [range]) and req/s; deletes the bare pods and their ConfigMap at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.catalog_read import (  # noqa: E402
    CART_PRODUCTS,
    bare_gunicorn,
    fill_cart,
    spread,
    verdict,
    wrk,
)

from devstack.processes import free_port  # noqa: E402

BARE = "bench-bare"
PRODUCT = "cast-iron-skillet"
SERVICES = ("catalog", "cart")


def kubectl(*args: str, stdin: str | None = None) -> str:
    command = [os.environ.get("KUBECTL", "kubectl"), *args]
    done = subprocess.run(command, check=False, capture_output=True, text=True, input=stdin)
    if done.returncode != 0:
        raise SystemExit(f"error: {shlex.join(command)} failed: {done.stderr.strip()}")
    return done.stdout


def cpu_seconds(namespace: str, pod: str, container: str) -> float:
    """The CPU time the container's processes have used (its cgroup's, user + system)."""
    script = (
        "import pathlib as p\n"
        "v1 = p.Path('/sys/fs/cgroup/cpu,cpuacct/cpuacct.usage')\n"
        "v1 = v1 if v1.exists() else p.Path('/sys/fs/cgroup/cpuacct/cpuacct.usage')\n"
        "if v1.exists(): print(int(v1.read_text()) / 1e9)\n"
        "else: print(int(dict(l.split() for l in open('/sys/fs/cgroup/cpu.stat'))"
        "['usage_usec']) / 1e6)\n"
    )
    out = kubectl("exec", "-n", namespace, pod, "-c", container, "--", "python", "-c", script)
    return float(out.strip())


def bare_pod(
    name: str, template: dict[str, Any], service: str, settings: dict[str, str], node: str
) -> dict[str, Any]:
    """A bare pod: the service's pod template, its container running bare Flask."""
    spec = template["spec"]
    main = next(c for c in spec["containers"] if c["name"] == service)
    workers, threads = settings.get("WEB_CONCURRENCY", "2"), settings.get("GUNICORN_THREADS", "4")
    argv = bare_gunicorn("python", "bare_app:create_app()", "0.0.0.0:8080", workers, threads)
    scratch = [m for m in main.get("volumeMounts", []) if m["name"] in ("tmp", "shm")]
    bare = {
        "name": service,
        "image": main["image"],
        "imagePullPolicy": main.get("imagePullPolicy", "IfNotPresent"),
        "command": argv,
        "env": [{"name": "PYTHONPATH", "value": "/bench"}],
        "envFrom": main.get("envFrom", []),
        "resources": main.get("resources", {}),
        "securityContext": main.get("securityContext", {}),
        "volumeMounts": [*scratch, {"name": "bench", "mountPath": "/bench", "readOnly": True}],
        "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
    }
    volumes = [v for v in spec.get("volumes", []) if v["name"] in {m["name"] for m in scratch}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/name": BARE}},
        "spec": {
            "nodeName": node,  # beside the service's pod: the same machine under both
            "automountServiceAccountToken": False,
            "securityContext": spec.get("securityContext", {}),
            "containers": [bare],
            "volumes": [*volumes, {"name": "bench", "configMap": {"name": BARE}}],
        },
    }


@dataclass(frozen=True)
class Pair:
    """A service's read and the bare endpoint it is compared with, each with its pod."""

    service: str
    name: str
    url: str
    pod: str
    bare_name: str
    bare_url: str
    bare_pod: str


def running_pod(namespace: str, deployment: dict[str, Any]) -> tuple[str, str]:
    """A running pod of the Deployment: its name and node."""
    labels = deployment["spec"]["selector"]["matchLabels"]
    selector = ",".join(f"{key}={value}" for key, value in labels.items())
    listing = kubectl(
        "get",
        "pods",
        "-n",
        namespace,
        "-l",
        selector,
        "--field-selector=status.phase=Running",
        "-o",
        "json",
    )
    pods = json.loads(listing)["items"]
    if not pods:
        raise SystemExit(f"error: no running pod of {deployment['metadata']['name']}")
    return pods[0]["metadata"]["name"], pods[0]["spec"]["nodeName"]


class Forward:
    """`kubectl port-forward pod/<pod> <local>:<remote>`, stopped on exit."""

    def __init__(self, namespace: str, pod: str, remote: int = 8080) -> None:
        self.port = free_port()
        command = [
            os.environ.get("KUBECTL", "kubectl"),
            "port-forward",
            "-n",
            namespace,
            f"pod/{pod}",
            f"{self.port}:{remote}",
        ]
        # Its stderr is left out: it reports every connection wrk drops at the end of a run.
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        assert self.process.stdout is not None
        first = self.process.stdout.readline()
        if "Forwarding" not in first:
            raise SystemExit(f"error: {shlex.join(command)} failed: {first.strip()}")

    def __enter__(self) -> Forward:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespace", default="emporium")
    parser.add_argument("--release", default="emporium")
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--only", choices=SERVICES, help="measure one service (and bare) only")
    args = parser.parse_args()
    ns, services = args.namespace, [args.only] if args.only else list(SERVICES)

    print(f"[1/4] bare Flask ({BARE}-<service>) from each service's pod template in {ns}")
    configmap = kubectl(
        "create",
        "configmap",
        BARE,
        "-n",
        ns,
        f"--from-file=bare_app.py={ROOT / 'tests/bench/bare_app.py'}",
        "--dry-run=client",
        "-o",
        "json",
    )
    kubectl("apply", "-n", ns, "-f", "-", stdin=configmap)
    served: dict[str, str] = {}
    try:
        for service in services:
            deployment = json.loads(
                kubectl("get", "deployment", "-n", ns, f"{args.release}-{service}", "-o", "json")
            )
            served[service], node = running_pod(ns, deployment)
            settings = json.loads(
                kubectl("get", "configmap", "-n", ns, f"{args.release}-{service}", "-o", "json")
            )["data"]
            pod = bare_pod(
                f"{BARE}-{service}", deployment["spec"]["template"], service, settings, node
            )
            kubectl("apply", "-n", ns, "-f", "-", stdin=json.dumps(pod))
            print(
                f"  {BARE}-{service} on {node}, beside {served[service]}: "
                f"{settings.get('WEB_CONCURRENCY')} workers x "
                f"{settings.get('GUNICORN_THREADS')} threads",
                flush=True,
            )
        for service in services:
            kubectl(
                "wait", "-n", ns, f"pod/{BARE}-{service}", "--for=condition=Ready", "--timeout=120s"
            )
        results = measure(args, ns, services, served)
    finally:
        print(f"[4/4] deleting the bare pods and the ConfigMap {BARE}", flush=True)
        for service in services:
            kubectl(
                "delete", "pod", f"{BARE}-{service}", "-n", ns, "--ignore-not-found", "--wait=false"
            )
        kubectl("delete", "configmap", BARE, "-n", ns, "--ignore-not-found")
    report(results)
    return 0


def measure(
    args: argparse.Namespace, ns: str, services: list[str], served: dict[str, str]
) -> dict[Pair, list[tuple[Run, Run]]]:
    with contextlib.ExitStack() as stack:
        forward = {
            pod: stack.enter_context(Forward(ns, pod)).port
            for pod in [*served.values(), *(f"{BARE}-{s}" for s in services)]
        }
        pairs = []
        if "catalog" in services:
            bare = f"{BARE}-catalog"
            pairs.append(
                Pair(
                    "catalog",
                    "catalog GET /api/catalog/products/{id}",
                    f"http://127.0.0.1:{forward[served['catalog']]}/api/catalog/products/{PRODUCT}",
                    served["catalog"],
                    "bare GET /bare",
                    f"http://127.0.0.1:{forward[bare]}/bare",
                    bare,
                )
            )
        if "cart" in services:
            bare = f"{BARE}-cart"
            cart = f"http://127.0.0.1:{forward[served['cart']]}"
            cart_id = fill_cart(cart)
            pairs.append(
                Pair(
                    "cart",
                    f"cart GET /api/cart/carts/{{id}} ({len(CART_PRODUCTS)} lines)",
                    f"{cart}/api/cart/carts/{cart_id}",
                    served["cart"],
                    "bare GET /carts/{id} (boto3 GetItem)",
                    f"http://127.0.0.1:{forward[bare]}/carts/{cart_id}",
                    bare,
                )
            )
        for pair in pairs:  # warm: the caches, the pools, the forwards
            wrk(pair.url, 2, args.connections)
            wrk(pair.bare_url, 2, args.connections)
        print(
            f"[3/4] wrk: {args.rounds} rounds x {args.seconds} s per pod, "
            f"{args.connections} connections, through kubectl port-forward",
            flush=True,
        )
        results: dict[Pair, list[tuple[Run, Run]]] = {pair: [] for pair in pairs}
        for number in range(1, args.rounds + 1):
            for pair in pairs:
                sides = [
                    (pair.name, pair.url, pair.pod),
                    (pair.bare_name, pair.bare_url, pair.bare_pod),
                ]
                if number % 2 == 0:
                    sides.reverse()  # neither side always runs first
                runs = {}
                for name, url, pod in sides:
                    before = cpu_seconds(ns, pod, pair.service)
                    run = wrk(url, args.seconds, args.connections)
                    used = cpu_seconds(ns, pod, pair.service) - before
                    runs[name] = Run(
                        run.rps, run.p50_ms, run.p99_ms, used * 1e6 / max(1, run.requests)
                    )
                    print(
                        f"  round {number}/{args.rounds}  {name:<46} {run.rps:>6.0f} req/s"
                        f"  p50 {run.p50_ms:6.2f} ms  p99 {run.p99_ms:6.2f} ms"
                        f"  {runs[name].cpu_us:6.0f} us CPU/req",
                        flush=True,
                    )
                results[pair].append((runs[pair.name], runs[pair.bare_name]))
        return results


@dataclass
class Run:
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float


def report(results: dict[Pair, list[tuple[Run, Run]]]) -> None:
    print(f"\n{'pod':<46} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'CPU us/req':>10}  (medians)")
    for pair, rounds in results.items():
        for index, name in ((1, pair.bare_name), (0, pair.name)):
            runs = [both[index] for both in rounds]
            rps, p50, p99, cpu = (
                statistics.median(getattr(r, field) for r in runs)
                for field in ("rps", "p50_ms", "p99_ms", "cpu_us")
            )
            print(f"{name:<46} {rps:>7.0f} {p50:>7.2f} {p99:>7.2f} {cpu:>10.0f}")
    print(
        "\nratios round by round, median [lowest, highest]; CPU:"
        " bare's CPU per request over the service's; req/s: both capped by kubectl port-forward"
    )
    for pair, rounds in results.items():
        cpu = sorted(bare.cpu_us / ours.cpu_us for ours, bare in rounds)
        rps = sorted(ours.rps / bare.rps for ours, bare in rounds)
        print(
            f"{pair.service} / {pair.bare_name}: CPU {spread(cpu)}"
            f" ({verdict(statistics.median(cpu))}), req/s {spread(rps)}"
        )


if __name__ == "__main__":
    sys.exit(main())
