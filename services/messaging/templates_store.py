"""Versioned message templates in the database: seeding, versions, rollback, diff, and the
template a message is rendered with.

Every save is a new immutable row; at most one version per (channel, reason, locale, variant) is
active. On first use the packaged defaults (message_templates/defaults/) become version 1 of
locale "en", variant "A" for every channel x reason, authored by "packaged defaults".

Fallback for a message in locale L (e.g. "de-at"): the active variants of (channel, reason, L),
then of L's language ("de"), then of "en"; then the same for reason "other"; then the packaged
default (the caller renders that when ``template_choice.choose_template`` returns None).
"""

from __future__ import annotations

import difflib
import weakref
from datetime import UTC, datetime

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from channel_models.vocabulary import CHANNELS
from message_templates.renderer import DEFAULTS_DIR, source_names
from services.store.tables import MessageTemplate

ACTIVE, DRAFT, ARCHIVED = "active", "draft", "archived"
DEFAULT_LOCALE, DEFAULT_VARIANT = "en", "A"
SEED_AUTHOR = "packaged defaults"

Key = tuple[str, str, str, str]  # channel, reason, locale, variant


class VersionConflict(Exception):
    """Someone else saved the same template at the same moment."""


def key_of(row: MessageTemplate) -> Key:
    return row.channel, row.reason, row.locale, row.variant


def label(row: MessageTemplate) -> str:
    """What Message.template records, e.g. "email/price@v3/A" (locale shown unless "en")."""
    locale = "" if row.locale == DEFAULT_LOCALE else f"/{row.locale}"
    return f"{row.channel}/{row.reason}{locale}@v{row.version}/{row.variant}"


def packaged_reasons(channel: str) -> list[str]:
    stems = {path.stem for path in (DEFAULTS_DIR / channel).iterdir()} - {"base"}
    return sorted(r for r in stems if all((DEFAULTS_DIR / n).is_file() for n in source_names(channel, r)))


def packaged_sources(channel: str, reason: str) -> dict[str, str]:
    return {name: (DEFAULTS_DIR / name).read_text(encoding="utf-8") for name in source_names(channel, reason)}


_seeded: weakref.WeakSet[Engine] = weakref.WeakSet()


def ensure_seeded(engine: Engine) -> None:
    """Insert version 1 for every packaged channel x reason that has no en/A row yet.

    Uses a session of its own (so it never commits a caller's half-done work), once per engine
    and process: callers holding a write transaction (send_touch) call it before they open one.
    """
    if engine in _seeded:
        return
    with Session(engine) as session:
        have = set(
            session.exec(
                select(MessageTemplate.channel, MessageTemplate.reason)
                .where(MessageTemplate.locale == DEFAULT_LOCALE, MessageTemplate.variant == DEFAULT_VARIANT)
                .distinct()
            )
        )
        missing = [(c, r) for c in CHANNELS for r in packaged_reasons(c) if (c, r) not in have]
        if not missing:
            _seeded.add(engine)
            return
        now = datetime.now(UTC)
        for channel, reason in missing:
            session.add(
                MessageTemplate(
                    channel=channel,
                    reason=reason,
                    version=1,
                    sources=packaged_sources(channel, reason),
                    status=ACTIVE,
                    author=SEED_AUTHOR,
                    created_at=now,
                    note="packaged default",
                )
            )
        try:
            session.commit()
        except IntegrityError:  # another process seeded at the same moment
            session.rollback()
    _seeded.add(engine)


def list_templates(session: Session) -> list[MessageTemplate]:
    """One row per (channel, reason, locale, variant): its active version, else its latest."""
    ensure_seeded(session.get_bind())
    shown: dict[Key, MessageTemplate] = {}
    for row in session.exec(select(MessageTemplate).order_by(col(MessageTemplate.version))):
        current = shown.get(key_of(row))
        if current is None or current.status != ACTIVE:
            shown[key_of(row)] = row
    return sorted(shown.values(), key=key_of)


def get_template(session: Session, template_id: int) -> MessageTemplate | None:
    ensure_seeded(session.get_bind())
    return session.get(MessageTemplate, template_id)


def _versions(session: Session, key: Key):
    channel, reason, locale, variant = key
    return select(MessageTemplate).where(
        MessageTemplate.channel == channel,
        MessageTemplate.reason == reason,
        MessageTemplate.locale == locale,
        MessageTemplate.variant == variant,
    )


def active_version(
    session: Session, channel: str, reason: str, locale: str = DEFAULT_LOCALE, variant: str = DEFAULT_VARIANT
) -> MessageTemplate | None:
    ensure_seeded(session.get_bind())
    query = _versions(session, (channel, reason, locale, variant)).where(MessageTemplate.status == ACTIVE)
    return session.exec(query).first()


def history(session: Session, row: MessageTemplate) -> list[MessageTemplate]:
    return list(session.exec(_versions(session, key_of(row)).order_by(col(MessageTemplate.version).desc())))


def save_version(
    session: Session,
    *,
    channel: str,
    reason: str,
    sources: dict[str, str],
    author: str,
    note: str = "",
    locale: str = DEFAULT_LOCALE,
    variant: str = DEFAULT_VARIANT,
    activate: bool = True,
) -> MessageTemplate:
    """Store a new version (validated by the caller: see message_templates/checks.py)."""
    ensure_seeded(session.get_bind())
    key = (channel, reason, locale, variant)
    latest = session.exec(
        select(func.max(MessageTemplate.version)).where(
            *[
                c == v
                for c, v in zip(
                    (MessageTemplate.channel, MessageTemplate.reason, MessageTemplate.locale, MessageTemplate.variant),
                    key,
                )
            ]
        )
    ).one()
    row = MessageTemplate(
        channel=channel,
        reason=reason,
        locale=locale,
        variant=variant,
        version=(latest or 0) + 1,
        sources=dict(sources),
        status=ACTIVE if activate else DRAFT,
        author=author[:200],
        created_at=datetime.now(UTC),
        note=note[:500],
    )
    if activate:
        for previous in session.exec(_versions(session, key).where(MessageTemplate.status == ACTIVE)):
            previous.status = ARCHIVED
            session.add(previous)
    session.add(row)
    try:
        session.commit()
    except IntegrityError as err:
        session.rollback()
        raise VersionConflict(f"version {row.version} of {channel}/{reason} was saved by someone else; reload") from err
    session.refresh(row)
    return row


def rollback(session: Session, row: MessageTemplate, author: str, note: str = "") -> MessageTemplate:
    """A new active version with the sources of ``row`` (history is never rewritten)."""
    return save_version(
        session,
        channel=row.channel,
        reason=row.reason,
        locale=row.locale,
        variant=row.variant,
        sources=row.sources,
        author=author,
        note=note or f"rollback to v{row.version}",
    )


def diff(a: MessageTemplate, b: MessageTemplate) -> str:
    """Unified diff from ``a`` to ``b``, file by file."""
    chunks: list[str] = []
    for name in sorted(set(a.sources) | set(b.sources)):
        chunks.extend(
            difflib.unified_diff(
                a.sources.get(name, "").splitlines(keepends=True),
                b.sources.get(name, "").splitlines(keepends=True),
                fromfile=f"{name}@v{a.version}",
                tofile=f"{name}@v{b.version}",
            )
        )
    return "".join(line if line.endswith("\n") else line + "\n" for line in chunks)
