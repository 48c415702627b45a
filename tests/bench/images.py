"""Benchmark: the images' sizes, how fast a service container is ready, and its idle memory.

    .venv/bin/python tests/bench/images.py            (after `make images`; needs Docker)

Prints, for each image (emporium/<name>:dev unless --tag): its size and its size above its
base image (target: a service at most 60 MB above it). Then, on a network of its own with the
Redis and DynamoDB emulator images, each service container is started --runs times, hardened
as in the cluster: the time from `docker run` to /readyz answering 200 (target: under 3 s),
the time from SIGTERM (`docker stop`) to exit, and the memory of the last one after it has
idled a few seconds (`docker stats --no-stream`). Each image names its base in a label.
Figures only: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import requests

from devstack.stack import Addresses, service_env

DOCKER = os.environ.get("DOCKER", "docker")
SERVICES = ("catalog", "cart", "orders", "fulfillment", "ui", "edge")
HARDENED = [
    "--read-only",
    "--tmpfs",
    "/tmp:size=64m",  # noqa: S108 - the container's own tmpfs
    "--security-opt",
    "no-new-privileges",
    "--cap-drop",
    "ALL",
]
# Every service's variables at once, made as `make run` makes them: dependencies by name on
# the network; unused ones are ignored.
ENV = service_env(
    Addresses(
        dynamodb="http://dynamodb:8000",
        redis="redis://redis:6379/0",
        services={name: f"http://{name}:8080" for name in SERVICES},
        issuer="http://issuer.invalid",  # never fetched: nothing lists orders here
    ),
    {
        "WEB_CONCURRENCY": "1",  # the images' own default
        "CATALOG_ADMIN_TOKEN": "bench-admin-token-0123",
        "CATALOG_HMAC_KEY": "bench-catalog-hmac-key-0123456789abcdef",
        "ORDERS_INTERNAL_TOKEN": "bench-internal-token",
        "ORDERS_HMAC_KEY": "bench-hmac-key-0123456789abcdef-0123",
    },
)


def docker(*args: str) -> str:
    done = subprocess.run([DOCKER, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"$ {DOCKER} {' '.join(args)}\n{done.stderr.strip()}")
    return done.stdout.strip()


def logs(container: str) -> str:
    """Both of the container's streams: werkzeug and gunicorn log to stderr."""
    done = subprocess.run(
        [DOCKER, "logs", container], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False
    )
    return done.stdout.decode(errors="replace")


def inspect(image: str) -> dict[str, object]:
    found: list[dict[str, object]] = json.loads(docker("image", "inspect", image))
    return found[0]


def size_above_base(image: str) -> tuple[float, str, float | None]:
    """MB (10^6 bytes) of the image, its base (from its label), and MB above that base."""
    mine = inspect(image)
    size = int(mine["Size"])  # type: ignore[call-overload]
    base = mine["Config"]["Labels"].get("org.opencontainers.image.base.name", "?")  # type: ignore[index]
    try:
        theirs = inspect(base)
    except SystemExit:
        return size / 1e6, base, None  # not on this machine
    return size / 1e6, base, (size - int(theirs["Size"])) / 1e6  # type: ignore[call-overload]


@contextmanager
def network_with_stand_ins(tag: str) -> Iterator[str]:
    network = f"emporium-bench-{uuid.uuid4().hex[:8]}"
    docker("network", "create", network)
    started = []
    try:
        for name, ready_line in (("redis", "Ready to accept"), ("dynamodb", "Running on")):
            started.append(
                docker(
                    "run", "-d", "--network", network, "--network-alias", name, *HARDENED,
                    f"emporium/{name}:{tag}",
                )
            )  # fmt: skip
            deadline = time.monotonic() + 30
            while ready_line not in logs(started[-1]):
                if time.monotonic() > deadline:
                    raise SystemExit(f"{name} did not start:\n{logs(started[-1])}")
                time.sleep(0.05)
        yield network
    finally:
        for container in started:
            docker("rm", "-f", container)
        docker("network", "rm", network)


def start_and_time(image: str, network: str) -> tuple[str, float]:
    """Start a service container; returns it and the seconds until /readyz said 200."""
    env = [arg for name, value in ENV.items() for arg in ("-e", f"{name}={value}")]
    started = time.monotonic()
    container = docker(
        "run", "-d", "--network", network, "-p", "127.0.0.1::8080", *HARDENED, *env, image
    )
    port = docker("port", container, "8080/tcp").splitlines()[0].rsplit(":", 1)[1]
    deadline = started + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return container, time.monotonic() - started
        except requests.RequestException:
            pass
        time.sleep(0.01)
    output = logs(container)
    docker("rm", "-f", container)
    raise SystemExit(f"{image} was not ready in 60 s:\n{output}")


def stop_and_time(container: str) -> float:
    started = time.monotonic()
    docker("stop", container)
    stopped = time.monotonic() - started
    code = docker("inspect", "-f", "{{.State.ExitCode}}", container)
    docker("rm", container)
    if code != "0":
        print(f"  (exit code {code} after SIGTERM)")
    return stopped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", default="dev")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    args = parser.parse_args()
    print("image sizes (MB = 10^6 bytes), and above the base each image's label names")
    print(f"  {'image':<26} {'size':>8} {'above base':>11}  base")
    for name in (*SERVICES, "redis", "dynamodb"):
        image = f"emporium/{name}:{args.tag}"
        size, base, above = size_above_base(image)
        shown = f"{above:8.1f} MB" if above is not None else "       ? MB"
        print(f"  {image:<26} {size:5.1f} MB {shown}  {base}")

    print(f"\nservice containers, {args.runs} runs each (read-only root, /tmp tmpfs, no caps)")
    print(f"  {'service':<12} {'run to ready':>22} {'SIGTERM to exit':>17} {'idle memory':>14}")
    with network_with_stand_ins(args.tag) as network:
        for name in SERVICES:
            image = f"emporium/{name}:{args.tag}"
            ready, stop, memory = [], [], ""
            for run in range(args.runs):
                container, seconds = start_and_time(image, network)
                ready.append(seconds)
                if run == args.runs - 1:
                    time.sleep(args.idle_seconds)  # idle: nothing calls it meanwhile
                    usage = docker("stats", "--no-stream", "--format", "{{.MemUsage}}", container)
                    memory = usage.split(" / ")[0]
                stop.append(stop_and_time(container))
            print(
                f"  {name:<12} median {statistics.median(ready):.2f} s, max {max(ready):.2f} s"
                f"   median {statistics.median(stop):.2f} s {memory:>14}"
            )


if __name__ == "__main__":
    main()
