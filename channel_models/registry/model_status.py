"""Learning phase: is a model kind Learning, Active or in Alert, and may it decide?

* Learning - below a threshold (days since the first abandoned cart, carts with an outcome,
  recovered carts, and for the reason classifier labelled reasons), or no version promoted yet.
  The report says what is still needed and estimates the days to get there from the last 14
  days' per-day rates.
* Alert - something needs a person: the last training failed, no successful training for more
  than ``overdue_hours``, no decision recorded for more than ``stale_hours`` (webhooks or the
  worker may have stopped), or the active version's quality fell.
* Active - thresholds met, a version promoted, nothing to alert about.

Who decides (``StatusReport.decides``; whoever loads models into a ModelSet follows it):
a kind decides only when it has a promoted version, meets every threshold, and its quality has
not fallen. So a model in Learning never decides, and an Alert model keeps deciding when the alert
is about the pipeline around it (training failed or overdue, data stopped): the active version
earned its place on a later slice than it was trained on, and a missed night does not make it
worse than the rule prior. When its quality fell it is no longer known to beat the rule prior, so
the rule prior decides until a better version is promoted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from channel_models.vocabulary import MODEL_KINDS

LEARNING, ACTIVE, ALERT = "Learning", "Active", "Alert"


@dataclass(frozen=True)
class Thresholds:
    min_days: float = 14.0
    min_carts: int = 1000
    min_conversions: int = 50
    min_labels: int = 200  # the reason classifier only
    overdue_hours: float = 48.0
    stale_hours: float = 48.0

    @classmethod
    def from_settings(cls, settings: Any) -> Thresholds:
        """From the service Settings (duck-typed: channel_models does not import services)."""
        return cls(
            min_days=settings.model_min_days,
            min_carts=settings.model_min_carts,
            min_conversions=settings.model_min_conversions,
            min_labels=settings.reason_min_labels,
            overdue_hours=settings.model_overdue_hours,
            stale_hours=settings.model_stale_hours,
        )


@dataclass(frozen=True)
class DataFacts:
    """What the data says about one kind at ``now`` (filled from the DB, or from frames)."""

    first_abandoned_at: datetime | None = None
    last_decision_at: datetime | None = None  # the newest recorded decision
    carts: int = 0  # abandoned carts with an outcome
    conversions: int = 0  # recovered carts
    labels: int = 0  # labelled abandonment reasons
    carts_per_day: float = 0.0  # rates over the last 14 days
    conversions_per_day: float = 0.0
    labels_per_day: float = 0.0
    last_training_at: datetime | None = None  # the last training run that completed (promoted or not)
    last_training_ok: bool | None = None  # did the latest attempt complete? None: never tried
    last_failure: str | None = None  # the latest attempt's error when it failed
    active_version: int | None = None  # promoted version number, None when there is none
    quality_fell: bool = False  # the active version scored below its bar on recent data


@dataclass(frozen=True)
class StatusReport:
    kind: str
    status: str  # Learning / Active / Alert
    reasons: tuple[str, ...]  # plain English, for GET /v1/models and `cartrecovery status`
    remaining: dict[str, float]  # days, carts, conversions, labels still needed (0 when met)
    eta_days: float | None  # days until the thresholds are met; None when it cannot be estimated
    decides: bool  # may the active version make decisions (see the module docstring)
    active_version: int | None = None


def thresholds_remaining(kind: str, facts: DataFacts, thresholds: Thresholds, now: datetime) -> dict[str, float]:
    """How much data is still missing before ``kind`` may be promoted (all zero: thresholds met)."""
    if kind not in MODEL_KINDS:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {MODEL_KINDS}")
    days = 0.0 if facts.first_abandoned_at is None else (now - facts.first_abandoned_at).total_seconds() / 86400
    return {
        "days": round(max(0.0, thresholds.min_days - days), 1),
        "carts": max(0, thresholds.min_carts - facts.carts),
        "conversions": max(0, thresholds.min_conversions - facts.conversions),
        "labels": max(0, thresholds.min_labels - facts.labels) if kind == "reason" else 0,
    }


_NEEDS = (  # remaining key, what it counts, per-day rate field
    ("carts", "abandoned carts with an outcome", "carts_per_day"),
    ("conversions", "recovered carts", "conversions_per_day"),
    ("labels", "labelled reasons", "labels_per_day"),
)


def _learning(remaining: dict[str, float], facts: DataFacts) -> tuple[list[str], float | None]:
    reasons, etas = [], [remaining["days"]]
    if remaining["days"] > 0:
        reasons.append(f"needs {remaining['days']:g} more days of data")
    for key, what, rate_field in _NEEDS:
        if remaining[key] <= 0:
            continue
        rate = getattr(facts, rate_field)
        if rate > 0:
            etas.append(remaining[key] / rate)
            reasons.append(f"needs {remaining[key]:g} more {what} (about {rate:.3g} a day lately)")
        else:
            etas.append(math.inf)
            reasons.append(f"needs {remaining[key]:g} more {what}, and none came in the last 14 days")
    eta = max(etas)
    return reasons, (None if math.isinf(eta) else round(eta, 1))


def _hours(since: datetime, now: datetime) -> float:
    return (now - since).total_seconds() / 3600


def _alerts(facts: DataFacts, thresholds: Thresholds, now: datetime) -> list[str]:
    alerts = []
    if facts.last_training_ok is False:
        alerts.append(f"the last training failed: {facts.last_failure or 'no error recorded'}")
    since = facts.last_training_at or facts.first_abandoned_at
    if since is not None and _hours(since, now) > thresholds.overdue_hours:
        what = "successful training" if facts.last_training_at else "training at all since data began"
        alerts.append(
            f"training is overdue: no {what} for {_hours(since, now):.0f} h (limit {thresholds.overdue_hours:g} h)"
        )
    if facts.last_decision_at is not None and _hours(facts.last_decision_at, now) > thresholds.stale_hours:
        alerts.append(
            f"data stopped: no decision recorded for {_hours(facts.last_decision_at, now):.0f} h "
            f"(limit {thresholds.stale_hours:g} h); check webhooks and the worker"
        )
    if facts.quality_fell and facts.active_version is not None:
        alerts.append(f"the quality of version {facts.active_version} fell on recent data")
    return alerts


def model_status(kind: str, facts: DataFacts, thresholds: Thresholds, now: datetime) -> StatusReport:
    remaining = thresholds_remaining(kind, facts, thresholds, now)
    needs, eta = _learning(remaining, facts)
    learning = bool(needs) or facts.active_version is None
    decides = not learning and not facts.quality_fell
    alerts = _alerts(facts, thresholds, now)
    if facts.active_version is None and not needs:
        needs.append("thresholds met; waiting for a trained version to beat the rule prior")
    if decides:
        who = f"version {facts.active_version} decides"
    elif facts.active_version is not None and not needs:
        who = f"the rule prior decides instead of version {facts.active_version}"
    else:
        who = "the rule prior decides"
    status = ALERT if alerts else (LEARNING if learning else ACTIVE)
    return StatusReport(
        kind=kind,
        status=status,
        reasons=(*alerts, *needs, who),
        remaining=remaining,
        eta_days=eta,
        decides=decides,
        active_version=facts.active_version,
    )
