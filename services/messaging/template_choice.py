"""Which template a message gets: the active versions of its channel, reason and locale, and
among their variants the one Thompson sampling on recoveries picks."""

from __future__ import annotations

from sqlalchemy import and_, func
from sqlmodel import Session, col, select

from channel_models.learning.variants import VariantStats, choose_variant, probability_best
from message_templates.renderer import FALLBACK_REASON
from services.messaging.templates_store import ACTIVE, DEFAULT_LOCALE, ensure_seeded
from services.store.tables import Message, MessageTemplate, Outcome


def _locales(locale: str | None) -> list[str]:
    wanted = (locale or DEFAULT_LOCALE).strip().lower().replace("_", "-")
    return list(dict.fromkeys([wanted, wanted.split("-")[0], DEFAULT_LOCALE]))


def active_group(session: Session, channel: str, reason: str, locale: str | None) -> list[MessageTemplate]:
    """The active variants of the first (reason, locale) in fallback order that has any."""
    ensure_seeded(session.get_bind())
    for candidate_reason in dict.fromkeys([reason, FALLBACK_REASON]):
        for candidate_locale in _locales(locale):
            rows = session.exec(
                select(MessageTemplate)
                .where(
                    MessageTemplate.channel == channel,
                    MessageTemplate.reason == candidate_reason,
                    MessageTemplate.locale == candidate_locale,
                    MessageTemplate.status == ACTIVE,
                )
                .order_by(col(MessageTemplate.variant))
            ).all()
            if rows:
                return list(rows)
    return []


def variant_stats(session: Session, channel: str, reason: str, locale: str, variants: list[str]) -> list[VariantStats]:
    """Sends and attributed recoveries per variant, over all versions of each variant."""
    recovered = and_(
        Outcome.cart_id == Message.cart_id, Outcome.status == "recovered", Outcome.attributed_touch == Message.touch
    )
    query = (
        select(MessageTemplate.variant, func.count(Message.id), func.count(Outcome.cart_id))
        .join(Message, Message.template_id == MessageTemplate.id)
        .outerjoin(Outcome, recovered)
        .where(
            MessageTemplate.channel == channel,
            MessageTemplate.reason == reason,
            MessageTemplate.locale == locale,
            Message.status == "sent",
        )
        .group_by(MessageTemplate.variant)
    )
    counts = {variant: (sent, won) for variant, sent, won in session.exec(query)}
    return [VariantStats(v, *counts.get(v, (0, 0))) for v in variants]


def variant_report(session: Session, row: MessageTemplate) -> list[dict]:
    """Each active variant of ``row``'s group: sends, recoveries, probability of being best."""
    group = [
        r
        for r in active_group(session, row.channel, row.reason, row.locale)
        if (r.reason, r.locale) == (row.reason, row.locale)
    ]
    stats = variant_stats(session, row.channel, row.reason, row.locale, [r.variant for r in group])
    best = probability_best(stats)
    return [
        {
            "variant": s.variant,
            "id": r.id,
            "version": r.version,
            "sent": s.sent,
            "recovered": s.recovered,
            "probability_best": round(best[s.variant], 4),
        }
        for r, s in zip(group, stats)
    ]


def choose_template(
    session: Session, channel: str, reason: str, locale: str | None, seed: str
) -> MessageTemplate | None:
    """The active version to render a message with, its variant picked by the bandit."""
    group = active_group(session, channel, reason, locale)
    if len(group) <= 1:
        return group[0] if group else None
    first = group[0]
    stats = variant_stats(session, channel, first.reason, first.locale, [r.variant for r in group])
    chosen = choose_variant(stats, seed)
    return next(r for r in group if r.variant == chosen)
