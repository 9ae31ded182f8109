"""`cartrecovery up` on every core: the API and the workers as processes of their own, supervised.

One Python process cannot use more than one core (the GIL), so `up` starts `CR_API_PROCESSES`
processes running `cartrecovery api` and `CR_WORKER_PROCESSES` running `cartrecovery worker`, all
against the one embedded Temporal server and the one database. The API port is bound here, once,
and handed to every API process (they accept from the same socket), so a port in use is one clear
error and the processes share the load.

A process that exits on its own is started again, after a pause that doubles with each recent
restart (1, 2, 4 ... s), so a passing outage of the database or of Temporal does not use up the
restarts (a worker's journeys continue on the others, and on the new one: Temporal hands a dead
worker's tasks to whoever polls). One that keeps dying - more than `MAX_RESTARTS` times in
`RESTART_WINDOW_S` - stops everything with its exit status, rather than restart for ever. SIGTERM or
SIGINT stops every process: SIGTERM to each, SIGKILL to any still running after `STOP_GRACE_S`.
The database's tables are created here, once, before any process starts (several creating them at
once on a fresh SQLite file would collide).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field

from services.core.settings import ConfigurationError, Settings
from services.entrypoints.runtime import API_FD_ENV, die_with_parent
from services.store.db import make_engine

log = logging.getLogger(__name__)

STOP_GRACE_S = 6.0  # then the embedded Temporal server (3 s at most): `up` stops within 10 s
MAX_RESTARTS = 5
RESTART_WINDOW_S = 60.0
POLL_S = 0.2


@dataclass
class Child:
    role: str  # "api" or "worker"
    index: int
    process: subprocess.Popen | None = None
    starts: deque = field(default_factory=lambda: deque(maxlen=MAX_RESTARTS + 1))
    restart_at: float | None = None  # when an exited process is due to start again

    @property
    def name(self) -> str:
        return f"{self.role}-{self.index}"


def bind_api_socket(settings: Settings) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in settings.api_host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.api_host, settings.api_port))
    except OSError as err:
        sock.close()
        raise ConfigurationError(
            f"cannot listen on {settings.api_host}:{settings.api_port} ({err.strerror}): "
            "another program uses that port; set CR_API_PORT"
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class Supervisor:
    def __init__(self, settings: Settings, temporal_address: str):
        self._settings = settings
        self._env = dict(os.environ, CR_TEMPORAL_ADDRESS=temporal_address)
        self._stopping = False
        self._children = [Child("api", i) for i in range(settings.api_processes)] + [
            Child("worker", i) for i in range(settings.worker_processes)
        ]
        self._socket: socket.socket | None = None

    def run(self) -> int:
        """Start everything, supervise until a stop signal (0) or a child that keeps failing (its status)."""
        make_engine(self._settings.database_url).dispose()  # creates the tables, once
        self._socket = bind_api_socket(self._settings)
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            for child in self._children:
                self._start(child)
            return self._watch()
        finally:
            self._stop_all()
            self._socket.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _stop(self, _signum, _frame) -> None:
        self._stopping = True

    def _start(self, child: Child) -> None:
        assert self._socket is not None
        env = dict(self._env)
        pass_fds: tuple[int, ...] = ()
        if child.role == "api":
            env[API_FD_ENV] = str(self._socket.fileno())
            pass_fds = (self._socket.fileno(),)
        child.process = subprocess.Popen(
            [sys.executable, "-c", "from services.entrypoints.cli import app; app()", child.role],
            env=env,
            pass_fds=pass_fds,
            preexec_fn=die_with_parent,
        )
        child.starts.append(time.monotonic())
        log.info("started %s (pid %s)", child.name, child.process.pid)

    def _watch(self) -> int:
        while not self._stopping:
            for child in self._children:
                assert child.process is not None
                status = child.process.poll()
                if status is None or self._stopping:
                    continue
                now = time.monotonic()
                if child.restart_at is None:
                    recent = [t for t in child.starts if now - t < RESTART_WINDOW_S]
                    if len(recent) > MAX_RESTARTS:
                        log.error(
                            "%s exited %s times within %.0f s (status %s); stopping",
                            child.name,
                            len(recent),
                            RESTART_WINDOW_S,
                            status,
                        )
                        return status or 1
                    pause = 2.0 ** max(0, len(recent) - 1)
                    child.restart_at = now + pause
                    log.warning("%s exited with status %s; starting it again in %.0f s", child.name, status, pause)
                elif now >= child.restart_at:
                    child.restart_at = None
                    self._start(child)
            time.sleep(POLL_S)
        return 0

    def _stop_all(self) -> None:
        running = [c.process for c in self._children if c.process is not None and c.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for process in running:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
