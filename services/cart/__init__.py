"""The cart service: shopping carts in DynamoDB (with TTL expiry), priced by the catalog.

Routes are in `routes.py`, storage in `store.py`, the API shapes in `models.py`, the wiring and
settings in `app.py`.
"""
