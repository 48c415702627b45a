"""The launcher's children: their output kept (the last lines) and echoed with their name."""

from __future__ import annotations

import io
import sys

from devstack.processes import Group

LINES = 5000


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_every_line_of_a_busy_child_is_echoed_once_in_order_with_its_name() -> None:
    echoed = io.StringIO()
    with Group(echo=True, echo_to=echoed) as group:
        child = group.start("catalog", python(f"for i in range({LINES}): print('line', i)"), {})
        assert child.popen.wait(timeout=60) == 0
        child.stop()  # waits for the reader to drain the pipe
    assert echoed.getvalue().splitlines() == [f"catalog     | line {i}" for i in range(LINES)]
    assert child.output().splitlines() == [f"line {i}" for i in range(LINES - 40, LINES)]


def test_a_last_line_without_a_newline_and_non_utf8_bytes_are_kept() -> None:
    with Group() as group:
        child = group.start(
            "seed",
            python("import sys; sys.stdout.buffer.write(b'first\\nbad \\xff byte\\nno newline')"),
            {},
        )
        assert child.popen.wait(timeout=60) == 0
        child.stop()
    assert child.output().splitlines() == ["first", "bad \ufffd byte", "no newline"]


def test_follow_echoes_what_was_kept_then_what_comes() -> None:
    echoed = io.StringIO()
    with Group(echo_to=echoed) as group:
        child = group.start(
            "cart", python("import signal; print('before', flush=True); signal.pause()"), {}
        )
        child.wait_until(lambda: child.output() == "before", "printing")
        assert echoed.getvalue() == ""  # not echoed until followed
        child.follow()
        assert echoed.getvalue() == "cart        | before\n"
