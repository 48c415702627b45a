"""moto's in-memory AWS for the unit tests, kept from the developer's own AWS settings."""

from __future__ import annotations

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
