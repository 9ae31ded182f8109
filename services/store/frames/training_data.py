"""The training frames (docs/MODELS.md, "Frames") from the recorded journeys (the data facts
behind each model's status are in data_facts.py).

Only carts whose outcome is final count: a cart still waiting for its order has no reward yet,
and with `closed_before` (the retraining passes now minus the attribution window) a cart abandoned
later is left out even when it has already been recovered - a recovery reports at once, a loss
only when the window closes, so keeping the early recoveries of open carts would make the newest
slice look far better than it is. `TrainingFrames.open_decisions` counts the decisions left out
that way, and those of carts past their window whose outcome is not recorded yet (the training
report shows it), and with `until` too the open carts'
decisions come apart as `pending`: what is known of them by then, which the policy's reward model
learns from as partial outcomes (channel_models/learning/censoring.py). Each row
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
the label's origin ("survey"), which shadows the traffic-source feature of the
same name (channel_models.learning.frames.label_features knows).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import DateTime, bindparam, text
from sqlalchemy.engine import Engine

from channel_models.learning.censoring import Pending
from services.core.clock import utc
from services.store.frames.columns import ColumnReader, csv_line_sql
from services.store.frames.feature_rows import FEATURES, feature_row_sql


@dataclass(frozen=True)
class TrainingFrames:
    decisions: pd.DataFrame
    carts: pd.DataFrame
    labels: pd.DataFrame
    open_decisions: int = 0  # decisions before `until` whose cart's outcome is not final
    pending: Pending | None = None  # the open carts' decisions as partial outcomes (with `closed_before`)


def load_frames(
    engine: Engine, *, until: datetime | None = None, closed_before: datetime | None = None
) -> TrainingFrames:
    """Decisions, carts and labels recorded before `until` (all when None), of carts abandoned
    before `closed_before` (their attribution window has closed) when it is given. With both, the
    decisions before `until` of carts abandoned since `closed_before` come as `pending`: what is
    known of them by `until` (channel_models.learning.censoring)."""
    abandoned = _abandoned_carts(engine, until)
    final = abandoned["ended"].copy()
    if closed_before is not None:
        final &= abandoned["abandoned_at"] < _naive(closed_before)
    ended = {name: column[final] for name, column in abandoned.items()}
    columns = _decision_columns(engine, until)
    pending = None
    if closed_before is not None and until is not None:
        still_open = {
            name: column[abandoned["abandoned_at"] >= _naive(closed_before)] for name, column in abandoned.items()
        }
        pending = _pending(columns, still_open, ended, until)
    decisions, left_out = _decisions(columns, ended)
    return TrainingFrames(decisions, _carts(ended), _labels(engine, until), left_out, pending)


def _naive(moment: datetime) -> np.datetime64:
    return np.datetime64(utc(moment).replace(tzinfo=None), "us")


def _first_decision_row(pg: bool) -> str:
    """The feature row of the cart's first touch decision (the (cart_id, touch) index finds it)."""
    return (
        f"(SELECT {feature_row_sql('d1.feature_row', 'd1.features', pg)} FROM decisions d1 "
        "WHERE d1.cart_id = c.id AND d1.touch = 1 ORDER BY d1.id LIMIT 1)"
    )


def _abandoned_carts(engine: Engine, until: datetime | None) -> dict[str, np.ndarray]:
    """Every abandoned cart, whether its outcome is recorded (`ended`), its snapshot (if any), and
    when a recovered cart's order was placed on the service clock (see the module doc) for the
    decisions' rewards."""
    pg = engine.dialect.name == "postgresql"
    arrival = "COALESCE(ord.received_at, o.recorded_at)"  # the outcome's record time when the order row is gone
    placed = f"COALESCE(CASE WHEN ord.placed_at >= c.abandoned_at AND ord.placed_at <= {arrival} THEN ord.placed_at END, {arrival})"
    snapshot = f"COALESCE({feature_row_sql('c.feature_row', 'c.features', pg)}, {_first_decision_row(pg)})"
    line = csv_line_sql(
        [
            ("c.id", "text"),
            ("c.abandoned_at", "time"),
            ("c.holdout", "bool"),
            ("COALESCE(o.touches_sent, 0)", "int"),  # 0 and not recovered while the journey runs
            ("COALESCE(o.status, '') = 'recovered'", "bool"),
            ("c.value_cents", "int"),
            (f"CASE WHEN o.status = 'recovered' THEN {placed} END", "time"),
            ("o.cart_id IS NOT NULL", "bool"),
        ],
        snapshot,
        pg,
    )
    sql = f"""
        SELECT {line}
        FROM carts c
        LEFT JOIN outcomes o ON o.cart_id = c.id
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
            "ended:bool",
        ],
        keep_without_features=True,
    )
    return reader.read(engine, *_statement(sql, until))


def _decision_columns(engine: Engine, until: datetime | None) -> dict[str, np.ndarray]:
    """Every bandit row (a decision with an action) before `until`, as columns."""
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
    return reader.read(engine, *_statement(sql, until))


DECISION_COLUMNS = [
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


def _decisions(columns: dict[str, np.ndarray], carts: dict[str, np.ndarray], *, keep: bool = False):
    """The decisions frame of the rows whose cart is in `carts`, and how many rows were not.
    Their carts' values and order times come from `carts` (a hash lookup here costs less than
    joining three tables for each of a million rows). The columns are freed as they are read
    unless `keep`."""
    cart = pd.Index(carts["cart_id"]).get_indexer(columns["cart_id"])
    inside = cart >= 0
    cart = cart[inside]
    names = dict.fromkeys(DECISION_COLUMNS)  # `touch` is a feature too: once
    frame = {name: (columns[name] if keep else columns.pop(name))[inside] for name in names}
    frame["cart_id"], frame["policy"] = _objects(carts["cart_id"][cart]), _objects(frame["policy"])
    recovered_at = carts["recovered_at"][cart]
    reward = ~np.isnat(recovered_at) & (recovered_at >= frame["decided_at"])
    frame["decided_at"] = _utc(frame["decided_at"])
    frame["value"] = carts["value_cents"][cart] / 100.0
    frame["reward"] = reward.astype(np.float64)
    return pd.DataFrame(frame, copy=False), int((~inside).sum())


def _pending(
    columns: dict[str, np.ndarray], still_open: dict[str, np.ndarray], ended: dict[str, np.ndarray], until: datetime
) -> Pending:
    """The open carts' decisions with what is known by `until` (reward 1 when the order came
    already), and the closed recoveries' delays from abandonment."""
    frame, _ = _decisions(columns, still_open, keep=True)
    cart = pd.Index(still_open["cart_id"]).get_indexer(frame["cart_id"])
    since = _utc(still_open["abandoned_at"][cart])
    frame["decided_h"] = (pd.DatetimeIndex(frame["decided_at"]) - since).total_seconds().to_numpy() / 3600
    frame["elapsed_h"] = (pd.Timestamp(utc(until)) - since).total_seconds().to_numpy() / 3600
    frame["ended"] = still_open["ended"][cart]  # over before its window closed (cancelled, superseded)
    won = ~np.isnat(ended["recovered_at"]) & ~ended["holdout"]  # recovered after a message
    delay = _utc(ended["recovered_at"][won]) - _utc(ended["abandoned_at"][won])
    return Pending(frame, delay.total_seconds().to_numpy(dtype=np.float64) / 3600)


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
    """One label per cart: the shopper's survey answer (the only label source: a reason recovered
    carts were labelled with by their message was the rule prior's own inference, and a classifier
    trained on it learned to copy the rules - it scored accuracy 1.000 against them)."""
    pg = engine.dialect.name == "postgresql"
    snapshot = f"COALESCE({_first_decision_row(pg)}, {feature_row_sql('c.feature_row', 'c.features', pg)})"
    line = csv_line_sql(
        [("l.cart_id", "text"), ("l.recorded_at", "time"), ("l.reason", "text"), ("l.source", "text")], snapshot, pg
    )
    sql = f"""
        SELECT {line}
        FROM reason_labels l JOIN carts c ON c.id = l.cart_id
        WHERE l.source = 'survey' {"AND l.recorded_at < :until" if until else ""}
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
