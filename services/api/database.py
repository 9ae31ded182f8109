"""The API's way to its database: a write runs on the event loop when that is cheap and safe,
in a worker thread otherwise.

A webhook's transaction on SQLite takes about a millisecond of Python and SQLite work. Handing it
to a thread costs more than that on a busy event loop (the hop there and back, and the GIL passing
between threads), which measured as most of the difference between a webhook and a bare Temporal
call (bench/ingest.py, docs/PERFORMANCE.md). So on SQLite the write is made inline through an
engine that never waits for a lock; when another connection (a worker) holds the write lock, that
attempt rolls back at once and the write is made again in a thread, where waiting is harmless.
PostgreSQL writes always go to a thread: each statement is a network round trip.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Concatenate, ParamSpec, TypeVar

from fastapi.concurrency import run_in_threadpool
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from services.store.db import database_unavailable, without_lock_wait

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class Database:
    engine: Engine
    inline: Engine | None  # SQLite: `engine`'s twin that fails at once on a held lock

    @classmethod
    def on(cls, engine: Engine) -> Database:
        return cls(engine, without_lock_wait(engine))

    async def write(self, work: Callable[Concatenate[Engine, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`work(engine, *args, **kwargs)`, which must make one transaction (all or nothing) of a
        few statements; longer work (an erasure, an export) goes to `in_thread`."""
        if self.inline is not None:
            try:
                return work(self.inline, *args, **kwargs)
            except OperationalError as err:
                if not database_unavailable(err):
                    raise
        return await self.in_thread(work, *args, **kwargs)

    async def in_thread(self, work: Callable[Concatenate[Engine, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await run_in_threadpool(work, self.engine, *args, **kwargs)

    def dispose(self) -> None:
        if self.inline is not None:
            self.inline.dispose()
