"""The cart runs on the image's packages alone: the locked runtime dependencies, none of the
development group (type stubs, test tools)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.unit.cart.conftest import cart_environ

# The dev-only packages a service module could import by mistake; the image lacks each of them.
DEV_ONLY = ("mypy_boto3_dynamodb", "boto3_stubs", "moto", "fakeredis", "pytest")


def test_the_cart_app_builds_without_the_development_packages() -> None:
    script = textwrap.dedent(
        f"""
        import sys
        for name in {DEV_ONLY!r}:
            sys.modules[name] = None  # importing it raises ImportError, as in the image
        from cart.app import create_app
        create_app({{**{cart_environ()!r}, "DYNAMODB_CREATE_TABLES": "false"}})
        print("built")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "built"
