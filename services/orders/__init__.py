"""The orders service: checkout, orders and their status, and the OrderPlaced events.

Routes (HTTP only) are in `routes.py`, the business of checkout and the outbox relay in
`checkout.py`, storage in `store.py`, the event schema and publishing in `events.py`, the
wiring and settings in `app.py`.
"""
