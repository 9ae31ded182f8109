"""Bulk loading for bench/report_data.py: its tables' column order, and executemany / COPY with indexes built after."""

from __future__ import annotations

import time

from sqlalchemy import text
from sqlalchemy.schema import CreateIndex

from services.store.tables import Cart, Decision, Message, Outcome

CART_COLUMNS = (
    "id",
    "shop",
    "token",
    "platform",
    "currency",
    "value_cents",
    "items",
    "stage",
    "version",
    "status",
    "journey_state",
    "holdout",
    "reason",
    "bucket",
    "created_at",
    "updated_at",
    "abandoned_at",
    "closed_at",
)
DECISION_COLUMNS = (
    "id",
    "cart_id",
    "touch",
    "decided_at",
    "policy",
    "stop",
    "channel",
    "reason",
    "reason_confidence",
    "propensity",
    "bucket",
    "action_propensity",
    "allowed",
    "blocked",
    "explanation",
    "features",
)
MESSAGE_COLUMNS = (
    "id",
    "idempotency_key",
    "cart_id",
    "decision_id",
    "touch",
    "channel",
    "template",
    "status",
    "attempts",
    "uncertain_resends",
    "created_at",
    "sent_at",
)
OUTCOME_COLUMNS = (
    "cart_id",
    "status",
    "holdout",
    "order_id",
    "value_cents",
    "currency",
    "attributed_touch",
    "attributed_channel",
    "attributed_incentive",
    "touches_sent",
    "time_to_recovery_s",
    "recorded_at",
)


def load(engine, chunks) -> tuple[dict[str, int], dict[str, float]]:
    """Bulk insert the chunks into an engine whose tables exist and are empty; returns the row
    counts and the seconds spent generating + inserting, and building the indexes.
    Secondary indexes are dropped for the load and built afterwards (one sort each instead of a
    million random inserts); foreign keys are not checked (the generator keeps them consistent)."""
    postgres = engine.dialect.name == "postgresql"
    counts = dict.fromkeys(("carts", "decisions", "messages", "outcomes"), 0)
    started = time.perf_counter()
    indexes = _existing_indexes(engine)
    with engine.begin() as conn:
        for index in indexes:
            conn.execute(text(f"DROP INDEX {index.name}"))
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if postgres:
            cursor.execute("SET maintenance_work_mem = '512MB'")  # index builds sort in memory
            cursor.execute("SET synchronous_commit = off")
            _skip_foreign_key_triggers(raw, cursor)
        else:
            cursor.execute("PRAGMA foreign_keys=OFF")
            cursor.execute("PRAGMA cache_size=-1000000")  # 1 GB: index pages and sorts stay in memory
        for tables in chunks:
            for table, columns in (
                ("carts", CART_COLUMNS),
                ("decisions", DECISION_COLUMNS),
                ("messages", MESSAGE_COLUMNS),
                ("outcomes", OUTCOME_COLUMNS),
            ):
                rows = getattr(tables, table)
                if postgres:
                    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
                else:
                    marks = ", ".join("?" * len(columns))
                    cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
                counts[table] += len(rows)
            raw.commit()
        if postgres:
            for table in ("decisions", "messages"):
                cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        raw.commit()
        inserted = time.perf_counter()
        for index in indexes:
            cursor.execute(str(CreateIndex(index).compile(dialect=engine.dialect)))
        cursor.execute("ANALYZE")  # planner statistics, as autovacuum / a periodic ANALYZE keeps them
        if postgres:
            cursor.execute("RESET ALL")
        else:
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA cache_size=-2000")
        raw.commit()
    finally:
        raw.close()
    return counts, {"generate_and_insert": inserted - started, "index_and_analyze": time.perf_counter() - inserted}


def _skip_foreign_key_triggers(raw, cursor) -> None:
    """PostgreSQL checks each foreign key with a trigger per row; a superuser can skip them (the
    generator keeps the keys consistent). Without the right, the load is just slower."""
    try:
        cursor.execute("SET session_replication_role = replica")
    except Exception:  # noqa: BLE001 - any refusal: keep the checks
        raw.rollback()


def _existing_indexes(engine) -> list:
    """The named secondary indexes of the four bulk-loaded tables that this database has (an
    index may be for one dialect only: see Index.ddl_if in services/store/tables/commerce.py)."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            present = set(conn.execute(text("SELECT indexname FROM pg_indexes")).scalars())
        else:
            present = set(conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'")).scalars())
    return [
        index
        for table in (Cart, Decision, Message, Outcome)
        for index in table.__table__.indexes
        if index.name in present
    ]
