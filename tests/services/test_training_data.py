"""The training frames and data facts from the database (services/store/frames/training_data.py), on
SQLite and PostgreSQL, over a hand-built set of journeys whose every reward is known."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from sqlmodel import Session

from channel_models.context import PlanContext
from channel_models.learning.features import encode_frame, encode_row, snapshot
from services.store.frames.feature_rows import feature_row
from services.store.model_versions import record_failure, record_version
from services.store.tables import Cart, Decision, Message, ModelVersion, Order, Outcome, ReasonLabel
from services.store.frames.training_data import data_facts, load_frames

T0 = datetime(2026, 4, 1, 9, 0, tzinfo=timezone.utc)
H = timedelta(hours=1)
FEATURE_COLUMNS = list(snapshot(PlanContext(touch=1, max_touches=1, now=T0, abandoned_at=T0, deadline=T0, cart_value=0,
                                            item_count=0, stage="cart")))


def snap(value: float, touch: int = 1, now: datetime = T0, **extra) -> dict:
    """A real snapshot whose cart value tells the rows apart."""
    ctx = PlanContext(touch=touch, max_touches=3, now=now, abandoned_at=T0, deadline=T0 + 120 * H, cart_value=value,
                      item_count=2, stage="payment", device="mobile", source="newsletter",
                      previous_channels=("email",) * (touch - 1), signal_counts={"price_sort": 2}, **extra)
    return snapshot(ctx)


def key(name: str) -> str:
    return name.ljust(32, "0")


def flat(name: str, features: dict | None) -> str | None:
    """Half the journeys keep the flat copy the service writes, half only JSON (bulk-loaded or
    older rows): both must load the same."""
    return feature_row(features) if name in ("a", "b", "d", "g") else None


def cart(session, name, *, features=None, holdout=False, value=5000, abandoned=T0):
    session.add(Cart(id=key(name), shop="s", token=name, platform="generic", value_cents=value, created_at=abandoned - H,
                     updated_at=abandoned, abandoned_at=abandoned, holdout=holdout, features=features,
                     feature_row=flat(name, features)))
    session.flush()


def decision(session, name, touch, at, *, action=3, allowed=(3, 5), stop=False, features=None, sent=True, rule_action=None) -> int:
    features = features or snap(1.0, touch, at)
    row = Decision(cart_id=key(name), touch=touch, decided_at=at, policy="rules-v1+explore", stop=stop, reason="price",
                   reason_confidence=0.6, propensity=0.2, bucket="Low", action_propensity=0.75, action=action,
                   allowed_actions=list(allowed), features=features, feature_row=flat(name, features),
                   model_versions={"policy": 4}, rule_action=rule_action)
    session.add(row)
    session.flush()
    if sent is not None:
        session.add(Message(idempotency_key=f"{name}/{touch}", cart_id=key(name), decision_id=row.id, touch=touch,
                            channel="email", status="sent" if sent else "skipped", created_at=at))
    return row.id


def outcome(session, name, status, *, touches=1, placed=None, received=None, value=5000, ttr=None):
    order_id = None
    if placed is not None:
        order_id = f"order-{name}"
        session.add(Order(shop="s", order_id=order_id, cart_id=key(name), value_cents=value, placed_at=placed,
                          received_at=received or placed))
    session.add(Outcome(cart_id=key(name), status=status, order_id=order_id, touches_sent=touches, value_cents=value,
                        time_to_recovery_s=ttr, recorded_at=T0 + 120 * H))


@pytest.fixture
def journeys(engine):
    with Session(engine) as s:
        # a: recovered by an order placed after both decisions
        cart(s, "a", features=snap(10.0), value=1250)
        decision(s, "a", 1, T0, features=snap(10.0), rule_action=5)
        decision(s, "a", 2, T0 + 24 * H, action=7, allowed=(7,), sent=False)
        outcome(s, "a", "recovered", touches=1, placed=T0 + 30 * H, value=1300)
        # b: the order was placed before touch 2 was decided, though its webhook came after
        cart(s, "b", features=snap(20.0))
        decision(s, "b", 1, T0)
        decision(s, "b", 2, T0 + 24 * H)
        outcome(s, "b", "recovered", touches=2, placed=T0 + 10 * H, received=T0 + 25 * H)
        # c: not recovered; a stop decision and a decision without an action are not bandit rows
        cart(s, "c", features=snap(30.0))
        decision(s, "c", 1, T0)
        decision(s, "c", 2, T0 + 24 * H, action=None, allowed=(), sent=None)
        decision(s, "c", 3, T0 + 48 * H, action=None, allowed=(), stop=True, sent=None)
        outcome(s, "c", "not_recovered", touches=1)
        # d: holdout, no decision, came back on its own
        cart(s, "d", features=snap(40.0), holdout=True)
        outcome(s, "d", "recovered", touches=0, placed=T0 + 5 * H)
        # e: still in its journey: no outcome, no reward yet
        cart(s, "e", features=snap(50.0))
        decision(s, "e", 1, T0)
        # f: abandoned before snapshots were kept at abandonment: its first decision stands in
        cart(s, "f", features=None)
        decision(s, "f", 1, T0, features=snap(60.0))
        outcome(s, "f", "not_recovered", touches=1)
        # g: the shop's clock is far off (or the service clock sped up): the order's arrival counts
        cart(s, "g", features=snap(70.0))
        decision(s, "g", 1, T0 + 2 * H)
        outcome(s, "g", "recovered", placed=T0 - timedelta(days=100), received=T0 + 3 * H)
        # h: holdout from before snapshots: nothing to learn from, left out
        cart(s, "h", features=None, holdout=True)
        outcome(s, "h", "not_recovered", touches=0)
        # labels: a's shopper answered the survey (it outranks the recovery), d only answered
        for name, reason, source, at in [("a", "price", "recovered_message", T0 + 30 * H), ("a", "shipping_cost", "survey", T0 + 40 * H),
                                         ("c", "indecision", "recovered_message", T0 + 50 * H), ("d", "technical", "survey", T0 + 6 * H)]:
            s.add(ReasonLabel(cart_id=key(name), reason=reason, source=source, recorded_at=at))
        s.commit()
    return engine


def test_decisions_frame_has_the_contract_schema(journeys):
    decisions = load_frames(journeys).decisions
    expected = ["decision_id", "cart_id", "decided_at", "touch", "policy",
                *[c for c in FEATURE_COLUMNS if c != "touch"], "action", "propensity", "allowed_actions", "sent", "rule_action", "value", "reward"]
    assert list(decisions.columns) == expected
    assert str(decisions["decided_at"].dtype) == "datetime64[ns, UTC]"
    assert decisions["reward"].dtype == np.float64 and decisions["sent"].dtype == bool
    assert decisions["action"].dtype.kind == "i" and decisions["decision_id"].dtype.kind == "i"
    row = decisions.iloc[0]
    assert (row["cart_id"], row["decided_at"], row["touch"], row["policy"]) == (key("a"), pd.Timestamp(T0), 1, "rules-v1+explore")
    assert (row["action"], row["propensity"], row["allowed_actions"], row["value"]) == (3, 0.75, [3, 5], 12.5)
    assert decisions["rule_action"].dtype.kind == "i"
    shadows = dict(zip(decisions["decision_id"], decisions["rule_action"]))
    assert shadows[row["decision_id"]] == 5 and sorted(set(shadows.values())) == [-1, 5]  # -1: none recorded


def test_rewards_follow_when_the_order_was_placed(journeys):
    decisions = load_frames(journeys).decisions
    rewards = {(cart_id[0], touch): reward for cart_id, touch, reward in decisions[["cart_id", "touch", "reward"]].itertuples(index=False)}
    assert rewards == {
        ("a", 1): 1.0, ("a", 2): 1.0,  # recovered after both
        ("b", 1): 1.0, ("b", 2): 0.0,  # placed before touch 2 was decided
        ("c", 1): 0.0,
        ("f", 1): 0.0,
        ("g", 1): 1.0,  # placed_at is implausible: the arrival, after the decision, counts
    }
    sent = {(c[0], t): s for c, t, s in decisions[["cart_id", "touch", "sent"]].itertuples(index=False)}
    assert sent[("a", 1)] and not sent[("a", 2)] and sent[("b", 2)]


def test_decision_features_round_trip_to_the_same_encoding(journeys):
    """What training encodes from the frame is what the planner encoded from the snapshot."""
    decisions = load_frames(journeys).decisions
    with Session(journeys) as s:
        features = {d: s.get(Decision, d).features for d in decisions["decision_id"]}
    online = np.vstack([encode_row(features[d]) for d in decisions["decision_id"]]).astype(np.float32)
    assert np.array_equal(encode_frame(decisions), online)
    assert decisions.loc[decisions["cart_id"] == key("a"), "cart_value"].tolist() == [10.0, 1.0]
    assert decisions["previous_channels"].tolist()[1] == ["email"]


def test_carts_frame_one_row_per_ended_journey_with_its_snapshot(journeys):
    carts = load_frames(journeys).carts
    assert list(carts.columns) == ["cart_id", "abandoned_at", *FEATURE_COLUMNS, "holdout", "touches_sent", "recovered", "value"]
    assert str(carts["abandoned_at"].dtype) == "datetime64[ns, UTC]"
    rows = {c[0]: (v, h, t, r) for c, v, h, t, r in carts[["cart_id", "cart_value", "holdout", "touches_sent", "recovered"]].itertuples(index=False)}
    assert rows == {
        "a": (10.0, False, 1, True), "b": (20.0, False, 2, True), "c": (30.0, False, 1, False),
        "d": (40.0, True, 0, True), "f": (60.0, False, 1, False), "g": (70.0, False, 1, True),
    }  # e has no outcome yet; h has no snapshot at all
    assert carts.loc[carts["cart_id"] == key("a"), "value"].item() == 12.5


def test_labels_one_per_cart_the_survey_first(journeys):
    labels = load_frames(journeys).labels
    assert list(labels.columns) == ["cart_id", "labelled_at", *FEATURE_COLUMNS, "label", "label_source"]
    rows = {c[0]: (label, source, value) for c, label, source, value in labels[["cart_id", "label", "label_source", "cart_value"]].itertuples(index=False)}
    assert rows == {"a": ("shipping_cost", "survey", 10.0), "c": ("indecision", "recovered_message", 1.0),
                    "d": ("technical", "survey", 40.0)}  # c: its touch-1 decision's snapshot; d: the abandonment one
    assert labels.loc[labels["cart_id"] == key("a"), "labelled_at"].item() == pd.Timestamp(T0 + 40 * H)


def test_until_cuts_every_frame_at_that_time(journeys):
    frames = load_frames(journeys, until=T0 + 20 * H)
    assert sorted((c[0], t) for c, t in frames.decisions[["cart_id", "touch"]].itertuples(index=False)) == [
        ("a", 1), ("b", 1), ("c", 1), ("f", 1), ("g", 1)]
    assert len(frames.carts) == 6  # all abandoned at T0
    # the survey answer for a came later: the recovery's label stands until then; c's came later too
    assert {c[0]: label for c, label in frames.labels[["cart_id", "label"]].itertuples(index=False)} == {"d": "technical"}
    frames = load_frames(journeys, until=T0 + 35 * H)
    assert {c[0]: label for c, label in frames.labels[["cart_id", "label"]].itertuples(index=False)} == {"a": "price", "d": "technical"}


def test_an_empty_database_gives_empty_frames_with_the_columns(engine):
    frames = load_frames(engine)
    assert len(frames.decisions) == len(frames.carts) == len(frames.labels) == 0
    assert "reward" in frames.decisions and "recovered" in frames.carts and "label" in frames.labels
    assert str(frames.decisions["decided_at"].dtype) == "datetime64[ns, UTC]"
    assert encode_frame(frames.carts).shape[0] == 0


# --- data facts --------------------------------------------------------------------------------
NOW = T0 + timedelta(days=20)


def version(session, kind, status, at, **metrics):
    return record_version(session, kind=kind, status=status, metrics=metrics, params={}, library_versions={},
                          data_from=at - timedelta(days=10), data_to=at, eval_from=at, eval_to=at, rows_train=1,
                          rows_eval=1, artifact=b"x" if status == "active" else None, artifact_hmac="m" if status == "active" else None,
                          note="", now=at)


def test_data_facts_count_ended_journeys_conversions_and_labels(journeys):
    with Session(journeys) as s:
        cart(s, "late", features=snap(1.0), abandoned=NOW - timedelta(days=2))
        outcome(s, "late", "recovered", placed=NOW - timedelta(days=1))
        s.add(ReasonLabel(cart_id=key("late"), reason="price", source="survey", recorded_at=NOW - timedelta(days=1)))
        s.commit()
        facts = data_facts(s, "policy", NOW)
    assert facts.first_abandoned_at == T0
    assert facts.last_decision_at == T0 + 2 * H  # the newest decision recorded (g's)
    assert (facts.carts, facts.conversions, facts.labels) == (8, 5, 4)  # a, b, c, d, f, g, h, late; labels per cart
    assert (facts.carts_per_day, facts.conversions_per_day, facts.labels_per_day) == (1 / 14, 1 / 14, 1 / 14)
    assert facts.last_training_at is None and facts.last_training_ok is None and facts.active_version is None


def test_rates_use_the_days_there_are_when_data_is_young(engine):
    with Session(engine) as s:
        cart(s, "x", features=snap(1.0), abandoned=NOW - timedelta(days=4))
        cart(s, "y", features=snap(1.0), abandoned=NOW - timedelta(days=1))
        outcome(s, "x", "not_recovered")
        outcome(s, "y", "recovered", placed=NOW)
        s.commit()
        facts = data_facts(s, "propensity", NOW)
    assert (facts.carts, facts.carts_per_day, facts.conversions_per_day) == (2, 0.5, 0.25)


def test_data_facts_training_history_per_kind(engine):
    with Session(engine) as s:
        version(s, "policy", "active", NOW - timedelta(days=3), dr=0.1)
        version(s, "policy", "rejected", NOW - timedelta(days=2), active_quality_fell=False)
        record_failure(s, "policy", "MemoryError: too big", NOW - timedelta(days=1))
        version(s, "reason", "active", NOW - timedelta(days=5))
        version(s, "reason", "rejected", NOW - timedelta(days=4), active_quality_fell=True)
        s.commit()
        policy, reason, propensity = (data_facts(s, kind, NOW) for kind in ("policy", "reason", "propensity"))
    assert (policy.last_training_at, policy.last_training_ok, policy.last_failure) == (NOW - timedelta(days=2), False, "MemoryError: too big")
    assert (policy.active_version, policy.quality_fell) == (1, False)
    # the latest completed run (policy's, 2 days ago) counts for every kind: a kind it skipped for
    # lack of data is not overdue
    assert (reason.last_training_at, reason.last_training_ok, reason.last_failure) == (NOW - timedelta(days=2), True, None)
    assert (reason.active_version, reason.quality_fell) == (1, True)
    assert (propensity.last_training_ok, propensity.active_version, propensity.quality_fell) == (None, None, False)
    assert propensity.last_training_at == NOW - timedelta(days=2)


def test_a_newer_promotion_clears_quality_fell(engine):
    with Session(engine) as s:
        version(s, "reason", "active", NOW - timedelta(days=5))
        version(s, "reason", "rejected", NOW - timedelta(days=4), active_quality_fell=True)
        version(s, "reason", "active", NOW - timedelta(days=3))
        s.commit()
        facts = data_facts(s, "reason", NOW)
        assert (facts.active_version, facts.quality_fell) == (3, False)
        assert s.get(ModelVersion, 1).status == "retired"


def test_data_facts_refuses_an_unknown_kind(engine):
    with Session(engine) as s, pytest.raises(ValueError, match="unknown model kind 'bandit'"):
        data_facts(s, "bandit", NOW)


def test_frames_have_the_simulators_columns_and_dtypes(journeys):
    """Training cannot tell recorded data from simulated data (docs/MODELS.md, Frames)."""
    from channel_models.simulator.result import SimulationResult

    loaded, simulated = load_frames(journeys), SimulationResult()
    for name in ("decisions", "carts", "labels"):
        db, sim = getattr(loaded, name), getattr(simulated, name)
        assert list(db.columns) == list(sim.columns), name
        typed = [c for c in sim.columns if c not in FEATURE_COLUMNS]
        assert {c: str(db[c].dtype) for c in typed} == {c: str(sim[c].dtype) for c in typed}, name
