"""The rule prior's scores over a whole frame of logged snapshots: the baseline every learned
candidate is measured against, vectorised for training on a million rows (a test holds the
propensity equal to self_recovery_propensity on random contexts)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from channel_models.learning.features import SIGNALS
from channel_models.rules.propensity import (
    STAGE_WEIGHTS,
    Z_LIMIT,
)
from channel_models.rules.reasons import infer_reason
from channel_models.vocabulary import REASONS


def rule_propensity(frame: pd.DataFrame) -> np.ndarray:
    """channel_models.rules.propensity's cold-start score of every logged snapshot, vectorised (a test
    holds it equal to self_recovery_propensity on random contexts)."""

    def col(name: str) -> np.ndarray:
        if name not in frame:
            return np.zeros(len(frame))
        return pd.to_numeric(frame[name], errors="coerce").fillna(0.0).to_numpy(dtype=np.float64)

    stage = frame["stage"] if "stage" in frame else pd.Series(["cart"] * len(frame), index=frame.index)
    orders = np.maximum(0.0, col("orders"))
    z = -0.8 + stage.map(STAGE_WEIGHTS).fillna(0.0).to_numpy(dtype=np.float64)
    z += 0.3 * np.log1p(orders) - 0.3 * (orders == 0)
    z -= 0.35 * np.log1p(np.maximum(0.0, col("cart_value")) / 50.0)
    z -= 0.1 * np.clip(col("previous_abandonments"), 0, 5)
    z -= 0.8 * (col("signal_payment_failed") > 0)
    z -= 0.2 * np.clip(col("signal_slow_page"), 0, 2)
    return 1.0 / (1.0 + np.exp(-np.clip(z, -Z_LIMIT, Z_LIMIT)))


def rule_reason_proba(frame: pd.DataFrame) -> np.ndarray:
    """infer_reason as a distribution over REASONS: its confidence on its reason, the rest shared."""
    signals = {
        kind: frame[f"signal_{kind}"].fillna(0).to_numpy() if f"signal_{kind}" in frame else np.zeros(len(frame))
        for kind in SIGNALS
    }
    stages = frame["stage"].to_numpy() if "stage" in frame else [None] * len(frame)
    out = np.empty((len(frame), len(REASONS)))
    for i, stage in enumerate(stages):
        reason, confidence = infer_reason({kind: int(values[i]) for kind, values in signals.items()}, stage)
        out[i] = (1.0 - confidence) / (len(REASONS) - 1)
        out[i, REASONS.index(reason)] = confidence
    return out
