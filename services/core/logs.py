"""Logging for every command: one format, and the libraries that would log personal data kept quiet.

Our own log lines name carts by their opaque key and customers by their id, never by an address, a
phone number or a name (tests/e2e scan every line for them, at DEBUG). Some libraries are not so
careful, at any level: apprise names the recipient ("Sent Email to <address>"; our failure reports
redact it, services/messaging/delivery.py), urllib3 logs the URLs it calls (apprise puts the
recipient into them), and SQLAlchemy logs statement parameters and result rows at INFO/DEBUG.
"""

from __future__ import annotations

import logging

QUIET_LOGGERS = {
    "apprise": logging.CRITICAL + 1,
    "urllib3": logging.WARNING,
    "sqlalchemy.engine": logging.WARNING,
    "sqlalchemy.pool": logging.WARNING,
}
FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"  # `up` runs several processes


def quiet_libraries() -> None:
    for name, level in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(level)


def configure_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format=FORMAT)
    quiet_libraries()
