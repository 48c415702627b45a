"""Soak: find the store's maximum, then hold it at 70% for a while; errors and memory.

    make soak URL=http://localhost:8080 [DURATION=300]
    .venv/bin/python tests/bench/soak.py --url http://localhost:8080 --duration 300

Two steps with the shopper journeys of tests/load/locustfile.py, `--users` users throughout:

1. ramp: each user paced at 1, 2, 4, ... journeys per second, `--step-seconds` at each pace,
   until the store serves less than 85% of what is asked (or errs): the most requests per
   second it served is the maximum; the first step tells how many requests a pace of one
   makes (the mix of journeys is the same at every pace);
2. soak: the users paced so that the store gets `--fraction` (0.7) of the maximum, for
   `--duration` seconds, while every process's memory is sampled every `--interval` seconds.

Memory: on this machine (`make run`), the resident set (VmRSS of /proc/<pid>/status) of every
process under `python -m devstack` (found in /proc, or `--store-pid`); on a cluster
(`--namespace`), each container's cgroup memory (`kubectl exec <pod> -c <container> -- cat
/sys/fs/cgroup/memory/memory.usage_in_bytes`, cgroups v1). Prints per process the first, last
and largest sample and the least-squares slope (MB per minute), then the load report of the
soak (tests/load/run.py's, checkout to SHIPPED included; `--fulfillment-workers N` adds orders
SHIPPED/s per worker). Exits 1 if the soak saw any error. It prints figures; it passes no
judgement on them.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "load"))

import run as load  # noqa: E402

MB = 1024 * 1024


def step(message: str) -> None:
    print(f"==> {message}", flush=True)


# ---- memory on this machine ----------------------------------------------------------------


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _parent(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(stat.rsplit(")", 1)[1].split()[1])


def _all_pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def find_store() -> int:
    """The pid of `python -m devstack` (make run); a one-line error when there is none or two."""
    found = [pid for pid in _all_pids() if _cmdline(pid)[1:3] == ["-m", "devstack"]]
    if len(found) != 1:
        raise SystemExit(
            f"error: found {len(found)} `python -m devstack` processes ({found});"
            " pass --store-pid <pid of make run's python -m devstack>"
        )
    return found[0]


def descendants(root: int) -> list[int]:
    parents = {pid: _parent(pid) for pid in _all_pids()}
    found: list[int] = []
    frontier = [root]
    while frontier:
        current = frontier.pop()
        children = [pid for pid, parent in parents.items() if parent == current]
        found.extend(children)
        frontier.extend(children)
    return sorted(found)


def describe(pid: int, root: int) -> str:
    """catalog (master) / catalog (worker) / dynamodb emulator / redis-server ..."""
    args = _cmdline(pid)
    for arg in args:
        if arg.endswith(".app:create_app()"):
            service = arg.removesuffix(".app:create_app()").rsplit(".", 1)[-1]
            service = "oidc-issuer" if service == "issuer" else service
            return f"{service} ({'master' if _parent(pid) == root else 'worker'})"
    if "devstack.dynamodb_emulator" in args:
        return "dynamodb emulator"
    if "devstack.embedded_redis" in args:
        return "redis (embedded)"
    return Path(args[0]).name if args else "?"


def rss_bytes(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def local_sampler(root: int) -> Callable[[], dict[str, int]]:
    def sample() -> dict[str, int]:
        found: dict[str, int] = {}
        for pid in descendants(root):
            rss = rss_bytes(pid)
            if rss is not None:
                found[f"{describe(pid, root)} {pid}"] = rss
        return found

    return sample


# ---- memory on a cluster -------------------------------------------------------------------


def kubectl(*args: str) -> str:
    command = [os.environ.get("KUBECTL", "kubectl"), *args]
    done = subprocess.run(command, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"error: {shlex.join(command)} failed: {done.stderr.strip()}")
    return done.stdout


CONTAINERS = "{.spec.containers[*].name}"


def cluster_sampler(namespace: str) -> Callable[[], dict[str, int]]:
    listing = kubectl(
        "get", "pods", "-n", namespace, "--field-selector=status.phase=Running",
        "-o", f"jsonpath={{range .items[*]}}{{.metadata.name}} {CONTAINERS}{{'\\n'}}{{end}}",
    )  # fmt: skip
    containers = [
        (line.split()[0], name)
        for line in listing.splitlines()
        if line
        for name in line.split()[1:]
    ]
    if not containers:
        raise SystemExit(f"error: no running pods in namespace {namespace}")

    def sample() -> dict[str, int]:
        found: dict[str, int] = {}
        for pod, container in containers:
            usage = kubectl(
                "exec", "-n", namespace, pod, "-c", container, "--",
                "cat", "/sys/fs/cgroup/memory/memory.usage_in_bytes",
            )  # fmt: skip
            found[f"{pod}/{container}"] = int(usage.strip())
        return found

    return sample


# ---- the soak ------------------------------------------------------------------------------


def slope_mb_per_minute(samples: list[tuple[float, int]]) -> float:
    if len(samples) < 2:
        return 0.0
    times = [t for t, _ in samples]
    values = [v / MB for _, v in samples]
    mean_t = sum(times) / len(times)
    mean_v = sum(values) / len(values)
    spread = sum((t - mean_t) ** 2 for t in times)
    if spread == 0:
        return 0.0
    slope = sum((t - mean_t) * (v - mean_v) for t, v in zip(times, values, strict=True)) / spread
    return slope * 60


def memory_table(series: dict[str, list[tuple[float, int]]]) -> str:
    head = f"{'process':<36} {'samples':>7} {'first':>8} {'last':>8} {'max':>8} {'MB/min':>8}"
    lines = [head, "-" * len(head)]
    for name in sorted(series):
        points = series[name]
        values = [v for _, v in points]
        lines.append(
            f"{name:<36} {len(points):>7} {values[0] / MB:>7.1f}M {values[-1] / MB:>7.1f}M"
            f" {max(values) / MB:>7.1f}M {slope_mb_per_minute(points):>+8.2f}"
        )
    return "\n".join(lines)


def ramp(url: str, users: int, seconds: int, issuer: str) -> tuple[float, float]:
    """The most requests/s the store served, and requests/s per unit of pace at pace 1.

    The pace doubles while the store keeps up (serves at least 85% of what the pace asks, with
    no errors); the journeys' mix stays the same at every pace, unlike users without a pause,
    where the short journeys crowd out the long ones.
    """
    pace = 1.0
    per_pace = 0.0
    best = 0.0
    while True:
        report = load.run(url, users, seconds, issuer=issuer, pace=pace, quiet=True)
        served = report.total.rps
        if per_pace == 0:
            if served <= 0:
                raise SystemExit("error: the ramp's first step served no requests")
            per_pace = served
        asked = pace * per_pace
        print(
            f"  pace {pace:5.1f}: asked {asked:7.1f} req/s, served {served:7.1f}"
            f" (p95 {report.total.p95:.0f} ms), {report.error_count} errors",
            flush=True,
        )
        best = max(best, served)
        if report.error_count or served < 0.85 * asked or pace >= 256:
            return best, per_pace
        pace *= 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://localhost:8080")
    parser.add_argument("--duration", type=int, default=300, help="soak seconds")
    parser.add_argument("--fraction", type=float, default=0.7, help="of the maximum")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--step-seconds", type=int, default=15, help="each pace of the ramp")
    parser.add_argument("--interval", type=float, default=10.0, help="memory sampling, seconds")
    parser.add_argument("--issuer", default=os.environ.get("LOAD_ISSUER", ""))
    parser.add_argument("--store-pid", type=int, default=None, help="make run's python -m devstack")
    parser.add_argument("--namespace", default="", help="a cluster's namespace instead of /proc")
    parser.add_argument(
        "--fulfillment-workers",
        type=int,
        default=None,
        help="fulfillment's worker processes, for the report's orders SHIPPED/s per worker",
    )
    args = parser.parse_args(argv)
    if not 0 < args.fraction <= 1:
        parser.error("--fraction must be in (0, 1]")
    if args.fulfillment_workers is not None and args.fulfillment_workers < 1:
        parser.error("--fulfillment-workers must be at least 1")
    users = args.users

    if args.namespace:
        sample = cluster_sampler(args.namespace)
    else:
        sample = local_sampler(args.store_pid or find_store())
    step(f"memory sampled from {len(sample())} processes/containers")
    print(f"load average: {os.getloadavg()}")

    step(
        f"ramp: {users} users against {args.url}, {args.step_seconds} s at each pace"
        " (journeys/s per user: 1, 2, 4, ...) until the store stops keeping up"
    )
    maximum, per_pace = ramp(args.url, users, args.step_seconds, args.issuer)
    target = args.fraction * maximum
    pace = target / per_pace
    print(
        f"maximum {maximum:.1f} req/s; {per_pace:.1f} req/s per journey/s per user;"
        f" target {target:.1f} req/s = {pace:.2f} journeys/s per user"
    )

    step(f"soak: {users} users at {pace:.2f} journeys/s each for {args.duration} s")
    result: list[load.Report] = []
    soak = threading.Thread(
        target=lambda: result.append(
            load.run(
                args.url,
                users,
                args.duration,
                issuer=args.issuer,
                pace=pace,
                spawn_rate=users,
                quiet=True,
            )
        )
    )
    started = time.monotonic()
    soak.start()
    series: dict[str, list[tuple[float, int]]] = {}
    shown = 0.0
    while soak.is_alive():
        now = time.monotonic() - started
        for name, value in sample().items():
            series.setdefault(name, []).append((now, value))
        if now - shown >= 60:  # a long soak says how far it is
            print(f"  {now:.0f} of {args.duration} s", flush=True)
            shown = now
        soak.join(timeout=args.interval)
    if not result:
        raise SystemExit("error: the soak's load run failed (see above)")
    report = result[0]

    step("memory during the soak (first, last, largest sample; least-squares slope)")
    print(memory_table(series))
    step(f"the soak's load (target {target:.1f} req/s, {args.fraction:.0%} of {maximum:.1f})")
    load.print_report(report, args.fulfillment_workers)
    print(f"load average: {os.getloadavg()}")
    if report.error_count or report.exit_code:
        print(f"FAILED: {report.error_count} errors during the soak", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
