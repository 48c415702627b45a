"""The Redis client (ElastiCache on EKS): TLS with `rediss://`, an optional AUTH token,
explicit timeouts, one quick retry with jitter, and periodic health checks of idle connections.

redis-py's connection pool notices a fork and reconnects, so one client per app is safe under
gunicorn's preloading master.
"""

from __future__ import annotations

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry

from emporium.config import RedisSettings


def redis_client(settings: RedisSettings, *, client_name: str) -> redis.Redis:
    return redis.Redis.from_url(
        settings.url,
        password=settings.auth_token,
        socket_timeout=settings.socket_timeout,
        socket_connect_timeout=settings.connect_timeout,
        retry=Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.05), retries=1),
        health_check_interval=settings.health_check_interval,
        client_name=client_name,
    )
