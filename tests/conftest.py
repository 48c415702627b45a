"""What every suite shares: under CI (`CI` set) a skipped test is a failure.

A skip says that something the test needs is missing (a binary, the Docker engine, a built
tool); on a laptop it names what to install, but CI installs everything, so there a skip means
CI no longer runs the test and nobody would notice. That holds for every way of skipping: a
`skip` or `skipif` mark, `pytest.skip` or `pytest.importorskip` in a test or fixture, and a
whole module skipped while it is collected (`importorskip` at its top). Expected failures
(`xfail`) are not skips and are left alone. tests/unit/test_skips_under_ci.py checks this."""

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


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None]:
    """A module skipped as a whole (importorskip at its top) never reaches the hook above."""
    outcome = yield
    report: pytest.CollectReport = outcome.get_result()
    if not (os.environ.get("CI") and report.skipped):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = f"CI must run every test, and {collector.nodeid} skipped: {reason}"
