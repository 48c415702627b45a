"""`python -m fulfillment`: the consumer loop in the foreground, without HTTP, for debugging.

It reads the same settings as the app. Ctrl-C or SIGTERM stops it the way SIGTERM stops a
gunicorn worker: nothing new is read, the messages in hand are finished, then it exits.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

from emporium.config import ConfigError
from emporium.health import DRAINING
from emporium.logs import configure_logging
from fulfillment.app import FulfillmentSettings, create_store, create_worker


def main() -> int:
    try:
        settings = FulfillmentSettings.from_env()
    except ConfigError as error:
        print(f"fulfillment: {error}", file=sys.stderr)
        return 2
    configure_logging("fulfillment", settings.service.log_level)

    def stop(signum: int, frame: FrameType | None) -> None:
        DRAINING.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    create_worker(settings, create_store(settings), DRAINING).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
