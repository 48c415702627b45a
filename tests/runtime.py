"""A service's app built on its image's packages alone: the locked runtime dependencies, none of
the development group (type stubs, test tools), which a service module could import by mistake
(a stub imported outside `if TYPE_CHECKING:`) and which the images lack."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Mapping

# The dev-only packages a service module could import by mistake; the image lacks each of them.
DEV_ONLY = ("mypy_boto3_dynamodb", "boto3_stubs", "moto", "fakeredis", "pytest")


def check_app_builds_without_development_packages(
    app_module: str, environ: Mapping[str, str]
) -> None:
    """Check `app_module`'s `create_app(environ)` builds in a fresh interpreter where importing
    any of DEV_ONLY raises ImportError, as it does in the image."""
    script = textwrap.dedent(
        f"""
        import sys
        for name in {DEV_ONLY!r}:
            sys.modules[name] = None  # importing it raises ImportError, as in the image
        from {app_module} import create_app
        create_app({dict(environ)!r})
        print("built")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "built"
