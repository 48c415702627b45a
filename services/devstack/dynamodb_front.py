"""The sharded DynamoDB emulator: one endpoint in front of several emulator processes.

    python -m devstack.dynamodb_emulator --port 8000 --shards 2

moto's DynamoDB backend takes one call at a time, so one emulator process uses at most one core,
and under the checkout benchmark it was the store's limit. Here each table lives in one shard
(an emulator process of its own, on a loopback port the front chose), so calls to different
tables run on different cores, while services and tests still see one endpoint speaking
DynamoDB's HTTP/JSON protocol. The front reads each call's JSON body for the table(s) it names
(TableName; the tables of TransactItems and RequestItems; a table's ARN) and passes the request
on unchanged to the shard of those tables. Clients' connections to the front stay open between
calls; a shard, being werkzeug's server, closes its connection after each answer.

- A table goes to a shard the first time a call names it, round robin (the store's four tables
  spread evenly), and stays there; the front's output says where each went.
- A call naming tables of two shards (a transaction, a batch) gets DynamoDB's own error shape,
  a 400 ValidationException saying so: run with --shards 1 if you need that.
- ListTables asks every shard and merges their names (sorted, as DynamoDB lists them; Limit and
  ExclusiveStartTableName applied to the merged list). Calls that name no table, and moto's own
  /moto-api/ (the readiness check), go to shard 0.
- The front stops its shards when it stops; if it is killed outright, each shard sees its pipe
  from the front close and exits.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import socket
import socketserver
import subprocess
import sys
import threading
import uuid
import zlib
from collections.abc import Iterable, Mapping
from http.client import responses
from typing import Any, BinaryIO

# Headers about the connection, not the call: the front's own with its clients, and a shard's
# (which closes every connection) are not passed on.
CONNECTION_HEADERS = frozenset({b"connection", b"keep-alive", b"proxy-connection"})
JSON_TYPE = "application/x-amz-json-1.0"


class CrossShard(Exception):
    """A call names tables that live in different shards."""


def table_of(name: str) -> str:
    """A table's name, also when given as its ARN (arn:aws:dynamodb:REGION:ACCOUNT:table/NAME)."""
    if name.startswith("arn:"):
        return name.partition(":table/")[2].partition("/")[0]
    return name


def tables_named(call: Mapping[str, Any]) -> set[str]:
    """The tables a DynamoDB call names."""
    names: set[str] = set()
    for field in ("TableName", "ResourceArn", "TableArn", "StreamArn"):
        value = call.get(field)
        if isinstance(value, str):
            names.add(table_of(value))
    for item in call.get("TransactItems") or ():
        if isinstance(item, Mapping):
            for op in item.values():
                if isinstance(op, Mapping) and isinstance(op.get("TableName"), str):
                    names.add(table_of(op["TableName"]))
    request_items = call.get("RequestItems")
    if isinstance(request_items, Mapping):
        names.update(table_of(name) for name in request_items)
    names.discard("")
    return names


class Placement:
    """Which shard holds each table: chosen when the table is first named, then fixed."""

    def __init__(self, shards: int) -> None:
        self.shards = shards
        self.tables: dict[str, int] = {}
        self.placed = 0
        self.lock = threading.Lock()

    def shard_of(self, names: Iterable[str]) -> int:
        names = list(names)
        if not names:
            return 0
        known = [self.tables.get(name) for name in names]
        if None in known:
            with self.lock:  # new tables: placed once, whichever call names them first
                known = [self.tables.get(name) for name in names]
                placed = {shard for shard in known if shard is not None}
                if len(placed) <= 1:
                    shard = placed.pop() if placed else self.placed % self.shards
                    for name in names:
                        if name not in self.tables:
                            self.tables[name] = shard
                            self.placed += 1
                            print(f"table {name}: shard {shard}", flush=True)
                    return shard
        shards = set(known)
        if len(shards) > 1:
            where = ", ".join(f"{name} (shard {self.tables[name]})" for name in sorted(names))
            raise CrossShard(
                f"One call names tables of different shards of the local DynamoDB emulator:"
                f" {where}. Start the emulator with --shards 1 to keep every table in one process."
            )
        return shards.pop()  # type: ignore[return-value]


class FrontServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], ports: list[int]) -> None:
        super().__init__(address, Front)
        self.ports = ports
        self.placement = Placement(len(ports))


class Message:
    """An HTTP request or response as read off a socket: its head's lines, kept as they came
    (so a request goes on to its shard unchanged), and its body."""

    def __init__(self, lines: list[bytes], body: bytes) -> None:
        self.lines = lines
        self.body = body

    def header(self, name: bytes) -> bytes:
        for line in self.lines[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == name:
                return value.strip()
        return b""

    def encode(self, drop: frozenset[bytes] = frozenset(), add: tuple[bytes, ...] = ()) -> bytes:
        kept = [
            line for line in self.lines[1:] if line.partition(b":")[0].strip().lower() not in drop
        ]
        return b"\r\n".join([self.lines[0], *kept, *add, b"", self.body])


def read_message(
    reader: io.BufferedIOBase | BinaryIO, *, until_closed: bool = False
) -> Message | None:
    """One message from `reader`, None if the connection closed before one began. A body comes
    with its Content-Length; without one, a response's body runs to the end of the connection
    (`until_closed`) and a request has none."""
    first = reader.readline(65537)
    while first in (b"\r\n", b"\n"):  # stray line ends between messages
        first = reader.readline(65537)
    if not first:
        return None
    lines = [first.rstrip(b"\r\n")]
    while True:
        line = reader.readline(65537)
        if line in (b"\r\n", b"\n", b""):
            break
        lines.append(line.rstrip(b"\r\n"))
    message = Message(lines, b"")
    if b"chunked" in message.header(b"transfer-encoding").lower():
        raise ValueError("chunked bodies are not supported")
    length = message.header(b"content-length")
    if length:
        message.body = reader.read(int(length))
    elif until_closed:
        message.body = reader.read()
    return message


def json_response(status: int, reason: str, result: Mapping[str, Any]) -> Message:
    data = json.dumps(result).encode()
    lines = [
        f"HTTP/1.1 {status} {reason}".encode(),
        f"Content-Type: {JSON_TYPE}".encode(),
        f"x-amzn-RequestId: {uuid.uuid4()}".encode(),
        f"x-amz-crc32: {zlib.crc32(data)}".encode(),  # what the SDK checks the body against
        f"Content-Length: {len(data)}".encode(),
    ]
    return Message(lines, data)


def error_response(status: int, kind: str, message: str) -> Message:
    kind = f"com.amazonaws.dynamodb.v20120810#{kind}"
    return json_response(status, responses.get(status, ""), {"__type": kind, "message": message})


class Front(socketserver.StreamRequestHandler):
    """One client connection, kept open: its calls, each passed to the shard of the tables it
    names over a connection of its own (a shard closes its connection after each answer)."""

    server: FrontServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle(self) -> None:
        while True:
            try:
                request = read_message(self.rfile)
            except (ValueError, OSError):
                return
            if request is None:
                return
            response = self.answer(request)
            closing = request.header(b"connection").lower() == b"close"
            extra = (b"Connection: close",) if closing else ()
            self.wfile.write(response.encode(drop=CONNECTION_HEADERS, add=extra))
            if closing:
                return

    def answer(self, request: Message) -> Message:
        try:
            path = request.lines[0].split(b" ")[1]
        except IndexError:
            return error_response(400, "ValidationException", "malformed request line")
        if path.startswith(b"/moto-api"):
            return self.forward(0, request)
        try:
            call = json.loads(request.body) if request.body else {}
        except ValueError:
            call = {}  # shard 0's moto answers the malformed call
        if not isinstance(call, dict):
            call = {}
        if request.header(b"x-amz-target").endswith(b".ListTables"):
            return self.list_tables(request, call)
        try:
            shard = self.server.placement.shard_of(tables_named(call))
        except CrossShard as problem:
            return error_response(400, "ValidationException", str(problem))
        return self.forward(shard, request)

    def forward(self, shard: int, request: Message) -> Message:
        try:
            with socket.create_connection(("127.0.0.1", self.server.ports[shard])) as upstream:
                upstream.sendall(request.encode(drop=CONNECTION_HEADERS))  # one send
                with upstream.makefile("rb") as reader:
                    response = read_message(reader, until_closed=True)
        except (OSError, ValueError) as problem:
            response, why = None, str(problem)
        else:
            why = "it closed the connection"
        if response is None:
            return error_response(
                500, "InternalServerError", f"shard {shard} did not answer: {why}"
            )
        return response

    def list_tables(self, request: Message, call: Mapping[str, Any]) -> Message:
        names: list[str] = []
        for shard in range(len(self.server.ports)):
            page: dict[str, Any] = {"Limit": 100}
            while True:
                body = json.dumps(page).encode()
                lines = [
                    line
                    for line in request.lines
                    if line.partition(b":")[0].strip().lower() != b"content-length"
                ]
                asked = Message([*lines, f"Content-Length: {len(body)}".encode()], body)
                response = self.forward(shard, asked)
                if response.lines[0].split(b" ")[1:2] != [b"200"]:
                    return response
                listed = json.loads(response.body)
                names.extend(listed.get("TableNames", ()))
                if "LastEvaluatedTableName" not in listed:
                    break
                page["ExclusiveStartTableName"] = listed["LastEvaluatedTableName"]
        names.sort()
        start = call.get("ExclusiveStartTableName")
        if isinstance(start, str):
            names = [name for name in names if name > start]
        limit = call.get("Limit") or 100
        result: dict[str, Any] = {"TableNames": names[:limit]}
        if len(names) > limit:
            result["LastEvaluatedTableName"] = names[limit - 1]
        return json_response(200, "OK", result)


def start_shards(count: int) -> tuple[list[subprocess.Popen[bytes]], list[int]]:
    """Each shard: an emulator serving a loopback socket made here (so its port is known before
    it starts), with a pipe from the front as its stdin: when the front is gone, the pipe
    closes and the shard exits."""
    shards: list[subprocess.Popen[bytes]] = []
    ports: list[int] = []
    for _ in range(count):
        with socket.socket() as listening:
            listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listening.bind(("127.0.0.1", 0))
            listening.listen(128)
            fd = listening.fileno()
            argv = [sys.executable, "-m", "devstack.dynamodb_emulator", "--shard-fd", str(fd)]
            shards.append(subprocess.Popen(argv, stdin=subprocess.PIPE, pass_fds=[fd]))  # noqa: S603 - our own command
            ports.append(listening.getsockname()[1])
    return shards, ports


def wait_ready(shards: list[subprocess.Popen[bytes]], ports: list[int]) -> None:
    for index, (shard, port) in enumerate(zip(shards, ports, strict=True)):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            connection.request("GET", "/moto-api/")
            connection.getresponse().read()
        except OSError as problem:
            code = shard.poll()
            raise SystemExit(
                f"dynamodb emulator: shard {index} did not start"
                f" ({'exit code ' + str(code) if code is not None else problem})"
            ) from None
        finally:
            connection.close()


def stop_shards(shards: list[subprocess.Popen[bytes]]) -> None:
    for shard in shards:
        shard.terminate()
    for shard in shards:
        try:
            shard.wait(10)
        except subprocess.TimeoutExpired:
            shard.kill()
            shard.wait()
        if shard.stdin is not None:
            with contextlib.suppress(OSError):
                shard.stdin.close()


def serve(host: str, port: int, count: int) -> None:
    """Start `count` shards, answer on host:port until stopped (SystemExit from a signal
    handler, or KeyboardInterrupt), then stop the shards."""
    shards: list[subprocess.Popen[bytes]] = []
    try:
        shards, ports = start_shards(count)
        wait_ready(shards, ports)
        try:
            server = FrontServer((host, port), ports)
        except OSError as problem:
            raise SystemExit(
                f"dynamodb emulator: cannot listen on {host}:{port}: {problem}"
            ) from None
        with server:
            shown = ", ".join(f"{index}: 127.0.0.1:{p}" for index, p in enumerate(ports))
            print(f"dynamodb emulator on {host}:{port}, {count} shards ({shown})", flush=True)
            server.serve_forever()
    finally:
        stop_shards(shards)
