"""Message-level aggregates: messages sent and the recoveries attributed to them, by channel,
touch number and template (version and variant), for carts in scope.

A recovery is credited to the message of its attributed touch, so the sums over channels,
touches or templates each add up to the report's attributed recoveries and revenue.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import and_, func
from sqlmodel import Session, col, select

from services.reports.carts import ATTRIBUTED
from services.reports.scope import ReportScope
from services.store.tables import Cart, Message, Outcome

SENT = Message.status == "sent"
# what the template editor records ("email/price@v3/A", "sms/price/fr@v2/B"); the packaged
# defaults are recorded as "email/price"
_TEMPLATE = re.compile(
    r"^(?P<channel>[^/@]+)/(?P<reason>[^/@]+)(?:/(?P<locale>[^/@]+))?(?:@v(?P<version>\d+)/(?P<variant>[^/@]+))?$"
)


@dataclass
class TouchTally:
    messages: int = 0
    recovered: int = 0
    revenue_cents: int = 0

    def add(self, other: TouchTally) -> TouchTally:
        self.messages += other.messages
        self.recovered += other.recovered
        self.revenue_cents += other.revenue_cents
        return self


@dataclass
class TouchCounts:
    """Tallies keyed (channel, touch, template)."""

    groups: dict[tuple[str, int, str | None], TouchTally]

    def by(self, key) -> dict:
        """Roll the groups up by key(channel, touch, template)."""
        out: dict = defaultdict(TouchTally)
        for group, tally in self.groups.items():
            out[key(*group)].add(tally)
        return dict(out)

    @property
    def messages(self) -> int:
        return sum(t.messages for t in self.groups.values())

    @property
    def messaged_carts(self) -> int:
        """Carts with at least one message sent. A journey moves to touch k+1 only once touch k was
        sent, and `{workflow id}/{touch}` keys one message row per cart and touch, so each such
        cart has exactly one sent touch-1 message: no COUNT(DISTINCT) pass over the messages."""
        return sum(t.messages for (_, touch, _), t in self.groups.items() if touch == 1)


def touch_counts(session: Session, scope: ReportScope) -> TouchCounts:
    filters = scope.cart_filters()
    groups: dict[tuple, TouchTally] = defaultdict(TouchTally)
    keys = (Message.channel, Message.touch, Message.template)
    sent = select(*keys, func.count()).select_from(Message).where(SENT).group_by(*keys)
    if not scope.every_abandoned_cart:
        # Only then the join: messages exist only for abandoned carts, so without a shop or a
        # period every sent message counts, in one pass over ix_messages_report.
        sent = sent.join(Cart, col(Cart.id) == col(Message.cart_id)).where(*filters)
    for channel, touch, template, n in session.exec(sent).all():
        groups[(channel, touch, template)].messages += int(n)

    # Grouped by the outcome's touch rather than the message's (the same value), so SQLite does not
    # walk every message in ix_messages_report order but starts from the recovered carts.
    credited = (
        select(Outcome.attributed_touch, Message.channel, Message.template, func.count(), func.sum(Outcome.value_cents))
        .select_from(Outcome)
        .join(
            Message,
            and_(col(Message.cart_id) == col(Outcome.cart_id), col(Message.touch) == col(Outcome.attributed_touch)),
        )
        .where(ATTRIBUTED, SENT)
        .group_by(Outcome.attributed_touch, Message.channel, Message.template)
    )
    if not scope.every_abandoned_cart:  # an attributed recovery, too, exists only for an abandoned cart
        credited = credited.join(Cart, col(Cart.id) == col(Outcome.cart_id)).where(*filters)
    for touch, channel, template, n, cents in session.exec(credited).all():
        groups[(channel, touch, template)].add(TouchTally(0, int(n), int(cents or 0)))
    return TouchCounts(dict(groups))


def parse_template(template: str | None) -> dict:
    """Reason, locale, version and variant of a recorded template name. A packaged default has no
    version or variant; a name that does not parse (old rows, a future format) gives all None and
    its row is still kept, under the raw name."""
    match = _TEMPLATE.match(template or "")
    if match is None:
        return {"reason": None, "locale": None, "version": None, "variant": None}
    version = match["version"]
    return {
        "reason": match["reason"],
        "locale": match["locale"] or ("en" if version else None),
        "version": int(version) if version else None,
        "variant": match["variant"],
    }
