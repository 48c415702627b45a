"""Load the seed catalog (`seed_data.json`): idempotent, so it can run on every start.

    python -m catalog.seed            # uses CATALOG_TABLE, AWS_*, REDIS_URL like the service

Existing categories and products are left as they are; new ones are added through the same
store calls, each inside the same cache write marks, as the admin API. When Redis cannot take
the marks the tool stops before that write, exits 1 and says so; what it added before stays,
and running it again adds the rest.
"""

from __future__ import annotations

import json
import sys
from importlib.resources import files

from catalog.app import create_cache, create_store
from catalog.cache import CacheUnavailableError
from catalog.models import ProductWrite
from catalog.store import AlreadyExistsError
from emporium.config import ConfigError, Env, RedisSettings, ServiceSettings
from emporium.dynamodb import TABLE_NAME, DynamoDBSettings
from emporium.redis import redis_client


def seed() -> tuple[int, int]:
    """Add what is missing; returns how many categories and products were added."""
    own, shared = Env("CATALOG_"), Env()
    table = own.text("TABLE", "emporium-catalog", pattern=TABLE_NAME)
    dynamodb = DynamoDBSettings.from_env(shared)
    store = create_store(table, dynamodb)
    if ServiceSettings.from_env(shared).dynamodb_create_tables:
        store.create_table()
    cache = create_cache(
        redis_client(RedisSettings.from_env(shared), client_name="catalog-seed"), dynamodb
    )
    data = json.loads(files("catalog").joinpath("seed_data.json").read_text())

    with cache.writing([]):  # new categories change the cached category list
        added_categories = sum(store.put_category(c["id"], c["name"]) for c in data["categories"])
    added, total = [], len(data["products"])
    for number, raw in enumerate(data["products"], start=1):
        fields = {key: value for key, value in raw.items() if key != "id"}
        try:
            with cache.writing([cache.key("product", raw["id"])]):
                store.create_product(raw["id"], ProductWrite.model_validate(fields))
            added.append(raw["id"])
        except AlreadyExistsError:
            pass
        if number % 10 == 0 or number == total:
            print(f"seed: products {number}/{total}", file=sys.stderr, flush=True)
    return added_categories, len(added)


def main() -> int:
    try:
        categories, products = seed()
    except ConfigError as error:
        print(f"seed: {error}", file=sys.stderr)
        return 2
    except CacheUnavailableError as error:
        print(
            f"seed: stopped before a write, which the cache could not be told of ({error});"
            " run the seed again once Redis answers",
            file=sys.stderr,
        )
        return 1
    print(f"seed: added {categories} categories and {products} products (the rest were there)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
