"""The training frames (docs/MODELS.md, "Frames") from the recorded journeys (the data facts
behind each model's status are in data_facts.py).

Only carts whose outcome is final count: a cart still waiting for its order has no reward yet,
and with `closed_before` (the retraining passes now minus the attribution window) a cart abandoned
later is left out even when it has already been recovered - a recovery reports at once, a loss
only when the window closes, so keeping the early recoveries of open carts would make the newest
slice look far better than it is. `TrainingFrames.open_decisions` / `open_carts` count what was
left out that way (the training report shows them). Each row
comes back from the database as one CSV line with its flat feature row, read in chunks into
columns (services/store/frames/feature_rows.py and columns.py say why and how): a million
decisions load in seconds, in well under 1.5 GB (docs/PERFORMANCE.md).

Reward of a decision: 1.0 when its cart was recovered by an order placed at or after the decision.
The order's `placed_at` is the platform's clock; when it does not fall between abandonment and
the order's arrival (a shop clock that is off, or CR_TIME_SCALE speeding up the service clock)
the arrival on the service clock stands in for it (the outcome's record time, when the order row
is gone).

Column order and dtypes match the in-process simulator's frames (channel_models/simulator/result.py):
`touch` is a decision column and a feature, so one column; in the labels frame `source` names
the label's origin (survey, recovered_message), which shadows the traffic-source feature of the
same name (channel_models.learning.frames.label_features knows).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import DateTime, bindparam, text
from sqlalchemy.engine import Engine

from services.core.clock import utc
from services.store.frames.columns import ColumnReader, csv_line_sql
from services.store.frames.feature_rows import FEATURES, feature_row_sql


@dataclass(frozen=True)
class TrainingFrames:
    decisions: pd.DataFrame
    carts: pd.DataFrame
    labels: pd.DataFrame
    open_decisions: int = 0  # decisions before `until` left out: their cart's outcome is not final
    open_carts: int = 0  # abandoned carts before `until` left out for the same reason


def load_frames(
    engine: Engine, *, until: datetime | None = None, closed_before: datetime | None = None
) -> TrainingFrames:
    """Decisions, carts and labels recorded before `until` (all when None), of carts abandoned
    before `closed_before` (their attribution window has closed) when it is given."""
    ended = _ended_carts(engine, until)
    abandoned = ended["abandoned_at"]
    if closed_before is not None:
        closed = abandoned < np.datetime64(utc(closed_before).replace(tzinfo=None), "us")
        ended = {name: column[closed] for name, column in ended.items()}
    decisions, open_decisions = _decisions(engine, until, ended)
    carts = _carts(ended)
    return TrainingFrames(
        decisions,
        carts,
        _labels(engine, until),
        open_decisions,
        _abandoned_count(engine, until) - len(ended["cart_id"]),
    )


def _abandoned_count(engine: Engine, until: datetime | None) -> int:
    sql = f"SELECT COUNT(*) FROM carts WHERE abandoned_at IS NOT NULL {'AND abandoned_at < :until' if until else ''}"
    with engine.connect() as connection:
        return int(connection.execute(*_statement(sql, until)).scalar_one())


def _first_decision_row(pg: bool) -> str:
    """The feature row of the cart's first touch decision (the (cart_id, touch) index finds it)."""
    return (
        f"(SELECT {feature_row_sql('d1.feature_row', 'd1.features', pg)} FROM decisions d1 "
        "WHERE d1.cart_id = c.id AND d1.touch = 1 ORDER BY d1.id LIMIT 1)"
    )


def _ended_carts(engine: Engine, until: datetime | None) -> dict[str, np.ndarray]:
    """Every abandoned cart with an outcome: its snapshot (if any), and when a recovered cart's
    order was placed on the service clock (see the module doc) for the decisions' rewards."""
    pg = engine.dialect.name == "postgresql"
    arrival = "COALESCE(ord.received_at, o.recorded_at)"  # the outcome's record time when the order row is gone
    placed = f"COALESCE(CASE WHEN ord.placed_at >= c.abandoned_at AND ord.placed_at <= {arrival} THEN ord.placed_at END, {arrival})"
    snapshot = f"COALESCE({feature_row_sql('c.feature_row', 'c.features', pg)}, {_first_decision_row(pg)})"
    line = csv_line_sql(
        [
            ("c.id", "text"),
            ("c.abandoned_at", "time"),
            ("c.holdout", "bool"),
            ("o.touches_sent", "int"),
            ("o.status = 'recovered'", "bool"),
            ("c.value_cents", "int"),
            (f"CASE WHEN o.status = 'recovered' THEN {placed} END", "time"),
        ],
        snapshot,
        pg,
    )
    sql = f"""
        SELECT {line}
        FROM carts c
        JOIN outcomes o ON o.cart_id = c.id
        LEFT JOIN orders ord ON ord.cart_id = o.cart_id AND ord.order_id = o.order_id
        WHERE c.abandoned_at IS NOT NULL {"AND c.abandoned_at < :until" if until else ""}
        ORDER BY c.abandoned_at, c.id
    """
    reader = ColumnReader(
        [
            "cart_id:text",
            "abandoned_at:time",
            "holdout:bool",
            "touches_sent:int",
            "recovered:bool",
            "value_cents:int",
            "recovered_at:time",
        ],
        keep_without_features=True,
    )
    return reader.read(engine, *_statement(sql, until))


def _decisions(engine: Engine, until: datetime | None, ended: dict[str, np.ndarray]) -> tuple[pd.DataFrame, int]:
    """Bandit rows of the carts in `ended`, and how many rows were left out (their cart is not).
    Their carts' values and order times come from `ended` (a hash lookup here costs less than
    joining three tables for each of a million rows)."""
    pg = engine.dialect.name == "postgresql"
    line = csv_line_sql(
        [
            ("d.id", "int"),
            ("d.cart_id", "text"),
            ("d.decided_at", "time"),
            ("d.touch", "int"),
            ("d.policy", "text"),
            ("d.action", "int"),
            ("d.action_propensity", "float"),
            (
                "EXISTS (SELECT 1 FROM messages m WHERE m.cart_id = d.cart_id AND m.touch = d.touch AND m.status = 'sent')",
                "bool",
            ),
            ("COALESCE(d.rule_action, -1)", "int"),
        ],
        feature_row_sql("d.feature_row", "d.features", pg),
        pg,
    )
    sql = f"""
        SELECT {line}, {_as_text("d.allowed_actions", pg)}
        FROM decisions d
        WHERE NOT d.stop AND d.action IS NOT NULL {"AND d.decided_at < :until" if until else ""}
        ORDER BY d.id
    """
    reader = ColumnReader(
        [
            "decision_id:int",
            "cart_id:text",
            "decided_at:time",
            "touch:int",
            "policy:text",
            "action:int",
            "propensity:float",
            "sent:bool",
            "rule_action:int",
        ],
        json_lists=("allowed_actions",),
    )
    columns = reader.read(engine, *_statement(sql, until))
    cart = pd.Index(ended["cart_id"]).get_indexer(columns["cart_id"])
    ended_journey = cart >= 0
    cart = cart[ended_journey]
    ordered = [
        "decision_id",
        "cart_id",
        "decided_at",
        "touch",
        "policy",
        *FEATURES.names,
        "action",
        "propensity",
        "allowed_actions",
        "sent",
        "rule_action",
    ]
    frame = {name: columns.pop(name)[ended_journey] for name in dict.fromkeys(ordered)}  # `touch` is a feature too
    frame["cart_id"], frame["policy"] = _objects(ended["cart_id"][cart]), _objects(frame["policy"])
    recovered_at = ended["recovered_at"][cart]
    reward = ~np.isnat(recovered_at) & (recovered_at >= frame["decided_at"])
    frame["decided_at"] = _utc(frame["decided_at"])
    frame["value"] = ended["value_cents"][cart] / 100.0
    frame["reward"] = reward.astype(np.float64)
    return pd.DataFrame(frame, copy=False), int((~ended_journey).sum())


def _carts(ended: dict[str, np.ndarray]) -> pd.DataFrame:
    """The ended carts that have a snapshot."""
    known = ended["has_features"]
    frame = {"cart_id": _objects(ended["cart_id"][known]), "abandoned_at": _utc(ended["abandoned_at"][known])}
    frame.update({name: ended[name][known] for name in FEATURES.names})
    frame["holdout"] = ended["holdout"][known]
    frame["touches_sent"] = ended["touches_sent"][known]
    frame["recovered"] = ended["recovered"][known]
    frame["value"] = ended["value_cents"][known] / 100.0
    return pd.DataFrame(frame, copy=False)


def _labels(engine: Engine, until: datetime | None) -> pd.DataFrame:
    """One label per cart: the shopper's survey answer when there is one, else the recovery's."""
    pg = engine.dialect.name == "postgresql"
    snapshot = f"COALESCE({_first_decision_row(pg)}, {feature_row_sql('c.feature_row', 'c.features', pg)})"
    line = csv_line_sql(
        [("l.cart_id", "text"), ("l.recorded_at", "time"), ("l.reason", "text"), ("l.source", "text")], snapshot, pg
    )
    sql = f"""
        SELECT {line}
        FROM reason_labels l JOIN carts c ON c.id = l.cart_id
        WHERE NOT EXISTS (
            SELECT 1 FROM reason_labels answer
            WHERE answer.cart_id = l.cart_id AND answer.source = 'survey' AND l.source <> 'survey'
            {"AND answer.recorded_at < :until" if until else ""}
        ) {"AND l.recorded_at < :until" if until else ""}
        ORDER BY l.recorded_at, l.cart_id
    """
    reader = ColumnReader(["cart_id:text", "labelled_at:time", "label:text", "label_source:text"])
    columns = reader.read(engine, *_statement(sql, until))
    frame = {"cart_id": _objects(columns["cart_id"]), "labelled_at": _utc(columns["labelled_at"])}
    frame.update({name: columns[name] for name in FEATURES.names})  # `source` stays the traffic source
    frame["label"], frame["label_source"] = _objects(columns["label"]), _objects(columns["label_source"])
    return pd.DataFrame(frame, copy=False)


def _objects(values: np.ndarray) -> pd.Series:
    """Strings as an object column (pandas would infer its string dtype), like the simulator's."""
    return pd.Series(values, dtype=object, copy=False)


def _utc(moments: np.ndarray) -> pd.DatetimeIndex:
    """datetime64[ns] (UTC, naive) as datetime64[ns, UTC]."""
    return pd.to_datetime(moments, utc=True)


def _as_text(expr: str, pg: bool) -> str:
    return f"CAST({expr} AS TEXT)" if pg else expr


def _statement(sql: str, until: datetime | None):
    statement = text(sql)
    if until is None:
        return statement, {}
    # SQLite compares the stored text: the bound value must be UTC in the same format
    return statement.bindparams(bindparam("until", type_=DateTime())), {"until": utc(until)}
