"""Under CI (`CI` set) every kind of skip fails the run (tests/conftest.py); elsewhere a skip
stays a skip. Each case runs pytest (in this process) on a small test file next to a copy of
that conftest."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = Path(__file__).parents[1] / "conftest.py"

SKIPPING = {
    "skip-call": """
        import pytest

        def test_it():
            pytest.skip("needs a tool that is missing")
        """,
    "skipif-mark": """
        import pytest

        @pytest.mark.skipif(True, reason="needs a tool that is missing")
        def test_it():
            pass
        """,
    "skip-in-fixture": """
        import pytest

        @pytest.fixture
        def tool():
            pytest.skip("needs a tool that is missing")

        def test_it(tool):
            pass
        """,
    "importorskip-in-test": """
        import pytest

        def test_it():
            pytest.importorskip("a_module_that_is_missing")
        """,
    "importorskip-at-module-top": """
        import pytest

        pytest.importorskip("a_module_that_is_missing")

        def test_it():
            pass
        """,
}


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST.read_text())
    return pytester


@pytest.mark.parametrize("case", SKIPPING)
def test_a_skip_fails_under_ci(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    monkeypatch.setenv("CI", "true")
    suite.makepyfile(test_case=SKIPPING[case])
    result = suite.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:socket")
    assert result.ret != pytest.ExitCode.OK
    outcomes = result.parseoutcomes()
    assert "skipped" not in outcomes
    assert outcomes.get("failed", 0) + outcomes.get("errors", 0) == 1, outcomes
    result.stdout.fnmatch_lines(["*CI must run every test*"])


@pytest.mark.parametrize("case", SKIPPING)
def test_a_skip_stays_a_skip_outside_ci(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    monkeypatch.delenv("CI", raising=False)
    suite.makepyfile(test_case=SKIPPING[case])
    result = suite.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:socket")
    # A module skipped whole leaves no test collected: its own exit code, still no failure.
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED)
    assert result.parseoutcomes() == {"skipped": 1}


def test_an_expected_failure_is_no_skip(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    suite.makepyfile(
        test_case="""
        import pytest

        @pytest.mark.xfail(reason="a known bug", strict=True)
        def test_it():
            assert False
        """
    )
    result = suite.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:socket")
    assert result.ret == pytest.ExitCode.OK
    assert result.parseoutcomes() == {"xfailed": 1}
