"""The rules every unit test is under (tests/unit/conftest.py) hold: a connect beyond loopback
is refused, one to loopback goes through, and a thread left running is found."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from pytest_socket import SocketConnectBlockedError
from tests.threads import describe, left_running

# Documentation addresses (RFC 5737, RFC 3849): never a real host, so a connect that got past
# the guard would not reach anyone either.
ELSEWHERE = ["192.0.2.1", "2001:db8::1"]


@pytest.fixture
def listening() -> Iterator[socket.socket]:
    """A TCP socket listening on 127.0.0.1."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server


@pytest.mark.parametrize("host", ELSEWHERE)
def test_a_connect_beyond_loopback_is_refused(host: str) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with (
        socket.socket(family) as sock,
        pytest.warns(UserWarning, match="A test tried to use socket"),
        pytest.raises(SocketConnectBlockedError, match=host),
    ):
        sock.connect((host, 443))


def test_a_connect_beyond_loopback_is_refused_in_any_thread() -> None:
    # What a client left running after its test (the orders relay once) would meet.
    errors: list[BaseException] = []

    def connect() -> None:
        try:
            with socket.socket() as sock:
                sock.connect((ELSEWHERE[0], 443))
        except BaseException as error:
            errors.append(error)

    def in_a_thread() -> None:
        thread = threading.Thread(target=connect)
        thread.start()
        thread.join()

    with pytest.warns(UserWarning, match="A test tried to use socket"):
        in_a_thread()
    assert [type(error) for error in errors] == [SocketConnectBlockedError]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_connect_to_loopback_goes_through(listening: socket.socket, host: str) -> None:
    port = listening.getsockname()[1]
    with socket.create_connection((host, port)) as client:
        accepted, _ = listening.accept()
        with accepted:
            client.sendall(b"ping")
            assert accepted.recv(4) == b"ping"


def test_a_thread_nobody_stopped_is_found() -> None:
    before = set(threading.enumerate())
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, name="forgotten")
    thread.start()
    try:
        # It waits for an event nobody sets: however short the bound, it is still running.
        left = left_running(before, bound=0.01)
        assert left == [thread]
        assert describe(left) == "'forgotten'"
    finally:
        stop.set()
        thread.join()


def test_a_thread_that_is_stopping_is_waited_for() -> None:
    before = set(threading.enumerate())
    stop, stopping = threading.Event(), threading.Event()

    def work() -> None:
        stop.wait()
        stopping.wait()  # still finishing its last step when the check starts

    thread = threading.Thread(target=work, name="stopping")
    thread.start()
    stop.set()
    # Lets it finish a moment after the check has begun waiting (slowness on purpose).
    threading.Timer(0.05, stopping.set).start()
    assert left_running(before, bound=30.0) == []
    assert not thread.is_alive()


def test_threads_started_before_are_not_the_tests() -> None:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert left_running(set(threading.enumerate()), bound=0.01) == []
    finally:
        stop.set()
        thread.join()
