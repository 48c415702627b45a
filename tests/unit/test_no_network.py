"""The rule every unit test is under (tests/unit/conftest.py) holds: a connect beyond loopback
is refused, one to loopback goes through."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from pytest_socket import SocketConnectBlockedError

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
