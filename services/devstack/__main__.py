"""`make run`: the whole store on this machine, with local stand-ins for AWS.

Starts the DynamoDB emulator, Redis, the development sign-in issuer and every service under
gunicorn, seeds the catalog, prints where everything is, and on Ctrl-C stops everything it
started.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType

from devstack.processes import Group, StartupError, port_open
from devstack.stack import (
    ISSUER,
    LOCAL_ADMIN_TOKEN,
    SERVICES,
    Ports,
    redis_mode,
    service_env,
    start_store,
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

    env = service_env(ports.addresses(), environ)
    total = 3 + len(SERVICES)  # DynamoDB, Redis, the seeding, then each service
    steps = iter(range(1, total + 1))
    group = Group(echo=False)
    try:
        start_store(
            group,
            ports,
            env,
            redis=redis_mode(environ),
            on_step=lambda text: _step(next(steps), total, text),
        )
    except (StartupError, RuntimeError) as error:
        print(f"make run: {error}", file=sys.stderr)
        group.stop()
        return 1

    services = "\n".join(
        f"  {name:<12} http://localhost:{port}   (/readyz; /metrics on :{ports.metrics[name]})"
        for name, port in ports.services.items()
        if name not in ("edge", ISSUER)
    )
    token = (
        "(from CATALOG_ADMIN_TOKEN)" if environ.get("CATALOG_ADMIN_TOKEN") else LOCAL_ADMIN_TOKEN
    )
    print(
        f"""
Emporium is running. Ctrl-C stops everything.

  the store    http://localhost:{ports.edge}/   (the UI; /api/<service>/... to each API)
{services}
  sign-in      {ports.issuer_url}   (development OpenID issuer: an email, no password;
               POST /dev/token gives curl a token, see the README's Sign-in)
  DynamoDB     http://localhost:{ports.dynamodb}   (moto server)
  Redis        redis://localhost:{ports.redis}   ({redis_mode(environ)})
  admin token  {token}   (catalog writes)

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
                code = child.popen.returncode
                print(f"make run: {child.name} exited ({code}):\n{child.output()}", file=sys.stderr)
            exit_code = 1
            break
    print("\nstopping: " + ", ".join(child.name for child in reversed(group.children)), flush=True)
    group.stop()
    print("stopped", flush=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(run())
