"""A view built from several queries reads one snapshot: a commit landing between its queries
(the workflow closing the cart while the API reads it) is either all seen or not at all."""

from __future__ import annotations

from sqlmodel import Session

from services.store.db import snapshot
from services.store.tables import Cart
from services.store.views import cart_journey
from tests.utils.training_journeys import cart, key, outcome


def test_a_journey_read_in_a_snapshot_does_not_see_a_commit_made_after_it_began(engine):
    with Session(engine) as s:
        cart(s, "a")
        s.commit()
    with Session(engine) as reader:
        snapshot(reader)
        open_cart = reader.get(Cart, key("a"))
        assert open_cart is not None and open_cart.status == "open"
        with Session(engine) as writer:  # the workflow records the outcome and closes the cart together
            outcome(writer, "a", "recovered")
            closed = writer.get(Cart, key("a"))
            assert closed is not None
            closed.status = "recovered"
            writer.add(closed)
            writer.commit()
        journey = cart_journey(reader, open_cart)
        assert (journey["status"], journey["outcome"]) == ("open", None)
    with Session(engine) as later:
        snapshot(later)
        closed = later.get(Cart, key("a"))
        assert closed is not None
        journey = cart_journey(later, closed)
        assert journey["status"] == "recovered" and journey["outcome"]["status"] == "recovered"


def test_without_a_snapshot_the_same_reads_see_the_commit_halfway(engine):
    """The control: proves the first test can fail (each statement sees the latest commit)."""
    with Session(engine) as s:
        cart(s, "a")
        s.commit()
    with Session(engine) as reader:
        open_cart = reader.get(Cart, key("a"))
        assert open_cart is not None
        with Session(engine) as writer:
            outcome(writer, "a", "recovered")
            writer.commit()
        journey = cart_journey(reader, open_cart)
        assert journey["status"] == "open" and journey["outcome"] is not None  # the torn read CI once saw
