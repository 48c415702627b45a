"""moto's in-memory AWS for the unit tests, kept from the developer's own AWS settings.

Importing this module also makes every botocore session of the test process share one loader
of botocore's data (service models, endpoints): each app a unit test builds makes a session and
a client of its own, exactly as a worker process does, and each session would otherwise read and
parse the same JSON again, most of the CPU a unit test's app costs. The data is read-only and
the clients are still made with each service's own settings.
"""

from __future__ import annotations

from typing import Any

import botocore.loaders
import botocore.session
import pytest

# Variables of the developer's shell that would send boto3 somewhere else than moto's mock.
AWS_REDIRECTS = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)


def keep_boto3_on_moto(patch: pytest.MonkeyPatch) -> None:
    for name in AWS_REDIRECTS:
        patch.delenv(name, raising=False)


def _share_botocore_data() -> None:
    loader = botocore.loaders.create_loader()

    def register_data_loader(session: Any) -> None:
        session._components.lazy_register_component("data_loader", lambda: loader)

    setattr(botocore.session.Session, "_register_data_loader", register_data_loader)  # noqa: B010


_share_botocore_data()
