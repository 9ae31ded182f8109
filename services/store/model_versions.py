"""Trained model versions in the database: every worker plans with the same active version.

Each kind (policy, propensity, reason) has at most one active version (a partial unique index
holds it even against two promotions at once). A version is numbered 1, 2, ... per kind in the
order stored, failed attempts included, so "v7" names one row for good. Like the rest of the store,
these functions write in the caller's session and transaction; the caller commits.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, update
from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from services.store.tables import ModelVersion

# "challenger": a policy version on trial, deciding a share of carts beside the active one
# (channel_models.learning.challenger); at most one per kind, until its test concludes
STATUSES = ("active", "challenger", "retired", "rejected", "failed")


def _next_version(session: Session, kind: str) -> int:
    return (
        int(
            session.exec(
                select(func.coalesce(func.max(ModelVersion.version), 0)).where(ModelVersion.kind == kind)
            ).one()
        )
        + 1
    )


def record_version(
    session: Session,
    *,
    kind: str,
    status: str,
    metrics: dict,
    params: dict,
    library_versions: dict,
    data_from: datetime | None,
    data_to: datetime | None,
    eval_from: datetime | None,
    eval_to: datetime | None,
    rows_train: int,
    rows_eval: int,
    artifact: bytes | None,
    artifact_hmac: str | None,
    note: str,
    now: datetime,
) -> ModelVersion:
    """Store a trained version. Status "active" promotes it: the kind's previous active version
    is retired in the same transaction, before the new row goes in."""
    if status not in STATUSES:
        raise ValueError(f"unknown model status {status!r}: one of {', '.join(STATUSES)}")
    if status in ("active", "challenger"):
        _retire(session, kind, status)
    row = ModelVersion(
        kind=kind,
        version=_next_version(session, kind),
        status=status,
        created_at=now,
        data_from=data_from,
        data_to=data_to,
        eval_from=eval_from,
        eval_to=eval_to,
        rows_train=int(rows_train),
        rows_eval=int(rows_eval),
        library_versions=dict(library_versions),
        metrics=dict(metrics),
        params=dict(params),
        artifact=artifact,
        artifact_hmac=artifact_hmac,
        promoted_at=now if status == "active" else None,
        note=note[:2000],
    )
    session.add(row)
    session.flush()
    return row


def _retire(session: Session, kind: str, status: str) -> None:
    session.execute(
        update(ModelVersion)
        .where(col(ModelVersion.kind) == kind, col(ModelVersion.status) == status)
        .values(status="retired")
    )


def running_challenger(session: Session, kind: str = "policy") -> ModelVersion | None:
    return session.exec(
        select(ModelVersion).where(ModelVersion.kind == kind, ModelVersion.status == "challenger")
    ).first()


def conclude_challenger(session: Session, row: ModelVersion, decision: str, verdict: dict, now: datetime) -> None:
    """Record the sequential test's verdict on a running challenger: "promote" makes it the kind's
    active version (the previous one retired), "stop" rejects it, "continue" keeps it on trial."""
    if decision not in ("promote", "stop", "continue"):
        raise ValueError(f"unknown verdict {decision!r}")
    row.metrics = {**(row.metrics or {}), "challenge": verdict}
    if decision == "promote":
        _retire(session, row.kind, "active")
        row.status, row.promoted_at = "active", now
        row.note = f"promoted by its challenge: {_challenge_line(verdict)}"[:2000]
    elif decision == "stop":
        row.status, row.note = "rejected", f"stopped by its challenge: {_challenge_line(verdict)}"[:2000]
    session.add(row)
    session.flush()


def _challenge_line(verdict: dict) -> str:
    return (
        f"{verdict['difference']:+.4f} per cart over {verdict['challenger_carts']} of its carts "
        f"against {verdict['incumbent_carts']} of the incumbent's (likelihood ratio "
        f"{verdict['likelihood_ratio']:.3g}, threshold {verdict['threshold']:.3g})"
    )


def record_failure(session: Session, kind: str, error: str, now: datetime) -> ModelVersion:
    """A training attempt of `kind` that failed; the active version (if any) stays active."""
    row = ModelVersion(
        kind=kind, version=_next_version(session, kind), status="failed", created_at=now, note=error[:2000]
    )
    session.add(row)
    session.flush()
    return row


def active_versions(session: Session) -> dict[str, ModelVersion]:
    """kind -> its active version, artifact included."""
    return {row.kind: row for row in session.exec(select(ModelVersion).where(ModelVersion.status == "active"))}


def active_fingerprint(session: Session) -> tuple[tuple[str, str, int], ...]:
    """(kind, status, version id) of every active version and running challenger: one small read,
    different after every promotion, retirement or new challenger, so a worker can poll it cheaply."""
    return tuple(
        (kind, status, int(version_id))
        for kind, status, version_id in session.exec(
            select(ModelVersion.kind, ModelVersion.status, ModelVersion.id)
            .where(col(ModelVersion.status).in_(("active", "challenger")))
            .order_by(col(ModelVersion.kind), col(ModelVersion.status))
        )
    )


def list_versions(session: Session, kind: str | None = None, limit: int = 50) -> list[ModelVersion]:
    """Newest first. The artifact is not read (deferred): touch `.artifact` only inside the session."""
    query = select(ModelVersion).options(defer(ModelVersion.artifact))
    if kind is not None:
        query = query.where(ModelVersion.kind == kind)
    return list(session.exec(query.order_by(col(ModelVersion.id).desc()).limit(limit)))
