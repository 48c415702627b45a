"""The DynamoDB emulator of the laptop stack and the tests: moto's server, one call at a time.

    python -m devstack.dynamodb_emulator --port 8000 [--shards N]

With --shards above 1 this process is a front that spreads the tables over N emulator processes,
so that calls to different tables use different cores: see devstack/dynamodb_front.py. The
default, 1, is one emulator process: on two cores the shards gain little (the whole store is
the limit there) and cost the front's half millisecond a call.

Why not plain `moto_server`, three reasons found in moto's source (moto 5.1):

- Its HTTP server is threaded, but moto's DynamoDB backend is not thread-safe. TransactWriteItems
  deep-copies each table it touches (to roll back on failure, moto/dynamodb/models/__init__.py,
  transact_write_items) while another thread may be writing to that table, and then fails with
  "dictionary changed size during iteration": a 500 to the SDK. Concurrent checkouts run into it.
  Here connections are still served on threads (so one client's kept-alive connection does not
  hold up the others) but the backend handles one call at a time, as a single real table
  partition would apply them in some order.
- moto keeps every model object it ever created (moto/core/common_models.py: BaseModel.__new__
  appends each instance to its class's `instances_tracked`, for the /moto-api/ dashboard). With
  the table copies above, every checkout kept a copy of the whole orders table alive: the laptop
  soak saw the emulator grow by about 490 MB a minute. We call moto's own `reset_model_data()`
  after each call (the dashboard, which nothing here uses, then lists nothing).
- That deep copy costs time in proportion to the table, once per item of the transaction: the
  emulator got slower with every order stored. The rollback needs only the items the transaction
  touches, so during TransactWriteItems a table's copy shares the untouched items (nothing else
  runs meanwhile, and moto replaces an item on Put and Delete rather than changing it) and copies
  the touched ones, which Update changes in place. tests/integration/test_dynamodb_emulator.py
  holds the rollback to that; `python tests/bench/emulator.py` measures both against moto_server.

And three costs of moto's server that are not DynamoDB's, found with py-spy under the checkout
benchmark: its dispatcher works out each request's service again, listing moto's service
folders on disk every time (here: DynamoDB, or moto's own API for /moto-api/, each app made
once); werkzeug's handler speaks HTTP/1.0, so every SDK call opened a new connection and a new
thread (here: HTTP/1.1, kept alive); and it logged a line per call (an eighth of its time).
"""

from __future__ import annotations

import argparse
import copy
import os
import signal
import sys
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from types import FrameType
from typing import Any, BinaryIO

from moto.core.model_instances import reset_model_data
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server, run_simple

from devstack import dynamodb_front


class DynamoDBOnly:
    """moto's own API for /moto-api/ (the readiness check asks it), DynamoDB for the rest."""

    def __init__(self) -> None:
        self.dynamodb = create_backend_app("dynamodb")
        self.moto_api = create_backend_app("moto_api")

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        app = self.moto_api if path.startswith("/moto-api") else self.dynamodb
        return app(environ, start_response)


class KeptAlive(MotoRequestHandler):
    """No line logged per call. (Its HTTP/1.1 keeps no connection alive: werkzeug answers every
    call with `Connection: close`, then reads what the client sent for 10 ms and discards it,
    the next request included; so every SDK call opens a connection and a thread.)"""

    protocol_version = "HTTP/1.1"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class OneCallAtATime:
    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self.lock:
            try:
                return list(self.app(environ, start_response))  # the whole body, inside the lock
            finally:
                reset_model_data()  # let go of every object moto tracked for its dashboard


def touched_keys(transact_items: Iterable[Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The items (wire format) per table that TransactWriteItems names: a Put's item, the Key of
    the other operations; their key attributes are what `rollback_copy` reads."""
    keys: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in transact_items:
        for op_type, op in item.items():
            if isinstance(op, Mapping) and "TableName" in op:
                keys[op["TableName"]].append(op.get("Item" if op_type == "Put" else "Key") or {})
    return keys


def rollback_copy(table: Table, keys: Iterable[Mapping[str, Any]]) -> Table:
    """What moto keeps to restore `table` if the transaction fails: the same table with its own
    index of items, sharing every item but the ones the transaction may change in place."""
    saved = copy.copy(table)
    if table.has_range_key:
        saved.items = defaultdict(dict, {h: dict(r) for h, r in table.items.items()})
    else:
        saved.items = defaultdict(dict, table.items)
    for key in keys:
        try:
            hash_value = DynamoType(key[table.hash_key_attr])
            range_value = (
                DynamoType(key[table.range_key_attr]) if table.range_key_attr is not None else None
            )
        except (KeyError, TypeError):
            continue  # moto rejects the malformed key itself, before it changes anything
        item = table.get_item(hash_value, range_value)
        if item is None:
            continue
        kept: Any = copy.deepcopy(item)
        if range_value is not None:
            saved.items[hash_value][range_value] = kept
        else:
            saved.items[hash_value] = kept
    return saved


@contextmanager
def cheap_rollback_copies(transact_items: Iterable[Mapping[str, Any]]) -> Iterator[None]:
    """Within the block, `copy.deepcopy(table)` (moto's rollback copy) is `rollback_copy`. Safe
    only because one call runs at a time (OneCallAtATime)."""
    keys = touched_keys(transact_items)
    own = Table.__dict__.get("__deepcopy__")

    def deepcopy(table: Table, memo: dict[int, Any]) -> Table:
        return rollback_copy(table, keys.get(table.name, ()))

    Table.__deepcopy__ = deepcopy  # type: ignore[attr-defined]
    try:
        yield
    finally:
        if own is None:
            del Table.__deepcopy__  # type: ignore[attr-defined]
        else:
            Table.__deepcopy__ = own  # type: ignore[attr-defined]


def install_cheap_transactions() -> None:
    transact = DynamoDBBackend.transact_write_items

    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        with cheap_rollback_copies(transact_items):
            transact(self, transact_items)

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def exit_when_closed(stream: BinaryIO) -> None:
    """A shard's stdin is a pipe from its front: end of file means the front is gone."""

    def watch() -> None:
        while stream.read(1 << 12):
            pass
        os._exit(0)  # nothing to save: the tables lived in memory

    threading.Thread(target=watch, daemon=True).start()


def shards_setting(value: str) -> int:
    try:
        shards = int(value)
    except ValueError:
        shards = 0
    if shards < 1:
        raise argparse.ArgumentTypeError(f"--shards must be a whole number from 1, not {value!r}")
    return shards


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--shards",
        type=shards_setting,
        default=1,
        help="emulator processes behind one endpoint, each holding some of the tables"
        " (default 1: a single process, every table in it; up to the cores, 4 for the store's"
        " four tables)",
    )
    # A shard started by the front: serve this listening socket, exit when stdin closes.
    parser.add_argument("--shard-fd", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    def stop(signum: int, frame: FrameType | None) -> None:
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    # Ctrl-C too, explicitly: a process started in the background by a shell without job
    # control (a CI script's `cmd &`) inherits SIGINT ignored, and Python then leaves it so.
    signal.signal(signal.SIGINT, stop)
    if args.shard_fd is None and args.shards > 1:
        dynamodb_front.serve(args.host, args.port, args.shards)
        return 0
    install_cheap_transactions()
    app = OneCallAtATime(DynamoDBOnly())
    if args.shard_fd is not None:
        exit_when_closed(sys.stdin.buffer)
        shard = make_server(
            "127.0.0.1", 0, app, threaded=True, request_handler=KeptAlive, fd=args.shard_fd
        )
        shard.serve_forever()
        return 0
    run_simple(args.host, args.port, app, threaded=True, request_handler=KeptAlive)
    return 0


if __name__ == "__main__":
    sys.exit(main())
