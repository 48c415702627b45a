"""Settings from the environment: typed reads, and one-line errors that name the variable."""

from __future__ import annotations

import pytest
from tests.checks import config_error

from emporium.config import Env

SECRET = "s3cr3t-value-that-must-not-leak"


def env(**values: str) -> Env:
    return Env(environ=values)


# text


def test_text_returns_the_value() -> None:
    assert env(NAME="catalog").text("NAME") == "catalog"


def test_text_falls_back_to_the_default_when_unset() -> None:
    assert env().text("NAME", "fallback") == "fallback"


def test_text_treats_an_empty_value_as_unset() -> None:
    assert env(NAME="").text("NAME", "fallback") == "fallback"


def test_text_without_value_or_default_is_an_error_naming_the_variable() -> None:
    assert "NAME" in config_error(lambda: env().text("NAME"))


def test_a_prefix_is_part_of_the_variable_read_and_named() -> None:
    prefixed = Env("CATALOG_", {"CATALOG_TABLE": "products", "TABLE": "other"})
    assert prefixed.text("TABLE") == "products"
    assert "CATALOG_TABLE" in config_error(lambda: Env("CATALOG_", {}).text("TABLE"))


def test_text_matching_the_pattern_is_accepted() -> None:
    assert env(LEVEL="debug").text("LEVEL", pattern=r"(?i)debug|info") == "debug"


def test_text_must_match_the_whole_pattern() -> None:
    message = config_error(lambda: env(LEVEL="debugging").text("LEVEL", pattern=r"debug|info"))
    assert "LEVEL" in message


def test_a_malformed_value_with_a_newline_still_gives_a_one_line_message() -> None:
    message = config_error(lambda: env(LEVEL="INFO\nDEBUG").text("LEVEL", pattern="INFO"))
    assert "LEVEL" in message


# integer


def test_integer_parses_the_value() -> None:
    assert env(PORT="8080").integer("PORT", 1, min=1, max=65535) == 8080


def test_integer_falls_back_to_the_default_when_unset() -> None:
    assert env().integer("PORT", 8080) == 8080


@pytest.mark.parametrize("value", ["eighty", "8.5", "0x50", "1e3"])
def test_integer_rejects_a_value_that_is_not_an_integer(value: str) -> None:
    message = config_error(lambda: env(PORT=value).integer("PORT", 8080))
    assert "PORT" in message


@pytest.mark.parametrize("value", ["0", "65536"])
def test_integer_rejects_a_value_out_of_bounds(value: str) -> None:
    message = config_error(lambda: env(PORT=value).integer("PORT", 8080, min=1, max=65535))
    assert "PORT" in message
    assert "1..65535" in message


@pytest.mark.parametrize("value", ["1", "65535"])
def test_integer_bounds_are_inclusive(value: str) -> None:
    assert env(PORT=value).integer("PORT", 8080, min=1, max=65535) == int(value)


# number


def test_number_parses_a_decimal() -> None:
    assert env(TIMEOUT="0.5").number("TIMEOUT", 1.0) == 0.5


def test_number_falls_back_to_the_default_when_unset() -> None:
    assert env().number("TIMEOUT", 1.5) == 1.5


def test_number_rejects_text() -> None:
    assert "TIMEOUT" in config_error(lambda: env(TIMEOUT="fast").number("TIMEOUT", 1.0))


@pytest.mark.parametrize("value", ["0.001", "-1", "inf", "nan"])
def test_number_rejects_a_value_below_the_minimum_or_not_finite(value: str) -> None:
    message = config_error(lambda: env(TIMEOUT=value).number("TIMEOUT", 1.0, min=0.01))
    assert "TIMEOUT" in message


# flag


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "yes", "On"])
def test_flag_reads_true(value: str) -> None:
    assert env(CREATE=value).flag("CREATE", False) is True


@pytest.mark.parametrize("value", ["0", "false", "No", "OFF"])
def test_flag_reads_false(value: str) -> None:
    assert env(CREATE=value).flag("CREATE", True) is False


def test_flag_falls_back_to_the_default_when_unset() -> None:
    assert env().flag("CREATE", True) is True


def test_flag_rejects_anything_else() -> None:
    assert "CREATE" in config_error(lambda: env(CREATE="maybe").flag("CREATE", False))


# url


@pytest.mark.parametrize("value", ["redis://cache:6379/0", "rediss://cache.example.com"])
def test_url_accepts_the_allowed_schemes(value: str) -> None:
    assert env(REDIS_URL=value).url("REDIS_URL", schemes=("redis", "rediss")) == value


def test_url_falls_back_to_the_default_when_unset() -> None:
    read = env().url("REDIS_URL", "redis://localhost:6379/0", schemes=("redis",))
    assert read == "redis://localhost:6379/0"


@pytest.mark.parametrize(
    "value",
    [
        "http://cache:6379",  # a scheme not allowed
        "cache:6379",  # no scheme
        "redis://",  # no host
        "redis://cache:port",  # a port that is not a number
    ],
)
def test_url_rejects_a_malformed_url(value: str) -> None:
    message = config_error(lambda: env(REDIS_URL=value).url("REDIS_URL", schemes=("redis",)))
    assert "REDIS_URL" in message


def test_url_without_value_or_default_is_an_error_naming_the_variable() -> None:
    assert "REDIS_URL" in config_error(lambda: env().url("REDIS_URL", schemes=("redis",)))


# secret


def test_secret_returns_a_long_enough_value() -> None:
    assert env(TOKEN=SECRET).secret("TOKEN") == SECRET


def test_a_missing_secret_is_an_error_naming_the_variable() -> None:
    assert "TOKEN" in config_error(lambda: env().secret("TOKEN"))


def test_a_short_secret_is_an_error_that_does_not_show_the_secret() -> None:
    short = SECRET[:10]
    message = config_error(lambda: env(TOKEN=short).secret("TOKEN", min_length=16))
    assert "TOKEN" in message
    assert short not in message


def test_a_secret_at_the_minimum_length_is_accepted() -> None:
    assert env(TOKEN="x" * 16).secret("TOKEN", min_length=16) == "x" * 16
