"""A checkout replayed with its Idempotency-Key after its first attempt could not publish:
the replay answers the same order and publishes its event, once."""

from __future__ import annotations

from tests.unit.orders.conftest import Store

from orders.store import OUTBOX_LEASE_SECONDS


def test_a_replay_publishes_the_event_its_first_attempt_could_not(store: Store) -> None:
    store.server.connected = False  # Redis refuses the first attempt's event
    first = store.checkout(key="key-replay-0001")
    assert first.status_code == 201
    store.server.connected = True
    assert store.events() == []
    store.clock.advance(OUTBOX_LEASE_SECONDS + 1)  # the first attempt's lease has ended

    again = store.checkout(key="key-replay-0001")

    assert again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.get_json()["id"] == first.get_json()["id"]
    assert [event["orderId"] for event in store.events()] == [first.get_json()["id"]]
    assert store.checkout(key="key-replay-0001").status_code == 201
    assert len(store.events()) == 1  # a second replay publishes nothing more
