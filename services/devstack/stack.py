"""The store on one machine: what runs where, and how each part is started.

Every port has a default and an environment variable to change it. The services get the same
variables they get in Kubernetes, pointing at the local stand-ins.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from devstack.processes import Child, Group, http_status, port_open
from emporium.config import Env

LOCAL_ADMIN_TOKEN = "local-admin-token-not-secret"  # noqa: S105 - laptop only, printed at start


@dataclass(frozen=True)
class Service:
    name: str
    app: str  # what gunicorn loads
    port_variable: str
    default_port: int


SERVICES = (Service("catalog", "catalog.app:create_app()", "CATALOG_PORT", 8081),)


@dataclass(frozen=True)
class Ports:
    edge: int
    dynamodb: int
    redis: int
    services: dict[str, int]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Ports:
        env = Env("", environ)

        def port(variable: str, default: int) -> int:
            return env.integer(variable, default, min=1, max=65535)

        return cls(
            edge=port("EDGE_PORT", 8080),
            dynamodb=port("DYNAMODB_PORT", 8000),
            redis=port("REDIS_PORT", 6379),
            services={s.name: port(s.port_variable, s.default_port) for s in SERVICES},
        )

    def named(self) -> Iterator[tuple[str, int]]:
        yield "EDGE_PORT", self.edge
        yield "DYNAMODB_PORT", self.dynamodb
        yield "REDIS_PORT", self.redis
        for service in SERVICES:
            yield service.port_variable, self.services[service.name]


def service_env(ports: Ports, base: Mapping[str, str]) -> dict[str, str]:
    """The environment of every service process: the chart's variables, pointed at this host."""
    return {
        **base,
        "AWS_REGION": "us-east-1",
        # moto accepts any credentials; never hand the developer's real ones to the emulator.
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_SESSION_TOKEN": "",
        "AWS_ENDPOINT_URL_DYNAMODB": f"http://127.0.0.1:{ports.dynamodb}",
        "REDIS_URL": f"redis://127.0.0.1:{ports.redis}/0",
        "DYNAMODB_CREATE_TABLES": "true",
        "CATALOG_ADMIN_TOKEN": base.get("CATALOG_ADMIN_TOKEN") or LOCAL_ADMIN_TOKEN,
        "WEB_CONCURRENCY": base.get("WEB_CONCURRENCY") or "2",
        "HOST": "127.0.0.1",
    }


def start_dynamodb(
    group: Group, port: int, env: Mapping[str, str], log_path: str | None = None
) -> Child:
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    child = group.start("dynamodb", argv, env, log_path)
    child.wait_until(
        lambda: http_status(f"http://127.0.0.1:{port}/moto-api/") is not None, "answering"
    )
    return child


def redis_mode(env: Mapping[str, str]) -> str:
    """`redis-server` when it is installed, else the embedded server (DEVSTACK_REDIS forces one)."""
    choice = env.get("DEVSTACK_REDIS", "auto")
    if choice == "auto":
        return "redis-server" if shutil.which("redis-server") else "embedded"
    return choice


def start_redis(
    group: Group, port: int, env: Mapping[str, str], *, mode: str, log_path: str | None = None
) -> Child:
    if mode == "redis-server":
        argv = ["redis-server", "--bind", "127.0.0.1", "--port", str(port),
                "--save", "", "--appendonly", "no"]  # fmt: skip
    else:
        argv = [sys.executable, "-m", "devstack.embedded_redis", "--port", str(port)]
    child = group.start(f"redis:{port}", argv, env, log_path)
    child.wait_until(lambda: port_open(port), "listening")
    return child


def start_gunicorn(
    group: Group,
    name: str,
    app: str,
    binds: list[int],
    env: Mapping[str, str],
    *,
    ready_path: str = "/readyz",
    log_path: str | None = None,
) -> Child:
    """`app` under gunicorn with the shared configuration; returns once `ready_path` is 200."""
    argv = [sys.executable, "-m", "gunicorn", "-c", "python:emporium.gunicorn_conf"]
    for port in binds:
        argv += ["--bind", f"127.0.0.1:{port}"]
    child = group.start(name, [*argv, app], env, log_path)
    child.wait_until(
        lambda: http_status(f"http://127.0.0.1:{binds[0]}{ready_path}") == 200, "ready", timeout=60
    )
    return child


def seed_catalog(group: Group, env: Mapping[str, str]) -> None:
    child = group.start("seed", [sys.executable, "-m", "catalog.seed"], env)
    code = child.popen.wait(timeout=120)
    child.stop()
    group.children.remove(child)  # done: not a process to watch or stop
    if code != 0:
        raise RuntimeError(f"seeding failed ({code}):\n{child.output()}")
