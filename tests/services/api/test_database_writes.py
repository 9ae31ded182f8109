"""services.api.database: a SQLite write runs on the event loop unless a lock is held; then it is
rolled back at once and made again in a thread, where it waits for the lock."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time

from sqlalchemy import text
from sqlalchemy.engine import Engine

from services.api.database import Database
from services.store.db import make_engine


def add_row(engine: Engine, value: int) -> str:
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": value})
    return threading.current_thread().name


def rows(path) -> list[int]:
    with sqlite3.connect(path) as connection:
        return [v for (v,) in connection.execute("SELECT v FROM t ORDER BY v")]


def database_at(path) -> Database:
    engine = make_engine(f"sqlite:///{path}", lock_wait_s=10)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (v INTEGER)"))
    return Database.on(engine)


async def test_a_write_without_contention_runs_on_the_event_loop(tmp_path):
    database = database_at(tmp_path / "a.db")
    assert await database.write(add_row, 1) == threading.current_thread().name
    assert rows(tmp_path / "a.db") == [1]
    database.dispose()


async def test_a_held_lock_sends_the_write_to_a_thread_without_stalling_the_loop(tmp_path):
    path = tmp_path / "a.db"
    database = database_at(path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process mid-transaction holds the write lock
    holder.execute("INSERT INTO t (v) VALUES (0)")
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    beat = asyncio.create_task(ticker())
    write = asyncio.create_task(database.write(add_row, 1))
    started = time.monotonic()
    await asyncio.sleep(0.5)
    assert not write.done()  # waiting for the lock, in a thread
    assert ticks >= 25  # the loop kept running meanwhile
    holder.execute("COMMIT")
    thread = await write
    beat.cancel()
    assert thread != threading.current_thread().name
    assert time.monotonic() - started < 5
    assert rows(path) == [0, 1]  # written once: the inline attempt left nothing behind
    holder.close()
    database.dispose()


async def test_an_error_that_is_not_a_lock_is_raised_not_retried(tmp_path):
    database = database_at(tmp_path / "a.db")
    calls = []

    def broken(engine: Engine) -> None:
        calls.append(threading.current_thread().name)
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO missing_table (v) VALUES (1)"))

    try:
        await database.write(broken)
    except Exception as err:  # noqa: BLE001 - the type is what is checked
        assert "missing_table" in str(err)
    else:
        raise AssertionError("the write should have failed")
    assert calls == [threading.current_thread().name]
    database.dispose()


def test_only_a_sqlite_file_gets_an_inline_engine(tmp_path, monkeypatch):
    assert database_at(tmp_path / "a.db").inline is not None
    monkeypatch.chdir(tmp_path)
    assert Database.on(make_engine("sqlite://", create=False)).inline is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.db", "a.db-shm", "a.db-wal"]  # none for memory
    postgres = make_engine("postgresql+psycopg://u@127.0.0.1:9/db", create=False)  # never connected
    assert Database.on(postgres).inline is None
