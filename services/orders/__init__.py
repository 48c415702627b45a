"""The orders service: checkout, orders and their status, and the OrderPlaced events.

Routes are in `routes.py`, storage in `store.py`, the event schema and publishing in
`events.py`, the wiring and settings in `app.py`.
"""
