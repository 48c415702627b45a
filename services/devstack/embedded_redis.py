"""A Redis-protocol server in pure Python, for laptops without `redis-server`.

    python -m devstack.embedded_redis --port 6379

fakeredis answers the commands the services use (strings, Lua scripts, streams, consumer
groups). It keeps everything in memory and is meant for one developer, not for load.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from fakeredis import TcpFakeServer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=6379)
    args = parser.parse_args()

    server = TcpFakeServer((args.host, args.port), server_type="redis")

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"embedded redis listening on {args.host}:{args.port}", flush=True)
    server.serve_forever()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
