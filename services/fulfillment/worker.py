"""The consumer loop: order events from a Redis stream, in a consumer group, at least once.

How a message moves:
- Each process is one consumer of the group, named `hostname-pid`. It reads new messages
  (`XREADGROUP COUNT 10 BLOCK 1000 ... >`), processes each one and XACKs it.
- Processing that fails (orders refused the step, an unexpected error) leaves the message
  pending. Every few seconds each consumer XAUTOCLAIMs the messages idle for longer than
  FULFILLMENT_CLAIM_IDLE_MS, whoever holds them: those of consumers that died, and those that
  failed, which are so retried after that pause by whichever consumer claims them. Nothing
  re-reads its own pending entries with id "0": that would count a delivery without a pause.
- Redis counts deliveries (XPENDING), and every claim is one. A message delivered more than
  FULFILLMENT_MAX_DELIVERIES times (one that keeps killing its consumer), or failing on its
  last allowed delivery, goes to the dead-letter stream `<stream>:dead`: its fields plus
  `error`, `originalId` and `deliveries`, added and acknowledged in one MULTI. A malformed
  message (see `fulfillment.events`) goes there at once. The dead-letter stream is capped
  like the orders stream, `XADD MAXLEN ~` FULFILLMENT_DEAD_LETTER_MAX_LENGTH: a flood of bad
  messages cannot fill Redis; the oldest letters go first.
- Orders unavailable (a 5xx, unreachable, circuit open) or refusing the token, or the
  DynamoDB table of fulfillment's records failing, is most likely not the message's fault:
  the consumer keeps the message in hand and retries it with a growing pause, reading nothing
  new meanwhile, rather than spending its deliveries, so an outage of orders or DynamoDB
  pauses fulfillment instead of dead-lettering every order. While it waits it re-claims the
  message with `XCLAIM ... JUSTID` (no delivery counted) so no other consumer takes it over.
  After `hold_seconds` (5 minutes) it lets go, as after a failure: an order that orders keeps
  answering with a 5xx must not stall fulfillment for ever.
- Redis failing: the loop pauses and tries again; what it held stays pending, to be claimed.
- Stopping (SIGTERM sets emporium.health.DRAINING, or the main thread ends): nothing new is
  read; the messages already read (one batch at most) are finished, then `run` returns. A
  message waiting for orders is left pending, for a consumer that will claim it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import redis
from prometheus_client import Counter
from redis.typing import EncodableT, FieldT

from emporium.logs import request_id_var, trace_id_var
from emporium.models import REQUEST_ID
from fulfillment.events import MalformedEventError, OrderPlaced, parse_event
from fulfillment.steps import RetryLaterError, StepRefusedError

log = logging.getLogger(__name__)

EVENTS_PROCESSED = Counter(
    "events_processed_total", "Events handled by a consumer", ["stream", "type", "outcome"]
)
DEAD_LETTERS = Counter("dead_letters_total", "Messages moved to a dead-letter stream", ["stream"])

Outcome = Literal["done", "failed", "deferred", "dead-lettered"]
UNKNOWN_TYPE = "unknown"  # the `type` label of a malformed message: its own may be anything
_REQUEST_ID = re.compile(REQUEST_ID)  # what other services accept as X-Request-ID


@dataclass(frozen=True)
class Message:
    id: bytes
    fields: dict[bytes, bytes]
    deliveries: int  # times the group has delivered it, this one included


@contextlib.contextmanager
def _traced(event: OrderPlaced) -> Iterator[None]:
    """Log lines and calls to orders made for this event carry its id as the request id."""
    request_id = event.id if _REQUEST_ID.fullmatch(event.id) else secrets.token_hex(16)
    request_token = request_id_var.set(request_id)
    trace_token = trace_id_var.set(secrets.token_hex(16))
    try:
        yield
    finally:
        request_id_var.reset(request_token)
        trace_id_var.reset(trace_token)


class Worker:
    """One consumer of the group: `run()` loops until `stop` is set; `poll()` is one turn."""

    def __init__(
        self,
        client: redis.Redis,
        process: Callable[[OrderPlaced], None],
        *,
        stream: str,
        group: str,
        consumer: str,
        claim_idle_ms: int,
        max_deliveries: int,
        stop: threading.Event,
        batch: int = 10,
        block_ms: int | None = 1000,
        claim_every: float | None = None,
        backoff: tuple[float, float] = (0.2, 10.0),
        hold_seconds: float = 300.0,
        concurrency: int = 1,
        dead_letter_max_length: int = 100_000,
    ) -> None:
        self.redis = client
        self.process = process
        self.stream = stream
        self.dead_letter_stream = f"{stream}:dead"
        self.dead_letter_max_length = dead_letter_max_length
        self.group = group
        self.consumer = consumer
        self.claim_idle_ms = claim_idle_ms
        self.max_deliveries = max_deliveries
        self.stop = stop
        self.batch = batch
        self.block_ms = block_ms
        # Look for idle messages a few times per idle period, at most every 5 seconds.
        self.claim_every = (
            claim_every if claim_every is not None else min(5.0, claim_idle_ms / 2000)
        )
        self.backoff_base, self.backoff_cap = backoff
        self.hold_seconds = hold_seconds
        # Each message waits mostly on orders: a batch's messages are handled side by side.
        # Two messages of one order (a redelivery) are safe together: every step is idempotent.
        self._pool = ThreadPoolExecutor(concurrency, "fulfil") if concurrency > 1 else None
        self._group_ready = False
        self._claim_cursor: bytes | str = "0-0"
        self._claim_due = 0.0

    def stopping(self) -> bool:
        # The main thread can end without SIGTERM (a recycled gunicorn worker, SIGQUIT): stop too.
        return self.stop.is_set() or not threading.main_thread().is_alive()

    def run(self) -> None:
        """Consume until stopping; returns once the messages in hand are finished."""
        where = {"stream": self.stream, "group": self.group, "consumer": self.consumer}
        log.info("consumer started", extra=where)
        failures = 0
        while not self.stopping():
            try:
                self.poll()
            except redis.RedisError as error:
                failures += 1
                self._group_ready = False  # a new or flushed Redis has no group: make it again
                log.warning(
                    "Redis failed; pausing",
                    extra={**where, "error": str(error), "attempt": failures},
                )
                self._pause(self._backoff(failures))
            except Exception:
                failures += 1
                log.exception("the consumer loop failed; pausing", extra=where)
                self._pause(self._backoff(failures))
            else:
                failures = 0
        log.info("consumer stopped", extra=where)

    def poll(self) -> None:
        """One turn of the loop: claim idle messages when it is time, then read new ones."""
        self.ensure_group()
        if time.monotonic() >= self._claim_due:
            self.claim_idle()
            self._claim_due = time.monotonic() + self.claim_every
        if not self.stopping():
            self.handle_all(self.read_new())

    def handle_all(self, messages: list[Message]) -> None:
        if self._pool is None or len(messages) < 2:
            for message in messages:
                self.handle(message)
        else:
            list(self._pool.map(self.handle, messages))  # re-raises a RedisError here

    def ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            # From the start of the stream, not "$": events published before the group existed
            # are orders too (and processing one twice is harmless).
            self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
            log.info(
                "created the consumer group", extra={"stream": self.stream, "group": self.group}
            )
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
        self._group_ready = True

    def read_new(self) -> list[Message]:
        reply: Any = self.redis.xreadgroup(
            self.group, self.consumer, {self.stream: ">"}, count=self.batch, block=self.block_ms
        )
        return [
            Message(message_id, fields, deliveries=1)
            for _stream, entries in reply or []
            for message_id, fields in entries
        ]

    def claim_idle(self) -> None:
        """Take over the messages idle longer than claim_idle_ms, and process them."""
        while not self.stopping():
            reply: Any = self.redis.xautoclaim(
                self.stream,
                self.group,
                self.consumer,
                self.claim_idle_ms,
                start_id=self._claim_cursor,
                count=self.batch,
            )
            cursor, entries = reply[0], reply[1]
            self._claim_cursor = cursor
            self.handle_all(self._with_deliveries(entries))
            if cursor in (b"0-0", "0-0"):
                return

    def _with_deliveries(
        self, entries: list[tuple[bytes, dict[bytes, bytes] | None]]
    ) -> list[Message]:
        # Redis 7 drops entries trimmed from the stream from the pending list by itself.
        claimed = [(message_id, fields) for message_id, fields in entries if fields]
        with self.redis.pipeline(transaction=False) as pipe:
            for message_id, _ in claimed:
                pipe.xpending_range(
                    self.stream, self.group, min=message_id, max=message_id, count=1
                )
            pending = pipe.execute()
        return [
            Message(message_id, fields, deliveries=int(found[0]["times_delivered"]))
            for (message_id, fields), found in zip(claimed, pending, strict=True)
            if found  # acknowledged by another consumer in the meantime
        ]

    def handle(self, message: Message) -> Outcome:
        """Process one message and acknowledge it, or leave it pending, or dead-letter it."""
        try:
            event = parse_event(message.fields)
        except MalformedEventError as error:
            return self._dead_letter(message, UNKNOWN_TYPE, f"malformed event: {error}")
        if message.deliveries > self.max_deliveries:
            return self._dead_letter(
                message,
                event.type,
                f"delivered {message.deliveries} times, more than the "
                f"{self.max_deliveries} FULFILLMENT_MAX_DELIVERIES allows",
            )
        attempt, held_until = 0, time.monotonic() + self.hold_seconds
        while True:
            attempt += 1
            try:
                with _traced(event):
                    self.process(event)
            except RetryLaterError as error:
                self._count(event.type, "deferred")
                if time.monotonic() >= held_until:
                    return self._failed(message, event, error)
                log.warning(
                    "orders cannot take the event now; holding it",
                    extra=self._about(message, event, error) | {"attempt": attempt},
                )
                if not self._hold(message, attempt):
                    return "deferred"
                continue
            except redis.RedisError:
                raise  # Redis itself failing: the loop pauses; the message stays pending
            except Exception as error:
                return self._failed(message, event, error)
            self.redis.xack(self.stream, self.group, message.id)
            self._count(event.type, "done")
            return "done"

    def _hold(self, message: Message, attempt: int) -> bool:
        """Pause before trying the message in hand again; False to let it go (stopping, or
        another consumer has acknowledged it meanwhile)."""
        if self.stopping():
            return False
        self._pause(self._backoff(attempt))
        if self.stopping():
            return False
        # Resets its idle time, so other consumers do not claim it, without counting a delivery.
        kept: Any = self.redis.xclaim(
            self.stream, self.group, self.consumer, 0, [message.id], justid=True
        )
        return bool(kept)

    def _failed(self, message: Message, event: OrderPlaced, error: Exception) -> Outcome:
        if message.deliveries >= self.max_deliveries:
            return self._dead_letter(message, event.type, f"{type(error).__name__}: {error}")
        log.warning(
            "processing failed; the message stays pending, to be claimed again",
            extra=self._about(message, event, error),
            # A refusal from orders is explained by its message; anything else needs the trace.
            exc_info=not isinstance(error, StepRefusedError),
        )
        self._count(event.type, "failed")
        return "failed"

    def _dead_letter(self, message: Message, event_type: str, error: str) -> Outcome:
        fields: dict[FieldT, EncodableT] = dict(message.fields.items())
        fields.update(
            {
                b"error": error.encode(),
                b"originalId": message.id,
                b"deliveries": str(message.deliveries).encode(),
            }
        )
        # One transaction: a crash cannot leave the message both dead-lettered and pending.
        with self.redis.pipeline(transaction=True) as pipe:
            # `~` trims whole nodes only: cheap, and the stream never goes below the cap.
            pipe.xadd(
                self.dead_letter_stream,
                fields,
                maxlen=self.dead_letter_max_length,
                approximate=True,
            )
            pipe.xack(self.stream, self.group, message.id)
            pipe.execute()
        DEAD_LETTERS.labels(self.stream).inc()
        self._count(event_type, "dead-lettered")
        log.error(
            "moved a message to the dead-letter stream",
            extra={
                "messageId": message.id.decode(),
                "deadLetterStream": self.dead_letter_stream,
                "deliveries": message.deliveries,
                "error": error,
            },
        )
        return "dead-lettered"

    def _count(self, event_type: str, outcome: Outcome) -> None:
        EVENTS_PROCESSED.labels(self.stream, event_type, outcome).inc()

    @staticmethod
    def _about(message: Message, event: OrderPlaced, error: Exception) -> dict[str, object]:
        return {
            "messageId": message.id.decode(),
            "orderId": event.orderId,
            "deliveries": message.deliveries,
            "error": str(error),
        }

    def _backoff(self, attempt: int) -> float:
        """Doubling with each attempt up to the cap, half of it random so consumers spread out."""
        ceiling = min(self.backoff_cap, self.backoff_base * 2.0 ** (attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not crypto

    def _pause(self, seconds: float) -> None:
        self.stop.wait(seconds)  # returns early when stopping


class ConsumerThread:
    """Runs a worker's loop in a background thread, one per process.

    gunicorn builds the app in its master and forks the workers; a thread does not survive a
    fork, and the master must not consume. So the loop starts in each forked child
    (`start_after_fork`, which gunicorn's preloading needs) and, in a process that was not
    forked (no preload, `flask run`), on first use (`ensure_started`, e.g. before a request).
    """

    def __init__(self, make_worker: Callable[[], Worker]) -> None:
        self._make_worker = make_worker
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._thread: threading.Thread | None = None

    def ensure_started(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            # Not a daemon: at exit the interpreter waits for the message in hand to finish.
            self._thread = threading.Thread(target=self._make_worker().run, name="consumer")
            self._thread.start()
            self._pid = os.getpid()

    def start_after_fork(self) -> None:
        """Start the loop in every process forked from this one from now on."""
        os.register_at_fork(after_in_child=self._start_in_child)

    def _start_in_child(self) -> None:
        self._lock = threading.Lock()  # a lock copied by fork may look taken forever
        self.ensure_started()

    def check(self) -> None:
        """For readiness: raises unless this process's loop is running."""
        thread = self._thread if self._pid == os.getpid() else None
        if thread is None or not thread.is_alive():
            raise RuntimeError("the consumer loop is not running")

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None and self._pid == os.getpid():
            self._thread.join(timeout)
