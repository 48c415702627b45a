"""The DynamoDB emulator of the laptop stack and the tests: moto's server, one call at a time.

    python -m devstack.dynamodb_emulator --port 8000

Why not plain `moto_server`: its HTTP server is threaded, but moto's DynamoDB backend is not
thread-safe. TransactWriteItems deep-copies each table it touches (to roll back on failure,
moto/dynamodb/models/__init__.py, transact_write_items) while another thread may be writing to
that table, and then fails with "dictionary changed size during iteration": a 500 to the SDK.
Concurrent checkouts run into it. Here connections are still served on threads (so one
client's kept-alive connection does not hold up the others) but the backend handles one call
at a time, as a single real table partition would apply them in some order.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


class OneCallAtATime:
    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self.lock:
            return list(self.app(environ, start_response))  # the whole body, inside the lock


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()

    def stop(signum: int, frame: FrameType | None) -> None:
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    app = OneCallAtATime(DomainDispatcherApplication(create_backend_app))
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
