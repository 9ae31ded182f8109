"""Personal data must never reach a log line (README, "Privacy"). During every end-to-end test all
log records of every logger are kept at DEBUG - with the levels the service's own logging
configuration gives the libraries it quiets (services/core/logs.py) - and the worker processes'
log files are read too; afterwards none may contain a test shopper's e-mail address, phone number
or name: those the test posted (`remember`) and those its databases hold."""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from services.core.logs import QUIET_LOGGERS, quiet_libraries

PERSONAL_KEYS = frozenset(
    {"email", "email_address", "phone", "sms_marketing_phone", "first_name", "last_name", "name", "address1", "to"}
)
# Loggers of the tests' own machinery (the SMTP sink logs each envelope, httpx the tests' own
# requests), not of the service.
NOT_THE_SERVICE = ("mail.log", "tests.", "httpx", "httpcore")
_posted: list[str] = []


def remember(payload) -> None:
    """Note the personal data in a payload a test sends to the service."""
    stack = [payload]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if key in PERSONAL_KEYS and isinstance(item, str):
                    _posted.append(item)
                else:
                    stack.append(item)
        elif isinstance(value, list):
            stack.extend(value)


def _stored(directory: Path) -> list[str]:
    found: list[str] = []
    for path in directory.rglob("*.db"):
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
                found += [v for row in db.execute("SELECT value, normalized FROM contacts") for v in row]
                found += [row[0] for row in db.execute("SELECT first_name FROM customers WHERE first_name IS NOT NULL")]
        except sqlite3.Error:
            continue  # not the application's database (the Temporal dev server's, say)
    return found


def _needles(values: list[str]) -> list[re.Pattern]:
    """Each value and, for phone numbers, its bare digits; too short to mean anything: skipped."""
    patterns = set()
    for value in values:
        value = value.strip()
        if len(value) >= 3:
            patterns.add(re.compile(rf"(?<!\w){re.escape(value)}(?!\w)", re.IGNORECASE))
        digits = re.sub(r"\D", "", value)
        if "@" not in value and len(digits) >= 7 and len(digits) >= len(value) // 2:
            patterns.add(re.compile(rf"(?<!\d){digits}(?!\d)"))
    return sorted(patterns, key=lambda p: p.pattern)


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith(NOT_THE_SERVICE):
            self.lines.append(self.format(record))  # with its traceback, if any


@contextmanager
def scanned_logs(directory: Path) -> Iterator[None]:
    """Every record any logger handles is kept - hooked into Logger.handle rather than added as a
    handler, so loggers that do not propagate to the root (uvicorn's) and handlers that a logging
    configuration replaces meanwhile cannot hide a line."""
    root, keep = logging.getLogger(), _Keep()
    level, _posted[:] = root.level, []
    quieted = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    original = logging.Logger.handle

    def handle(self: logging.Logger, record: logging.LogRecord) -> None:
        keep.handle(record)
        original(self, record)

    root.setLevel(logging.DEBUG)
    quiet_libraries()
    logging.Logger.handle = handle  # type: ignore[method-assign]
    try:
        yield
    finally:
        logging.Logger.handle = original  # type: ignore[method-assign]
        root.setLevel(level)
        for name, was in quieted.items():
            logging.getLogger(name).setLevel(was)
    lines = keep.lines + [
        line for path in directory.rglob("*.log") for line in path.read_text(errors="replace").splitlines()
    ]
    leaks = [
        (pattern.pattern, line[:300])
        for pattern in _needles(_posted + _stored(directory))
        for line in lines
        if pattern.search(line)
    ]
    assert not leaks, f"personal data in {len(leaks)} log line(s): {json.dumps(leaks[:5], indent=1)}"
