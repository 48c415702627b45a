"""`make run`: the whole store on this machine, with local stand-ins for AWS.

Starts the DynamoDB emulator, Redis, every service under gunicorn, seeds the catalog, prints
where everything is, and on Ctrl-C stops everything it started.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType

from devstack.processes import Group, StartupError, port_open
from devstack.stack import (
    LOCAL_ADMIN_TOKEN,
    SERVICES,
    Ports,
    redis_mode,
    seed_catalog,
    service_env,
    start_dynamodb,
    start_gunicorn,
    start_redis,
)
from emporium.config import ConfigError


def _step(number: int, total: int, text: str) -> None:
    print(f"[{number}/{total}] {text}", flush=True)


def run() -> int:
    environ = dict(os.environ)
    try:
        ports = Ports.from_env(environ)
    except ConfigError as error:
        print(f"make run: {error}", file=sys.stderr)
        return 2
    busy = [f"{port} ({name})" for name, port in ports.named() if port_open(port)]
    if busy:
        print(
            f"make run: port {', '.join(busy)} is in use; stop what holds it or set that variable",
            file=sys.stderr,
        )
        return 2

    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    env = service_env(ports, environ)
    total = 3 + len(SERVICES)
    group = Group(echo=False)
    try:
        _step(1, total, f"DynamoDB emulator (moto server) on :{ports.dynamodb}")
        start_dynamodb(group, ports.dynamodb, env)
        mode = redis_mode(environ)
        _step(2, total, f"Redis ({mode}) on :{ports.redis}")
        start_redis(group, ports.redis, env, mode=mode)
        for number, service in enumerate(SERVICES, start=3):
            binds = [ports.services[service.name]]
            if service.name == "catalog":
                binds.append(ports.edge)  # the store's entry point, until the edge serves it
            _step(number, total, f"{service.name} on :{binds[0]}")
            start_gunicorn(group, service.name, service.app, binds, env)
        _step(total, total, "seeding the catalog")
        seed_catalog(group, env)
    except (StartupError, RuntimeError) as error:
        print(f"make run: {error}", file=sys.stderr)
        group.stop()
        return 1

    token = (
        "(from CATALOG_ADMIN_TOKEN)" if environ.get("CATALOG_ADMIN_TOKEN") else LOCAL_ADMIN_TOKEN
    )
    print(
        f"""
Emporium is running. Ctrl-C stops everything.

  store        http://localhost:{ports.edge}/api/catalog/products
  catalog      http://localhost:{ports.services["catalog"]}   \
(/api/catalog/openapi.json, /metrics, /readyz)
  DynamoDB     http://localhost:{ports.dynamodb}   (moto server)
  Redis        redis://localhost:{ports.redis}   ({mode})
  admin token  {token}

Service logs follow.
""",
        flush=True,
    )
    for child in group.children:
        if child.name in {service.name for service in SERVICES}:
            child.follow()

    exit_code = 0
    while not stop.wait(0.5):
        dead = [child for child in group.children if not child.running()]
        if dead:
            for child in dead:
                print(f"make run: {child.name} exited ({child.popen.returncode}):\n"
                      f"{child.output()}", file=sys.stderr)  # fmt: skip
            exit_code = 1
            break
    print("\nstopping: " + ", ".join(child.name for child in reversed(group.children)), flush=True)
    group.stop()
    print("stopped", flush=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(run())
