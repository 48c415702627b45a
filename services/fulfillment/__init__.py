"""Fulfillment: the worker that charges and ships placed orders (both simulated).

It has no public API. It consumes `OrderPlaced` events from the orders stream in a Redis
consumer group, records each charge and shipment once in its own DynamoDB table, and moves
each order through orders' internal API:
`PLACED -> PAID -> SHIPPED`, or `PLACED -> PAYMENT_DECLINED`.

- `events`: the event schema (version 1), documented and parsed.
- `steps`: the business steps, charge, ship and the status calls; each is idempotent.
- `store`: the DynamoDB table where each charge and shipment is recorded once.
- `worker`: the consumer loop: read, claim from dead consumers, acknowledge, dead-letter.
- `app`: settings and wiring; the loop runs in a background thread of each gunicorn worker,
  next to /healthz, /readyz and /metrics. `python -m fulfillment` runs it in the foreground.
"""
