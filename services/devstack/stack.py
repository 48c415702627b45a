"""The store on one machine: what runs where, and how each part is started.

Every port has a default and an environment variable to change it. The services get the same
variables they get in Kubernetes, pointing at the local stand-ins: moto's server for DynamoDB,
a local Redis, and the development OpenID issuer (`devstack.issuer`) for shoppers' sign-in.
"""

from __future__ import annotations

import secrets
import shutil
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from devstack.processes import Child, Group, StartupError, free_port, http_status, port_open
from emporium.config import Env

LOCAL_ADMIN_TOKEN = "local-admin-token-not-secret"  # noqa: S105 - laptop only, printed at start
LOCAL_INTERNAL_TOKEN = "local-internal-token-not-secret"  # noqa: S105 - orders <-> fulfillment
OIDC_CLIENT_ID = "emporium-ui"  # the store's page: the audience of the ID tokens orders accepts
ISSUER = "oidc-issuer"


@dataclass(frozen=True)
class Service:
    name: str
    app: str  # what gunicorn loads
    port_variable: str
    default_port: int
    env: Mapping[str, str] = field(default_factory=dict)  # on top of the shared environment

    @property
    def metrics_variable(self) -> str:
        """The variable of its /metrics port: CATALOG_PORT -> CATALOG_METRICS_PORT."""
        return self.port_variable.removesuffix("_PORT") + "_METRICS_PORT"


# In start order: each one's dependencies come before it; the edge, the entry point, last.
SERVICES = (
    # Sign-in for shoppers. One process: its key and its one-time codes live in its memory.
    Service(
        ISSUER,
        "devstack.issuer.app:create_app()",
        "OIDC_PORT",
        8086,
        {"WEB_CONCURRENCY": "1", "SERVICE_NAME": ISSUER},  # gunicorn's logs would say devstack
    ),
    Service("catalog", "catalog.app:create_app()", "CATALOG_PORT", 8081),
    Service("cart", "cart.app:create_app()", "CART_PORT", 8082),
    Service("orders", "orders.app:create_app()", "ORDERS_PORT", 8083),
    # One process: its consumer thread is the worker; more processes, more consumers.
    Service(
        "fulfillment",
        "fulfillment.app:create_app()",
        "FULFILLMENT_PORT",
        8084,
        {"WEB_CONCURRENCY": "1"},
    ),
    Service("ui", "ui.app:create_app()", "UI_PORT", 8085),
    Service("edge", "edge.app:create_app()", "EDGE_PORT", 8080),
)


@dataclass(frozen=True)
class Ports:
    dynamodb: int
    redis: int
    services: dict[str, int]
    metrics: dict[str, int]  # each service's /metrics, on a port of its own

    @property
    def edge(self) -> int:
        return self.services["edge"]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Ports:
        env = Env("", environ)

        def port(variable: str, default: int) -> int:
            return env.integer(variable, default, min=1, max=65535)

        services = {s.name: port(s.port_variable, s.default_port) for s in SERVICES}
        return cls(
            dynamodb=port("DYNAMODB_PORT", 8000),
            redis=port("REDIS_PORT", 6379),
            services=services,
            # 1000 above the service's own: catalog on 8081 has its metrics on 9081.
            metrics={
                s.name: port(s.metrics_variable, (services[s.name] + 1000 - 1) % 65535 + 1)
                for s in SERVICES
            },
        )

    @classmethod
    def free(cls) -> Ports:
        """Ports nothing listens on, for a stack beside another one (tests)."""
        return cls(
            free_port(),
            free_port(),
            {s.name: free_port() for s in SERVICES},
            {s.name: free_port() for s in SERVICES},
        )

    def named(self) -> Iterator[tuple[str, int]]:
        yield "DYNAMODB_PORT", self.dynamodb
        yield "REDIS_PORT", self.redis
        for service in SERVICES:
            yield service.port_variable, self.services[service.name]
        for service in SERVICES:
            yield service.metrics_variable, self.metrics[service.name]

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.services[service]}"

    def metrics_url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.metrics[service]}/metrics"

    def addresses(self) -> Addresses:
        """Every store and service of the stack, on this host."""
        return Addresses(
            dynamodb=f"http://127.0.0.1:{self.dynamodb}",
            redis=f"redis://127.0.0.1:{self.redis}/0",
            services={s.name: self.url(s.name) for s in SERVICES if s.name != ISSUER},
            issuer=self.issuer_url,
            store_origins=(f"http://localhost:{self.edge}", f"http://127.0.0.1:{self.edge}"),
        )

    @property
    def issuer_url(self) -> str:
        """The development issuer, as the browser and orders both name it: a token's `iss`
        must equal orders' ORDERS_OIDC_ISSUER to the character, so there is one spelling."""
        return self.url(ISSUER)


@dataclass(frozen=True)
class Addresses:
    """Where the services find their stores and each other: all that differs between this
    machine (`Ports.addresses`), a Docker network and a cluster."""

    dynamodb: str  # the DynamoDB endpoint's URL
    redis: str  # a redis:// URL
    services: Mapping[str, str] = field(default_factory=dict)  # base URL by name, of those running
    issuer: str | None = None  # the OpenID issuer, spelt as its tokens name it
    store_origins: tuple[str, ...] = ()  # where shoppers open the store: the issuer sends them back


# Which variable of which service names which other service: who calls whom.
SERVICE_URLS = {
    "CART_CATALOG_URL": "catalog",
    "ORDERS_CART_URL": "cart",
    "ORDERS_CATALOG_URL": "catalog",
    "FULFILLMENT_ORDERS_URL": "orders",
    **{f"EDGE_UPSTREAM_{name.upper()}": name for name in ("catalog", "cart", "orders", "ui")},
}


def service_env(where: Addresses, base: Mapping[str, str]) -> dict[str, str]:
    """The environment of a service process, whichever it is (each reads its own variables):
    the chart's variables, pointed at `where`. Used by `make run`, the integration tests and the
    container tests. `base` comes first; the tokens and keys it sets are kept, the others made."""
    internal_token = base.get("ORDERS_INTERNAL_TOKEN") or LOCAL_INTERNAL_TOKEN
    env = {
        **base,
        "AWS_REGION": "us-east-1",
        # moto accepts any credentials; never hand the developer's real ones to the emulator.
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_SESSION_TOKEN": "",
        "AWS_ENDPOINT_URL_DYNAMODB": where.dynamodb,
        "REDIS_URL": where.redis,
        "DYNAMODB_CREATE_TABLES": "true",
        "WEB_CONCURRENCY": base.get("WEB_CONCURRENCY") or "2",
        "CATALOG_ADMIN_TOKEN": base.get("CATALOG_ADMIN_TOKEN") or LOCAL_ADMIN_TOKEN,
        # A key of this run's own: cursors of an earlier run stop verifying, as after a rotation.
        "CATALOG_HMAC_KEY": base.get("CATALOG_HMAC_KEY") or secrets.token_urlsafe(32),
        "ORDERS_INTERNAL_TOKEN": internal_token,
        "ORDERS_HMAC_KEY": base.get("ORDERS_HMAC_KEY") or secrets.token_urlsafe(32),  # per run
        "FULFILLMENT_ORDERS_TOKEN": internal_token,
    }
    env.update(
        (variable, where.services[name])
        for variable, name in SERVICE_URLS.items()
        if name in where.services
    )
    if where.issuer is not None:
        # Sign-in: the issuer signs for the store's page, which may be opened by several names.
        env.update(
            {
                "OIDC_ISSUER_URL": where.issuer,
                "OIDC_CLIENT_ID": OIDC_CLIENT_ID,
                "OIDC_REDIRECT_ORIGINS": ",".join(where.store_origins),
                "ORDERS_OIDC_ISSUER": where.issuer,
                "ORDERS_OIDC_AUDIENCE": OIDC_CLIENT_ID,
                "UI_OIDC_AUTHORIZE_URL": f"{where.issuer}/authorize",
                "UI_OIDC_TOKEN_URL": f"{where.issuer}/token",
                "UI_OIDC_CLIENT_ID": OIDC_CLIENT_ID,
            }
        )
    return env


def start_dynamodb(
    group: Group, port: int, env: Mapping[str, str], log_path: str | None = None
) -> Child:
    argv = [sys.executable, "-m", "devstack.dynamodb_emulator", "--port", str(port)]
    shards = env.get("DEVSTACK_DYNAMODB_SHARDS", "")  # default: the emulator's (1)
    if shards:
        if not shards.isdigit() or int(shards) < 1:
            raise StartupError(
                f"DEVSTACK_DYNAMODB_SHARDS must be a whole number from 1, not {shards!r}"
            )
        argv += ["--shards", shards]
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
        argv = [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
        ]
    else:
        argv = [sys.executable, "-m", "devstack.embedded_redis", "--port", str(port)]
    child = group.start(f"redis:{port}", argv, env, log_path)
    child.wait_until(lambda: port_open(port), "listening")
    return child


def start_gunicorn(
    group: Group,
    name: str,
    app: str,
    port: int,
    env: Mapping[str, str],
    *,
    metrics_port: int | None = None,
    ready_path: str = "/readyz",
    log_path: str | None = None,
) -> Child:
    """`app` under gunicorn with the shared configuration, on 127.0.0.1 at `port` and, for
    /metrics, at `metrics_port` (any free port by default); returns once `ready_path` is 200."""
    env = {
        **env,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "METRICS_PORT": str(metrics_port or free_port()),
    }
    argv = [sys.executable, "-m", "gunicorn", "-c", "python:emporium.gunicorn_conf", app]
    child = group.start(name, argv, env, log_path)
    child.wait_until(
        lambda: http_status(f"http://127.0.0.1:{port}{ready_path}") == 200, "ready", timeout=60
    )
    return child


def seed_catalog(group: Group, env: Mapping[str, str]) -> None:
    child = group.start("seed", [sys.executable, "-m", "catalog.seed"], env)
    code = child.popen.wait(timeout=120)
    child.stop()
    group.children.remove(child)  # done: not a process to watch or stop
    if code != 0:
        raise RuntimeError(f"seeding failed ({code}):\n{child.output()}")


def start_store(
    group: Group,
    ports: Ports,
    env: Mapping[str, str],
    *,
    redis: str,
    on_step: Callable[[str], None] = lambda step: None,
    log_dir: str | None = None,
) -> None:
    """Start the stand-ins and every service in order, seeding the catalog once it is up."""

    def log_path(name: str) -> str | None:
        return f"{log_dir}/{name}.log" if log_dir else None

    on_step(f"DynamoDB emulator (moto server) on :{ports.dynamodb}")
    start_dynamodb(group, ports.dynamodb, env, log_path("dynamodb"))
    on_step(f"Redis ({redis}) on :{ports.redis}")
    start_redis(group, ports.redis, env, mode=redis, log_path=log_path("redis"))
    for service in SERVICES:
        on_step(f"{service.name} on :{ports.services[service.name]}")
        start_gunicorn(
            group,
            service.name,
            service.app,
            ports.services[service.name],
            {**env, **service.env},
            metrics_port=ports.metrics[service.name],
            log_path=log_path(service.name),
        )
        if service.name == "catalog":
            on_step("seeding the catalog")
            seed_catalog(group, env)
