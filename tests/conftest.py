"""What every suite shares: under CI (`CI` set) a skipped test is a failure.

A skip says that something the test needs is missing (a binary, the Docker engine, a built
tool); on a laptop it names what to install, but CI installs everything, so there a skip means
CI no longer runs the test and nobody would notice. Expected failures (`xfail`) are not skips
and are left alone."""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if not (os.environ.get("CI") and report.skipped) or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = f"CI must run every test, and this one skipped: {reason}"
