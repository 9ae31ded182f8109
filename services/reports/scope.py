"""Which carts a report covers, and the SQL expressions every report query shares."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Date, cast, func, literal_column
from sqlmodel import Session, col

from services.store.tables import Cart


@dataclass(frozen=True)
class ReportScope:
    """Carts abandoned in [since, until) in one shop (or all shops); None means unbounded."""

    shop: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    @property
    def every_abandoned_cart(self) -> bool:
        return not (self.shop or self.since or self.until)

    def cart_filters(self) -> list:
        filters = [col(Cart.abandoned_at).is_not(None)]
        if self.shop:
            filters.append(Cart.shop == self.shop)
        if self.since:
            filters.append(col(Cart.abandoned_at) >= self.since)
        if self.until:
            filters.append(col(Cart.abandoned_at) < self.until)
        return filters


def abandonment_day(session: Session):
    """The UTC calendar day of abandonment as 'YYYY-MM-DD' text on SQLite, a date on PostgreSQL.

    SQLite keeps timestamps as ISO text, so the first ten characters are the day (cheaper than
    date(), which parses every value; CAST(... AS DATE) there would yield a number). Written with
    literals, exactly as in the index ix_carts_report_groups, so SQLite can group in index order."""
    if session.get_bind().dialect.name == "sqlite":
        return func.substr(Cart.abandoned_at, literal_column("1"), literal_column("10"))
    return cast(Cart.abandoned_at, Date)
