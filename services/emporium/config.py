"""Configuration from environment variables, validated once at start-up.

A service reads its settings with `Env` into a frozen dataclass. A missing or malformed value
raises `ConfigError`, whose message is one line naming the variable; gunicorn (which loads the
app in its master, see `gunicorn_conf`) and the command-line tools print it and exit.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class ConfigError(RuntimeError):
    """A setting is missing or malformed. The message names the variable."""


class Env:
    """Typed, validated reads of environment variables, optionally under a prefix."""

    def __init__(self, prefix: str = "", environ: Mapping[str, str] | None = None) -> None:
        self.prefix = prefix
        self.environ = os.environ if environ is None else environ

    def _get(self, name: str) -> tuple[str, str | None]:
        var = self.prefix + name
        return var, self.environ.get(var) or None  # set but empty counts as unset

    def _required(self, name: str, default: str | None) -> tuple[str, str]:
        var, value = self._get(name)
        if value is not None:
            return var, value
        if default is None:
            raise ConfigError(f"{var} is required but not set")
        return var, default

    def optional(self, name: str) -> str | None:
        return self._get(name)[1]

    def text(self, name: str, default: str | None = None, *, pattern: str | None = None) -> str:
        var, value = self._required(name, default)
        if pattern is not None and not re.fullmatch(pattern, value):
            raise ConfigError(f"{var}={value!r} is malformed: expected to match {pattern}")
        return value

    def secret(self, name: str, *, min_length: int = 16) -> str:
        """A required secret; its value never appears in an error message."""
        var, value = self._required(name, None)
        if len(value) < min_length:
            raise ConfigError(
                f"{var} is too short: a secret needs at least {min_length} characters"
            )
        return value

    def integer(
        self, name: str, default: int, *, min: int | None = None, max: int | None = None
    ) -> int:
        var, value = self._get(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise ConfigError(f"{var}={value!r} is malformed: expected an integer") from None
        if (min is not None and number < min) or (max is not None and number > max):
            bounds = f"{'-inf' if min is None else min}..{'inf' if max is None else max}"
            raise ConfigError(f"{var}={number} is out of range: expected {bounds}")
        return number

    def number(self, name: str, default: float, *, min: float = 0.0) -> float:
        var, value = self._get(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"{var}={value!r} is malformed: expected a number") from None
        if not min <= number < float("inf"):
            raise ConfigError(f"{var}={number} is out of range: expected at least {min}")
        return number

    def flag(self, name: str, default: bool) -> bool:
        var, value = self._get(name)
        if value is None:
            return default
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise ConfigError(f"{var}={value!r} is malformed: expected true or false")

    def url(self, name: str, default: str | None = None, *, schemes: tuple[str, ...]) -> str:
        var, value = self._required(name, default)
        parts = urlsplit(value)
        # A URL may carry a password: the message shows it without one.
        shown = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
        if parts.scheme not in schemes or not parts.hostname:
            raise ConfigError(
                f"{var}={shown!r} is malformed: expected a URL like {schemes[0]}://host:port"
            )
        try:
            parts.port  # noqa: B018 - raises on a port that is not a number from 0 to 65535
        except ValueError:
            raise ConfigError(f"{var}={shown!r} is malformed: the port is not valid") from None
        return value


@dataclass(frozen=True)
class RedisSettings:
    """How a service reaches Redis (ElastiCache on EKS). Shared by every service that uses it."""

    url: str
    auth_token: str | None
    socket_timeout: float
    connect_timeout: float
    health_check_interval: int

    @classmethod
    def from_env(cls, env: Env) -> RedisSettings:
        return cls(
            url=env.url("REDIS_URL", "redis://localhost:6379/0", schemes=("redis", "rediss")),
            auth_token=env.optional("REDIS_AUTH_TOKEN"),
            socket_timeout=env.number("REDIS_SOCKET_TIMEOUT", 0.25, min=0.01),
            connect_timeout=env.number("REDIS_CONNECT_TIMEOUT", 0.25, min=0.01),
            health_check_interval=env.integer("REDIS_HEALTH_CHECK_INTERVAL", 15, min=0),
        )


@dataclass(frozen=True)
class ServiceSettings:
    """Settings every service has, read without a prefix."""

    log_level: str
    max_body_bytes: int
    dynamodb_create_tables: bool
    metrics_port: int

    @classmethod
    def from_env(cls, env: Env) -> ServiceSettings:
        return cls(
            log_level=env.text(
                "LOG_LEVEL", "INFO", pattern=r"(?i)DEBUG|INFO|WARNING|ERROR|CRITICAL"
            ).upper(),
            max_body_bytes=env.integer("MAX_BODY_BYTES", 64 * 1024, min=1024, max=16 * 1024 * 1024),
            dynamodb_create_tables=env.flag("DYNAMODB_CREATE_TABLES", False),
            metrics_port=env.integer("METRICS_PORT", 9090, min=1, max=65535),
        )
