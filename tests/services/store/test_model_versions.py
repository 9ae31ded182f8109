"""Model versions in the database (services/store/model_versions.py), on SQLite and PostgreSQL:
numbering, promotion retiring the previous active version, failures, the fingerprint workers poll."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from services.store.model_versions import (
    active_fingerprint,
    active_versions,
    list_versions,
    record_failure,
    record_version,
)
from services.store.tables import ModelVersion

T0 = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


def store(session: Session, kind: str, status: str, now: datetime = T0, **extra) -> ModelVersion:
    fields = dict(
        kind=kind,
        status=status,
        metrics={"auc": 0.71},
        params={"seed": 0},
        library_versions={"scikit-learn": "1.9"},
        data_from=now - timedelta(days=30),
        data_to=now - timedelta(days=6),
        eval_from=now - timedelta(days=6),
        eval_to=now,
        rows_train=800,
        rows_eval=200,
        artifact=b"\x00model-bytes\xff",
        artifact_hmac="ab" * 32,
        note="beats the active version",
        now=now,
    )
    return record_version(session, **(fields | extra))


def test_a_version_is_stored_with_everything_about_it(engine):
    with Session(engine) as session:
        row = store(session, "propensity", "active")
        session.commit()
        row_id = row.id
    with Session(engine) as session:
        row = session.get(ModelVersion, row_id)
        assert (row.kind, row.version, row.status, row.rows_train, row.rows_eval) == (
            "propensity",
            1,
            "active",
            800,
            200,
        )
        assert row.artifact == b"\x00model-bytes\xff"
        assert row.artifact_hmac == "ab" * 32
        assert row.metrics == {"auc": 0.71}
        assert row.params == {"seed": 0}
        assert row.library_versions == {"scikit-learn": "1.9"}
        assert row.promoted_at.replace(tzinfo=UTC) == T0
        assert row.data_to.replace(tzinfo=UTC) == T0 - timedelta(days=6)


def test_promoting_retires_the_previous_active_version_of_the_same_kind_only(engine):
    with Session(engine) as session:
        first = store(session, "policy", "active")
        reason = store(session, "reason", "active")
        rejected = store(session, "policy", "rejected", T0 + timedelta(days=1), artifact=None, artifact_hmac=None)
        session.commit()
        assert {k: v.id for k, v in active_versions(session).items()} == {"policy": first.id, "reason": reason.id}
        assert rejected.promoted_at is None
        assert rejected.version == 2

        second = store(session, "policy", "active", T0 + timedelta(days=2))
        session.commit()
        assert second.version == 3
        statuses = {row.id: row.status for row in list_versions(session)}
        assert statuses == {first.id: "retired", rejected.id: "rejected", second.id: "active", reason.id: "active"}
        assert {k: v.id for k, v in active_versions(session).items()} == {"policy": second.id, "reason": reason.id}


def test_a_failure_gets_a_number_and_leaves_the_active_version_alone(engine):
    with Session(engine) as session:
        active = store(session, "reason", "active")
        failed = record_failure(session, "reason", "ValueError: no labels", T0 + timedelta(days=1))
        session.commit()
        assert (failed.status, failed.version, failed.note, failed.artifact) == (
            "failed",
            2,
            "ValueError: no labels",
            None,
        )
        assert active_versions(session)["reason"].id == active.id


def test_the_fingerprint_changes_with_every_promotion_and_nothing_else(engine):
    with Session(engine) as session:
        assert active_fingerprint(session) == ()
        store(session, "policy", "active")
        session.commit()
        before = active_fingerprint(session)
        store(session, "policy", "rejected", artifact=None, artifact_hmac=None)
        record_failure(session, "propensity", "boom", T0)
        session.commit()
        assert active_fingerprint(session) == before
        promoted = store(session, "policy", "active")
        session.commit()
        assert active_fingerprint(session) == (("policy", "active", promoted.id),) != before


def test_list_versions_newest_first_by_kind_with_a_limit(engine):
    with Session(engine) as session:
        for day in range(4):
            store(session, "policy", "rejected", T0 + timedelta(days=day), artifact=None, artifact_hmac=None)
        store(session, "reason", "rejected", artifact=None, artifact_hmac=None)
        session.commit()
        assert [v.version for v in list_versions(session, "policy", limit=3)] == [4, 3, 2]
        assert [(v.kind, v.version) for v in list_versions(session, limit=2)] == [("reason", 1), ("policy", 4)]


def test_the_database_refuses_a_second_active_version_of_a_kind(engine):
    """Two promotions racing past each other cannot leave two active versions."""
    with Session(engine) as session:
        store(session, "policy", "active")
        session.add(ModelVersion(kind="policy", version=9, status="active", created_at=T0))
        with pytest.raises(IntegrityError):
            session.commit()


def test_an_unknown_status_is_refused(engine):
    with Session(engine) as session, pytest.raises(ValueError, match="unknown model status 'promoted'"):
        store(session, "policy", "promoted")
