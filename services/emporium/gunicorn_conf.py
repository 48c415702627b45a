"""The gunicorn configuration shared by every service.

    gunicorn -c python:emporium.gunicorn_conf 'catalog.app:create_app()'

Settings come from the environment, the chart sets them: `HOST` (0.0.0.0), `PORT` (8080),
`METRICS_PORT` (9090: gunicorn listens there too, for /metrics only), `WEB_CONCURRENCY`
(worker processes, 2), `GUNICORN_THREADS` (threads per worker, 4), `GRACEFUL_TIMEOUT` (seconds
to finish in-flight requests, 20; keep it below the pod's terminationGracePeriodSeconds),
`SHUTDOWN_DELAY_SECONDS` (how long a worker keeps serving with /readyz failing after SIGTERM,
0; set it to a few seconds behind a load balancer), `MAX_REQUESTS` (recycle a worker after
this many requests, 100000), `REUSE_PORT` (one listening socket per worker, false),
`ACCESS_LOG_FLUSH_SECONDS` (how long an access line may wait to be written with others, 0.2;
0 writes each at once) and `FORWARDED_ALLOW_IPS`.

What gunicorn answers itself (a request line or headers over its limits, a malformed request)
is a problem document like every other error, not gunicorn's HTML page.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import tempfile
import threading
import time
from types import FrameType
from typing import Any

from gunicorn import util
from gunicorn.glogging import Logger

from emporium.config import Env
from emporium.logs import JsonFormatter, json_line, timestamp
from emporium.problems import PROBLEM_MEDIA_TYPE, problem_body

_env = Env()

_host = _env.text("HOST", "0.0.0.0")  # noqa: S104 - a container listens on its pod's address
_port = _env.integer("PORT", 8080, min=1, max=65535)
_metrics_port = _env.integer("METRICS_PORT", 9090, min=1, max=65535)
if _metrics_port == _port:
    raise SystemExit(f"METRICS_PORT={_metrics_port} must differ from PORT={_port}")
# The service's port and the metrics port: emporium.metrics.MetricsPort tells them apart.
bind = [f"{_host}:{_port}", f"{_host}:{_metrics_port}"]
worker_class = "gthread"
# With REUSE_PORT each worker listens on its own SO_REUSEPORT socket and the kernel spreads new
# connections evenly; without it, whichever worker wakes first takes them, and a few kept-alive
# connections can pin all load on one worker. Off by default: on Linux before 5.14 (or without
# net.ipv4.tcp_migrate_req) connections still queued on a recycled worker's socket are reset.
reuse_port = _env.flag("REUSE_PORT", False)
workers = _env.integer("WEB_CONCURRENCY", 2, min=1, max=64)
threads = _env.integer("GUNICORN_THREADS", 4, min=1, max=256)
# The app is loaded once in the master: a bad setting stops start-up with one line, and the
# workers share its memory. Clients that hold connections are made per process after the fork.
preload_app = True
timeout = 30
graceful_timeout = _env.integer("GRACEFUL_TIMEOUT", 20, min=1)
# Longer than the ALB's 60 s idle timeout, so the balancer, not gunicorn, closes idle connections.
keepalive = _env.integer("KEEPALIVE_SECONDS", 65, min=1)
# Recycle a worker after this many requests (plus up to 10% jitter, so workers do not restart
# together): insurance against slow leaks. 0 turns it off.
max_requests = _env.integer("MAX_REQUESTS", 100_000, min=0)
max_requests_jitter = max_requests // 10
forwarded_allow_ips = _env.text("FORWARDED_ALLOW_IPS", "127.0.0.1")
# A trusted proxy may still not set SCRIPT_NAME or PATH_INFO (gunicorn's default lets it): such
# a header would re-route the request inside the app, e.g. onto /internal. Headers with "_" in
# their names are then dropped (header_map "drop").
forwarder_headers = ""
header_map = "drop"
# Workers heartbeat through a file: on a tmpfs, at no disk I/O. A container's /dev/shm can be
# missing or read-only; then gunicorn uses the temporary folder (/tmp in the images).
worker_tmp_dir = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None  # noqa: S108
# gunicorn's runtime control socket defaults to one path per user, which two services on one
# host would fight over, and a read-only root filesystem cannot hold: not needed here.
control_socket_disable = True
accesslog = "-"
errorlog = "-"
logger_class = "emporium.gunicorn_conf.JsonLogger"

_shutdown_delay = _env.number("SHUTDOWN_DELAY_SECONDS", 0.0)
# Access lines are written together, every this many seconds (or once this many bytes wait):
# one write a request handed the GIL to another thread and back on every request, about 35 us
# of CPU a request under load (`tests/bench/catalog_read.py`), as much as the app's own work.
# A worker stopped gracefully writes what waits; one killed outright (SIGKILL, the OOM killer)
# loses at most the last interval's lines, as nginx's buffered access log does.
_access_flush_seconds = _env.number("ACCESS_LOG_FLUSH_SECONDS", 0.2)
_ACCESS_BUFFER_BYTES = 64 * 1024

# Every worker writes its metrics under this folder; /metrics adds them up. It is this master's
# own (by pid) and removed when it exits.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.path.join(
        worker_tmp_dir or tempfile.gettempdir(), f"emporium-metrics-{os.getpid()}"
    )


def _write_problem(sock: Any, status: int, reason: str, detail: str) -> None:
    """gunicorn's own error answers (`gunicorn.util.write_error`) as problem documents.

    gunicorn renders a request it refused before the app saw it (URI too long, a malformed
    header, ...) through this one function, as an HTML page; clients of an API expect the same
    problem documents as from the app.
    """
    body = problem_body(status, detail or reason, title=reason)
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
        f"Content-Type: {PROBLEM_MEDIA_TYPE}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


util.write_error = _write_problem


class JsonLogger(Logger):  # type: ignore[misc]
    """gunicorn's own and access logs as JSON lines, in the same shape as the app's.

    An access line is written on every request, so it is made directly (one dict, one
    `json_line`) rather than through a log record and the formatter: the same line, at a
    fraction of the cost. Lines wait in a buffer of the worker's and are written together (see
    `ACCESS_LOG_FLUSH_SECONDS`); a thread of the worker's writes them when no request does.
    Handlers other than a stream (syslog) still get a log record, at once.
    """

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        # The service is the app's top-level package: 'catalog.app:create_app()' -> catalog.
        app_package = str(cfg.proc_name or "gunicorn").split(".", 1)[0].split(":", 1)[0]
        self.service = os.environ.get("SERVICE_NAME") or app_package
        formatter = JsonFormatter(self.service)
        for logger in (self.error_log, self.access_log):
            for handler in logger.handlers:
                handler.setFormatter(formatter)
        self.flush_seconds = _access_flush_seconds
        self._pending: list[str] = []
        self._pending_bytes = 0
        self._pending_lock = threading.Lock()  # taken before a handler's lock, never after
        self._flusher: threading.Thread | None = None
        self._flusher_pid: int | None = None
        self._stop = threading.Event()

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.cfg.accesslog or not self.access_log.isEnabledFor(logging.INFO):
            return
        request_id = next(
            (value for name, value in resp.headers if name.lower() == "x-request-id"), None
        )
        method, path, status = (
            environ.get("REQUEST_METHOD"),
            environ.get("PATH_INFO"),
            resp.status_code,
        )
        fields = {
            "method": method,
            "path": path,
            "status": status,
            "durationMs": round(request_time.total_seconds() * 1000, 3),
            "bytes": getattr(resp, "sent", None),
            "remote": environ.get("REMOTE_ADDR"),
            "userAgent": environ.get("HTTP_USER_AGENT"),
            "requestId": request_id,
        }
        for handler in self.access_log.handlers:
            if type(handler) not in (logging.StreamHandler, logging.FileHandler):
                self.access_log.info("%s %s %s", method, path, status, extra=fields)
                return
        line = json_line(
            {
                "time": timestamp(time.time()),
                "level": "info",
                "service": self.service,
                "logger": self.access_log.name,
                "message": f"{method} {path} {status}",
                **fields,
            }
        )
        if self.flush_seconds <= 0:
            self._write(line + "\n")
            return
        with self._pending_lock:
            if self._flusher_pid != os.getpid():  # the first line of this process (a worker)
                self._flusher_pid, self._stop = os.getpid(), threading.Event()
                self._flusher = threading.Thread(
                    target=self._flush_every, args=(self._stop,), name="access-log", daemon=True
                )
                self._flusher.start()
            self._pending.append(line + "\n")
            self._pending_bytes += len(line) + 1
            if self._pending_bytes >= _ACCESS_BUFFER_BYTES:
                self._flush_locked()

    def flush_access(self) -> None:
        """Write the access lines that wait, in the order they were made."""
        with self._pending_lock:
            self._flush_locked()

    def close_access(self) -> None:
        """Stop this process's writing thread and write the lines that wait (as a worker
        exits). A later line starts the thread again."""
        with self._pending_lock:
            flusher = self._flusher if self._flusher_pid == os.getpid() else None
            self._stop.set()
            self._flusher, self._flusher_pid = None, None
        if flusher is not None:
            flusher.join(timeout=5)
        self.flush_access()

    def _flush_locked(self) -> None:
        if self._pending:
            text, self._pending, self._pending_bytes = "".join(self._pending), [], 0
            self._write(text)

    def _flush_every(self, stop: threading.Event) -> None:
        while not stop.wait(self.flush_seconds):
            self.flush_access()

    def _write(self, text: str) -> None:
        for handler in self.access_log.handlers:
            with handler.lock:  # as StreamHandler.emit: lines of threads never interleave
                try:
                    handler.stream.write(text)
                    handler.stream.flush()
                except Exception:  # as logging does: a log line never fails a request
                    handler.handleError(logging.makeLogRecord({"msg": text}))


def on_starting(server: Any) -> None:
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    # Counters of a previous run in a reused folder would be added to this run's.
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder, exist_ok=True)


def on_exit(server: Any) -> None:
    shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


def post_worker_init(worker: Any) -> None:
    """On SIGTERM: fail readiness at once, keep serving for the shutdown delay, then drain."""
    from emporium.health import DRAINING  # noqa: PLC0415 - imported in the worker, after the fork

    def drain(signum: int, frame: FrameType | None) -> None:
        DRAINING.set()
        if _shutdown_delay <= 0:
            worker.handle_exit(signum, frame)
            return
        timer = threading.Timer(_shutdown_delay, worker.handle_exit, args=(signum, None))
        timer.daemon = True
        timer.start()

    signal.signal(signal.SIGTERM, drain)
    signal.siginterrupt(signal.SIGTERM, False)


def worker_exit(server: Any, worker: Any) -> None:
    # In the worker, as it stops (gracefully or not): its waiting access lines are written.
    close = getattr(worker.log, "close_access", None)
    if close is not None:
        close()


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess  # noqa: PLC0415

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
