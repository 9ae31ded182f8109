"""Workers as OS processes that a test SIGKILLs, and delivery sinks that can trigger the kill.

`WorkerPool` keeps a few workers (`tests/utils/e2e/worker_process.py`, forked from a warm parent so a
replacement starts in milliseconds) polling one task queue. A kill can be armed to fire from
inside a sink when the next message arrives: the sink knows the client's port, `/proc` tells which
worker process owns that connection, and that worker is SIGKILLed before the sink answers - the
moment a resend is genuinely ambiguous, since the provider has the message but the worker never
hears so - or a few milliseconds later, between the answer and the worker recording it. The sinks
live in `tests/utils/e2e/crash_sinks.py`; this module re-exports them.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from tests.utils.e2e.crash_sinks import KillingHttpSink as KillingHttpSink  # re-exported for the crash tests
from tests.utils.e2e.crash_sinks import KillingSmtpSink as KillingSmtpSink  # re-exported for the crash tests
from tests.utils.e2e.crash_sinks import socket_owner

REPO = Path(__file__).resolve().parents[3]


# --- the workers ---
class WorkerPool:
    def __init__(self, env: dict[str, str], log_dir: Path, size: int = 2, rng: random.Random | None = None):
        self._env = {k: v for k, v in os.environ.items() if not k.startswith("CR_")}
        self._env.update(env)
        self._env.update(
            CR_E2E_LOG_DIR=str(log_dir),
            PYTHONPATH=str(REPO) + os.pathsep + self._env.get("PYTHONPATH", ""),
            OPENBLAS_NUM_THREADS="1",
            OMP_NUM_THREADS="1",  # no thread pools in the fork server
        )
        self._log_dir, self.size, self._rng = log_dir, size, rng or random.Random()
        self._lock = threading.RLock()
        self._spawned_cond = threading.Condition(self._lock)
        self._server: subprocess.Popen | None = None
        self.workers: list[int] = []  # pids, oldest first
        self.ready: set[int] = set()
        self.killed: set[int] = set()
        self.exited: dict[int, int] = {}
        self._new: list[int] = []
        self._spawned_at: dict[int, float] = {}
        self.startup_seconds: list[float] = []  # fork to polling, per worker
        self.spawned = 0
        self.kills = 0
        self.kills_on_delivery = 0
        self.kills_by_timer = 0
        self.kills_missed = 0  # armed kills whose sender was not found (a worker that had just died)
        self._armed: float | None = None
        self._closed = False
        self.timeline: list[tuple[float, str]] = []  # (monotonic time, "delivery" / "kill-timer" / "kill-delivery")

    def start(self) -> None:
        with open(self._log_dir / "fork-server.log", "wb") as log:
            self._server = subprocess.Popen(
                [sys.executable, "-m", "tests.utils.e2e.worker_process"],
                cwd=REPO,
                env=self._env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                bufsize=1,
            )
        threading.Thread(target=self._read, daemon=True).start()
        self.fill()

    def _read(self) -> None:
        for line in self._server.stdout:
            word, _, rest = line.strip().partition(" ")
            with self._lock:
                if word == "spawned":
                    self._new.append(int(rest))
                    self._spawned_cond.notify_all()
                elif word == "ready":
                    self.ready.add(int(rest))
                    if int(rest) in self._spawned_at:
                        self.startup_seconds.append(time.monotonic() - self._spawned_at[int(rest)])
                elif word == "exited":
                    pid, status = rest.split()
                    self.exited[int(pid)] = int(status)

    def fill(self) -> None:
        """Fork workers until `size` are alive."""
        with self._lock:
            while not self._closed and len(self.workers) < self.size:
                self._server.stdin.write("spawn\n")
                self._server.stdin.flush()
                if not self._spawned_cond.wait_for(lambda: self._new, timeout=30):
                    raise RuntimeError(f"the fork server does not answer:\n{self.log_tail()}")
                self.workers.append(self._new.pop(0))
                self._spawned_at[self.workers[-1]] = time.monotonic()
                self.spawned += 1

    def wait_ready(self, timeout: float) -> bool:
        """Wait until at least one worker polls."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if any(pid in self.ready for pid in self.workers):
                    return True
            time.sleep(0.02)
        return False

    # --- killing ---
    def kill(self, pid: int | None = None, *, on_delivery: bool = False) -> bool:
        """SIGKILL `pid` (default: a random polling worker) if it is still one of ours and alive."""
        with self._lock:
            if self._closed:
                return False
            if pid is None:
                candidates = [p for p in self.workers if p in self.ready]
                if not candidates:
                    return False
                pid = self._rng.choice(candidates)
            if pid not in self.workers:
                return False
            os.kill(pid, signal.SIGKILL)
            self.workers.remove(pid)
            self.killed.add(pid)
            self.kills += 1
            if on_delivery:
                self.kills_on_delivery += 1
            else:
                self.kills_by_timer += 1
            self.timeline.append((time.monotonic(), "kill-delivery" if on_delivery else "kill-timer"))
            return True

    def arm(self, delay: float) -> int:
        """Kill whichever worker delivers the next message, `delay` seconds after the sink has it."""
        with self._lock:
            self._armed = delay
            return self.kills

    def disarm(self) -> None:
        with self._lock:
            self._armed = None

    def on_delivery(self, peer) -> None:
        """Sink hook: runs in the sink's thread after it stored a message, before it answers."""
        with self._lock:
            self.timeline.append((time.monotonic(), "delivery"))
            delay, self._armed = self._armed, None
            candidates = list(self.workers)
        if delay is None:
            return
        pid = socket_owner(peer, candidates)
        if pid is None:
            with self._lock:
                self.kills_missed += 1
                self._armed = delay if self._armed is None else self._armed  # try the next one
            return
        if delay <= 0:
            self.kill(pid, on_delivery=True)
        else:
            threading.Timer(delay, self.kill, args=(pid,), kwargs={"on_delivery": True}).start()

    # --- health and teardown ---
    def unexpected_exits(self) -> dict[int, int]:
        with self._lock:
            return {pid: status for pid, status in self.exited.items() if pid not in self.killed}

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for pid in self.workers:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.killed.add(pid)
            self.workers = []
        if self._server is not None:
            self._server.stdin.close()  # EOF: the fork server exits
            try:
                self._server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._server.kill()
                self._server.wait()

    def log_tail(self, lines: int = 20) -> str:
        out = []
        paths = sorted(self._log_dir.glob("worker-*.log"), key=lambda p: p.stat().st_mtime)[-3:]
        for path in [self._log_dir / "fork-server.log", *paths]:
            if path.exists():
                text = path.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(out)


def timeline_summary(timeline: list[tuple[float, str]], start: float, bucket: float = 10.0) -> str:
    """Deliveries (d) and kills (k) per `bucket` seconds since `start`, for the report."""
    rows: dict[int, list[int]] = {}
    for at, kind in timeline:
        row = rows.setdefault(int((at - start) // bucket), [0, 0])
        row[0 if kind == "delivery" else 1] += 1
    return " ".join(f"{int(b * bucket)}s:{d}d/{k}k" for b, (d, k) in sorted(rows.items()))


def morning_zone() -> str:
    """A fixed-offset IANA zone where it is now 08:xx, so the SMS window (08:00-21:00 in the
    recipient's zone) is open for the next 12 hours of service time whatever time the test runs."""
    offset = (8 - datetime.now(UTC).hour) % 24
    offset = offset - 24 if offset > 14 else offset
    return f"Etc/GMT{-offset:+d}" if offset else "UTC"  # Etc/GMT-3 is UTC+3
