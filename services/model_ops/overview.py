"""Each model's status (Learning / Active / Alert) and versions, as `GET /v1/models`,
`cartrecovery status` and the dashboard show them. Read-only: nothing here writes."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from channel_models.registry.model_status import StatusReport, Thresholds, model_status
from channel_models.vocabulary import MODEL_KINDS
from services.core.clock import service_now
from services.core.settings import Settings
from services.store.frames.data_facts import data_facts
from services.store.model_versions import active_versions, list_versions, running_challenger
from services.store.service_clock import stored_clock
from services.store.tables import ModelVersion

RECENT_VERSIONS = 20


def kind_status(session: Session, settings: Settings, kind: str, now: datetime) -> StatusReport:
    return model_status(kind, data_facts(session, kind, now), Thresholds.from_settings(settings), now)


def models_overview(session: Session, settings: Settings, now: datetime | None = None) -> dict:
    # decisions and outcomes are recorded on the service clock: data age is measured on it too
    now = now or service_now(stored_clock(session))
    active = active_versions(session)
    on_trial = running_challenger(session)
    models = []
    for kind in MODEL_KINDS:
        report = kind_status(session, settings, kind, now)
        row = active.get(kind)
        trial = on_trial if on_trial is not None and on_trial.kind == kind else None
        line = status_line(report, row)
        if trial is not None:
            line += "; " + challenge_line(trial, settings.challenger_share)
        models.append(
            {
                "kind": kind,
                "status": report.status,
                "decides": report.decides,
                "reasons": list(report.reasons),
                "still_needed": dict(report.remaining),
                "eta_days": report.eta_days,
                "active_version": public_version(row) if row is not None else None,
                "challenger": public_version(trial) if trial is not None else None,
                "line": line,
            }
        )
    return {
        "policy_mode": settings.policy,
        "models": models,
        "versions": [public_version(v) for v in list_versions(session, limit=RECENT_VERSIONS)],
        "retraining": {"cron": settings.retrain_cron, "timezone": settings.shop_timezone},
        "as_of": now,
    }


def public_version(row: ModelVersion) -> dict:
    """What the API shows of a version: never the artifact or its MAC."""
    return {
        "id": row.id,
        "kind": row.kind,
        "version": row.version,
        "status": row.status,
        "created_at": row.created_at,
        "promoted_at": row.promoted_at,
        "training_window": {"from": row.data_from, "to": row.data_to},
        "evaluation_window": {"from": row.eval_from, "to": row.eval_to},
        "rows_train": row.rows_train,
        "rows_eval": row.rows_eval,
        "library_versions": row.library_versions,
        "metrics": row.metrics,
        "note": row.note,
    }


def challenge_line(trial: ModelVersion, share: float) -> str:
    """What the policy version on trial has earned so far against the incumbent (which decides the
    other carts, as the line before says), and when its test is expected to decide (the
    retraining's figures: channel_models.learning.challenger)."""
    line = f"except for {share:.0%} of carts, which v{trial.version} decides on trial"
    verdict = (trial.metrics or {}).get("challenge")
    if not verdict:
        return line + " (no carts with a closed attribution window yet)"
    line += (
        f": {100 * verdict['difference']:+.1f} points of recovery against the incumbent over "
        f"{verdict['challenger_carts']:,} of its carts and {verdict['incumbent_carts']:,} of the incumbent's"
    )
    more = verdict.get("carts_to_decide")
    if more:
        return line + f"; a decision expected after about {more:,} more carts if that holds"
    return line + "; too close to call at any volume yet"


def status_line(report: StatusReport, active: ModelVersion | None) -> str:
    """One line per model for people: its status, what is missing or wrong, and who decides."""
    if report.status == "Active" and active is not None:
        return f"Active v{active.version}, trained on data from {_day(active.data_from)} to {_day(active.data_to)}"
    line = f"{report.status}: " + "; ".join(report.reasons)
    if report.status == "Learning" and report.eta_days is not None:
        line += f"; Active in about {report.eta_days:g} days at the current rate"
    return line


def _day(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d") if moment else "?"
