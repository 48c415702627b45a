"""The catalog service: products and categories, read through a Redis cache from DynamoDB.

Routes are in `routes.py`, storage in `store.py`, the cache in `cache.py`, the wiring and
settings in `app.py`.
"""
