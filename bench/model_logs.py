"""The simulated logs of bench/models.py written to a SQLite file through the service's tables, copied to size."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path

from services.store.db import make_engine
from services.store.frames.feature_rows import FEATURES, feature_row


def _ts(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def _snapshot(row) -> dict:
    return {name: (row[name].item() if hasattr(row[name], "item") else row[name]) for name in FEATURES.names}


def write_logs(path: Path, result, target: int) -> int:
    """The simulated logs, copied until `target` decisions; returns the number written."""
    make_engine(f"sqlite:///{path}").dispose()  # the service's schema
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    decisions, carts = result.decisions, result.carts.set_index("cart_id")
    outcomes = {o.cart_id: o for o in result.outcomes} if hasattr(result, "outcomes") else {}
    labels = result.labels
    span = (carts["abandoned_at"].max() - carts["abandoned_at"].min()).to_pytimedelta() + timedelta(days=6)
    cart_rows = [(cid, _snapshot(row), row) for cid, row in carts.iterrows()]
    decision_rows = [(_snapshot(row), row) for _, row in decisions.iterrows()]
    written, copy, next_id = 0, 0, 1
    while written < target:
        shift, prefix = span * copy, f"c{copy}-"
        con.executemany(
            "INSERT INTO carts (id, shop, token, platform, currency, value_cents, items, stage, version, status, "
            "journey_state, holdout, created_at, updated_at, abandoned_at, features, feature_row) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    prefix + cid,
                    "bench",
                    prefix + cid,
                    "generic",
                    "USD",
                    int(row["value"] * 100),
                    "[]",
                    snap["stage"],
                    1,
                    "recovered" if row["recovered"] else "not_recovered",
                    "done",
                    bool(row["holdout"]),
                    _ts(row["abandoned_at"] + shift),
                    _ts(row["abandoned_at"] + shift),
                    _ts(row["abandoned_at"] + shift),
                    json.dumps(snap),
                    feature_row(snap),
                )
                for cid, snap, row in cart_rows
            ],
        )
        recovered = []
        for cid, _, row in cart_rows:
            outcome = outcomes.get(cid)
            at = getattr(outcome, "order_at", None) or getattr(outcome, "recovered_at", None)
            if row["recovered"]:
                placed = (at if at is not None else row["abandoned_at"] + timedelta(hours=1)) + shift
                recovered.append((prefix + cid, placed))
        con.executemany(
            "INSERT INTO orders (shop, order_id, cart_id, currency, value_cents, placed_at, received_at) VALUES (?,?,?,?,?,?,?)",
            [("bench", f"o-{cid}", cid, "USD", 100, _ts(at), _ts(at)) for cid, at in recovered],
        )
        con.executemany(
            "INSERT INTO outcomes (cart_id, status, holdout, order_id, value_cents, currency, touches_sent, recorded_at) "
            "VALUES (?,?,?,?,?,?,?,?)",
            [
                (
                    prefix + cid,
                    "recovered" if row["recovered"] else "not_recovered",
                    bool(row["holdout"]),
                    f"o-{prefix + cid}" if row["recovered"] else None,
                    int(row["value"] * 100),
                    "USD",
                    int(row["touches_sent"]),
                    _ts(row["abandoned_at"] + shift + timedelta(days=5)),
                )
                for cid, _, row in cart_rows
            ],
        )
        batch, messages = [], []
        for snap, row in decision_rows:
            if written + len(batch) >= target:
                break
            at = _ts(row["decided_at"] + shift)
            batch.append(
                (
                    next_id,
                    prefix + row["cart_id"],
                    int(row["touch"]),
                    at,
                    row["policy"],
                    False,
                    "price",
                    0.5,
                    0.2,
                    "Low",
                    float(row["propensity"]),
                    "{}",
                    "{}",
                    "[]",
                    json.dumps(snap),
                    feature_row(snap),
                    int(row["action"]),
                    json.dumps([int(a) for a in row["allowed_actions"]]),
                    "{}",
                )
            )
            if row["sent"]:
                messages.append(
                    (
                        next_id,
                        f"{prefix}{row['cart_id']}/{int(row['touch'])}",
                        prefix + row["cart_id"],
                        next_id,
                        int(row["touch"]),
                        "email",
                        "sent",
                        1,
                        0,
                        at,
                        at,
                    )
                )
            next_id += 1
        con.executemany(
            "INSERT INTO decisions (id, cart_id, touch, decided_at, policy, stop, reason, reason_confidence, propensity, "
            "bucket, action_propensity, allowed, blocked, explanation, features, feature_row, action, allowed_actions, "
            "model_versions) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            batch,
        )
        con.executemany(
            "INSERT INTO messages (id, idempotency_key, cart_id, decision_id, touch, channel, status, attempts, "
            "uncertain_resends, created_at, sent_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            messages,
        )
        con.executemany(
            "INSERT INTO reason_labels (cart_id, reason, source, recorded_at) VALUES (?,?,?,?)",
            [(prefix + r.cart_id, r.label, "survey", _ts(r.labelled_at + shift)) for r in labels.itertuples()],
        )
        con.commit()
        written += len(batch)
        copy += 1
    con.execute("ANALYZE")
    con.commit()
    con.close()
    return written
