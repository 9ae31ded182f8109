"""The recovery report over a million carts, on SQLite and PostgreSQL.

    python bench/reports.py [--carts 1000000] [--postgres URL] [--sqlite-file PATH] [--reuse-postgres]

Generates the carts with their decisions, messages and outcomes (bench/report_data.py: numpy; bench/report_load.py:
executemany on SQLite / COPY on PostgreSQL), then times `recovery_report` - every split, the
medians, the daily series - over all of them, for one shop over 30 days and for one shop over all
time (the median of --runs runs, each in a new session). PostgreSQL runs when
`--postgres` or CR_TEST_POSTGRES_URL gives a server: a database `bench_reports` is (re)created on it.
Figures go to docs/PERFORMANCE.md.
Target: <= 2 s for the full report over 1,000,000 carts on SQLite.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text
from sqlmodel import Session, func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from report_data import generate  # noqa: E402
from report_load import load  # noqa: E402

from services.reports import recovery_report  # noqa: E402
from services.store.db import make_engine  # noqa: E402
from services.store.tables import Cart  # noqa: E402

SINCE = datetime(2025, 8, 1, tzinfo=UTC)


def prepare(engine, carts: int) -> None:
    started = time.perf_counter()
    gc.disable()  # millions of short-lived tuples: the cyclic collector would only slow this down
    try:
        counts, phases = load(engine, generate(carts))
    finally:
        gc.enable()
    print(
        f"  generated and loaded in {time.perf_counter() - started:5.1f} s "
        f"(generate + insert {phases['generate_and_insert']:.1f} s, indexes + ANALYZE {phases['index_and_analyze']:.1f} s): "
        + ", ".join(f"{n:,} {table}" for table, n in counts.items())
    )


def time_report(engine, runs: int, **filters) -> tuple[float, float, dict]:
    times = []
    for _ in range(runs):
        with Session(engine) as session:
            started = time.perf_counter()
            report = recovery_report(session, **filters)
            times.append(time.perf_counter() - started)
    return times[0], statistics.median(times), report


def cart_count(engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(Cart)).one()


def bench(engine, label: str, carts: int, runs: int) -> None:
    print(f"{label}:")
    present = cart_count(engine)
    if present and present != carts:
        raise SystemExit(f"  {label} holds {present:,} carts, not {carts:,}: delete it or pass --carts {present}")
    if not present:
        prepare(engine, carts)
    else:
        print(f"  reusing its {present:,} carts")
    for name, filters in (
        ("all carts", {}),
        ("one shop, 30 days", {"shop": "shop-1", "since": SINCE, "until": SINCE + timedelta(days=30)}),
        ("one shop (40%), all time", {"shop": "shop-1"}),
    ):
        first, median, report = time_report(engine, runs, **filters)
        print(
            f"  recovery_report, {name + ':':26s} first {first:6.3f} s, median of {runs} {median:6.3f} s"
            f"  ({report['abandoned_carts']:,} abandoned carts, {report['messages_sent']:,} messages)"
        )


def postgres_engine(url: str, reuse: bool):
    base = url.rsplit("/", 1)[0]
    admin = make_engine(url, create=False)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = 'bench_reports'")).first() is not None
        if exists and not reuse:
            conn.execute(text("DROP DATABASE bench_reports WITH (FORCE)"))
        if not exists or not reuse:
            conn.execute(text("CREATE DATABASE bench_reports"))
    admin.dispose()
    return make_engine(f"{base}/bench_reports")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--carts", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--postgres", default=os.environ.get("CR_TEST_POSTGRES_URL", ""), help="PostgreSQL URL")
    parser.add_argument("--sqlite-file", type=Path, help="keep the SQLite database in this file; reused when it exists")
    parser.add_argument("--reuse-postgres", action="store_true", help="reuse the bench_reports database when it exists")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    print(f"recovery report benchmark, {args.carts:,} carts")
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            path = args.sqlite_file or Path(tmp) / "app.db"
            engine = make_engine(f"sqlite:///{path}")
            bench(engine, f"SQLite ({path})", args.carts, args.runs)
            engine.dispose()
    if args.postgres:
        engine = postgres_engine(args.postgres, reuse=args.reuse_postgres)
        bench(engine, "PostgreSQL (database bench_reports)", args.carts, args.runs)
        engine.dispose()
    else:
        print("PostgreSQL: skipped (set CR_TEST_POSTGRES_URL or pass --postgres URL)")


if __name__ == "__main__":
    main()
