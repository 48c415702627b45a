"""The catalog runs on the image's packages alone: the locked runtime dependencies, none of the
development group (type stubs, test tools)."""

from __future__ import annotations

from tests.runtime import check_app_builds_without_development_packages
from tests.unit.catalog.conftest import catalog_environ


def test_the_catalog_app_builds_without_the_development_packages() -> None:
    # No table is created: the app is built, never called, so no DynamoDB nor Redis is reached.
    environ = {**catalog_environ(), "DYNAMODB_CREATE_TABLES": "false"}
    check_app_builds_without_development_packages("catalog.app", environ)
