"""How late sends leave against their plan, and a warning when the worker falls behind.

A touch is planned for an instant (the decision's `send_at`); the message records how many seconds
of the service clock after it the provider call began (`Message.late_seconds`). More than
`BEHIND_AFTER_S` of real time late means the workers cannot keep up with the journeys' timers:
the worker says so, at most once a minute, with how many sends were late meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime

from services.core.clock import utc

log = logging.getLogger(__name__)

BEHIND_AFTER_S = 60.0  # real seconds
WARN_EVERY_S = 60.0


def seconds_late(planned: datetime | None, sent: datetime) -> float | None:
    """Service-clock seconds between the planned and the actual send; None without a plan."""
    if planned is None:
        return None
    return max(0.0, (sent - utc(planned)).total_seconds())


class BehindWarning:
    """Counts late sends; logs one warning per minute while there are any. Thread-safe (sync
    activities run on a thread pool)."""

    def __init__(self, time_scale: float):
        self._scale = time_scale
        self._lock = threading.Lock()
        self._late, self._worst, self._last_warning = 0, 0.0, 0.0

    def observe(self, late_service_s: float | None) -> None:
        if late_service_s is None:
            return
        real = late_service_s / self._scale
        if real <= BEHIND_AFTER_S:
            return
        with self._lock:
            self._late += 1
            self._worst = max(self._worst, real)
            now = time.monotonic()
            if now - self._last_warning < WARN_EVERY_S:
                return
            late, worst = self._late, self._worst
            self._late, self._worst, self._last_warning = 0, 0.0, now
        log.warning(
            "workers are behind: %d send(s) left more than %.0f s after their planned time (worst %.0f s); "
            "add worker processes (CR_WORKER_PROCESSES) or workers on other machines",
            late,
            BEHIND_AFTER_S,
            worst,
        )
