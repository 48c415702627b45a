"""The cart runs on the image's packages alone: the locked runtime dependencies, none of the
development group (type stubs, test tools)."""

from __future__ import annotations

from tests.runtime import check_app_builds_without_development_packages
from tests.unit.cart.conftest import cart_environ


def test_the_cart_app_builds_without_the_development_packages() -> None:
    environ = {**cart_environ(), "DYNAMODB_CREATE_TABLES": "false"}
    check_app_builds_without_development_packages("cart.app", environ)
