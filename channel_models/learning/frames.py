"""The training frames: cut at a time into a training and a later evaluation slice, what data
they hold (for the learning phase), and the labels' feature columns."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from channel_models.registry.model_status import DataFacts

TRAIN_SHARE = 0.8


RATE_DAYS = 14  # per-day rates over this many recent days estimate when a model can activate


LABEL_SOURCES = ("survey",)  # the shoppers' answers: the only labels (services/store/frames/reason_labels.py)


def time_split(frame: pd.DataFrame, column: str, share: float = TRAIN_SHARE) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The earliest ``share`` of the rows by ``column``, and the later rest; both sorted.

    The cut is a time (the ``share`` quantile), so every evaluation row is later than every
    training row. A quantile of rows rather than of the time range: late follow-up touches
    stretch the range's tail, and a range cut would leave only a thin slice to evaluate on.
    Raises ValueError when one side would be empty (fewer than two distinct times)."""
    frame = frame.sort_values(column, kind="stable")
    start, end = frame[column].iloc[0], frame[column].iloc[-1]
    cut = frame[column].iloc[min(len(frame) - 1, int(len(frame) * share))]
    train, evaluate = frame[frame[column] < cut], frame[frame[column] >= cut]
    if train.empty or evaluate.empty:
        raise ValueError(f"{len(frame)} rows span no time ({start} to {end}): nothing to train on before a later slice")
    return train, evaluate


def frame_facts(decisions: pd.DataFrame, carts: pd.DataFrame, labels: pd.DataFrame, now: datetime) -> DataFacts:
    """The data side of DataFacts, from the frames (the DB's ``data_facts`` also knows trainings)."""
    since = pd.Timestamp(now) - pd.Timedelta(days=RATE_DAYS)

    def recent(frame: pd.DataFrame, column: str) -> float:
        return float((frame[column] >= since).sum()) / RATE_DAYS if len(frame) else 0.0

    recovered = carts[carts["recovered"].astype(bool)] if len(carts) else carts
    return DataFacts(
        first_abandoned_at=carts["abandoned_at"].min().to_pydatetime(warn=False) if len(carts) else None,
        last_decision_at=decisions["decided_at"].max().to_pydatetime(warn=False) if len(decisions) else None,
        carts=len(carts),
        conversions=len(recovered),
        labels=len(labels),
        carts_per_day=recent(carts, "abandoned_at"),
        conversions_per_day=recent(recovered, "abandoned_at"),
        labels_per_day=recent(labels, "labelled_at"),
    )


def label_features(labels: pd.DataFrame) -> pd.DataFrame:
    """The labels' feature columns. The frame's ``source`` names the label's origin (survey or
    recovered message) and would shadow the snapshot's traffic source: a ``label_source`` column
    means ``source`` is the traffic source; otherwise label-origin values are not read as one."""
    if "label_source" in labels or "source" not in labels:
        return labels
    source = labels["source"]
    return labels.assign(source=source.where(~source.isin(LABEL_SOURCES), None))
