"""The logged decisions as (n, 60) matrices: which actions the mask allowed, and a reward model's
score of each, for scoring and evaluating a policy on a whole frame at once."""

from __future__ import annotations

from itertools import chain

import numpy as np
import pandas as pd

from channel_models.actions import ACTIONS


def allowed_matrix(frame: pd.DataFrame) -> np.ndarray:
    """``(n, 60)`` bool from the ``allowed_actions`` lists (the logged action always included)."""
    lists = frame["allowed_actions"].tolist()
    lengths = np.fromiter((len(a) for a in lists), dtype=np.intp, count=len(lists))
    cols = np.fromiter(chain.from_iterable(lists), dtype=np.intp, count=int(lengths.sum()))
    allowed = np.zeros((len(frame), len(ACTIONS)), dtype=bool)
    allowed[np.repeat(np.arange(len(frame)), lengths), cols] = True
    if "action" in frame:
        allowed[np.arange(len(frame)), frame["action"].to_numpy(dtype=np.intp)] = True
    return allowed


def score_matrix(model, X: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """``(n, 60)`` reward-model scores where ``allowed``, NaN elsewhere."""
    out = np.full(allowed.shape, np.nan)
    rows, cols = np.nonzero(allowed)
    out[rows, cols] = model.predict_pairs(X, rows, cols)
    return out
