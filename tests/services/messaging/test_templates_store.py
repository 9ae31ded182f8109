"""Versioned templates in the database: seeding, versions, fallback order, rollback, diff, and the
per-variant results the bandit reads."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from channel_models.vocabulary import CHANNELS
from services.messaging.template_choice import active_group, choose_template, variant_stats
from services.messaging.templates_store import (
    ACTIVE,
    ARCHIVED,
    DRAFT,
    SEED_AUTHOR,
    active_version,
    diff,
    ensure_seeded,
    history,
    label,
    list_templates,
    packaged_reasons,
    packaged_sources,
    rollback,
    save_version,
)
from services.store.tables import Cart, Decision, Message, MessageTemplate, Outcome

REASONS = ("shipping_cost", "price", "indecision", "technical", "other")
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def sms(text: str) -> dict[str, str]:
    return {"sms/price.txt": text}


def save(session, reason="price", text="v", **kwargs) -> MessageTemplate:
    return save_version(
        session, channel="sms", reason=reason, sources={f"sms/{reason}.txt": text}, author="ed", **kwargs
    )


def test_first_use_seeds_every_channel_and_reason_from_the_packaged_defaults(engine):
    with Session(engine) as session:
        rows = list_templates(session)
        assert {(r.channel, r.reason) for r in rows} == {(c, r) for c in CHANNELS for r in REASONS}
        assert {(r.locale, r.variant, r.version, r.status, r.author) for r in rows} == {
            ("en", "A", 1, ACTIVE, SEED_AUTHOR)
        }
        email = active_version(session, "email", "price")
        assert email.sources == packaged_sources("email", "price")
        assert set(email.sources) == {"email/price.html", "email/price.txt", "email/price.subject"}
    ensure_seeded(engine)  # again: nothing doubles
    with Session(engine) as session:
        assert len(session.exec(select(MessageTemplate)).all()) == sum(len(packaged_reasons(c)) for c in CHANNELS) == 20


def test_saving_makes_a_new_active_version_and_archives_the_old_one(engine):
    with Session(engine) as session:
        second = save(session, text="second", note="shorter")
        third = save(session, text="third")
        versions = history(session, third)
        assert [(v.version, v.status) for v in versions] == [(3, ACTIVE), (2, ARCHIVED), (1, ARCHIVED)]
        assert (second.author, second.note) == ("ed", "shorter")
        assert active_version(session, "sms", "price").id == third.id
        assert label(third) == "sms/price@v3/A"


def test_a_draft_does_not_replace_the_active_version(engine):
    with Session(engine) as session:
        draft = save(session, text="draft", activate=False)
        assert (draft.version, draft.status) == (2, DRAFT)
        assert active_version(session, "sms", "price").version == 1
        shown = {(r.channel, r.reason): r for r in list_templates(session)}
        assert shown[("sms", "price")].version == 1  # the list shows what is live


def test_variants_and_locales_version_independently(engine):
    with Session(engine) as session:
        b = save(session, variant="B")
        de = save(session, locale="de")
        assert (b.version, de.version) == (1, 1)
        assert label(de) == "sms/price/de@v1/A"
        assert label(b) == "sms/price@v1/B"
        assert active_version(session, "sms", "price").version == 1  # en/A untouched


def test_fallback_order_locale_then_english_then_other_then_packaged(engine):
    with Session(engine) as session:
        ensure_seeded(engine)
        de = save(session, locale="de")
        group = lambda reason, locale: [(r.reason, r.locale) for r in active_group(session, "sms", reason, locale)]  # noqa: E731
        assert group("price", "de") == [("price", "de")]
        assert group("price", "de-AT") == [("price", "de")]  # region -> language
        assert group("price", "DE_at") == [("price", "de")]
        assert group("price", "fr") == [("price", "en")]
        assert group("price", None) == [("price", "en")]
        assert group("gift_shopping", "de") == [("other", "en")]  # no such reason: the "other" template
        other_de = save(session, reason="other", locale="de")
        assert group("gift_shopping", "de") == [("other", "de")]
        for row in session.exec(select(MessageTemplate).where(MessageTemplate.reason == "other")):
            row.status = ARCHIVED
            session.add(row)
        session.commit()
        assert choose_template(session, "sms", "gift_shopping", "de", seed="x") is None  # -> packaged default
        assert choose_template(session, "sms", "price", "de", seed="x").id == de.id
        assert other_de.id is not None


def test_rollback_is_a_new_version_with_the_old_sources(engine):
    with Session(engine) as session:
        original = active_version(session, "sms", "price")
        save(session, text="edited")
        back = rollback(session, original, author="ed")
        assert (back.version, back.status, back.sources, back.note) == (3, ACTIVE, original.sources, "rollback to v1")
        assert [v.status for v in history(session, back)] == [ACTIVE, ARCHIVED, ARCHIVED]


def test_diff_is_a_unified_diff_per_file(engine):
    with Session(engine) as session:
        one = save(session, text="Hello\nYour cart is saved.\nBye\n")
        two = save(session, text="Hello\nYour cart is waiting.\nBye\n")
        text = diff(one, two)
        assert "--- sms/price.txt@v2\n+++ sms/price.txt@v3\n" in text
        assert "-Your cart is saved.\n+Your cart is waiting.\n" in text
        assert " Hello\n" in text
        assert diff(two, two) == ""


def _message(session, cart: str, touch: int, template_id: int, status: str = "sent") -> None:
    if session.get(Cart, cart) is None:
        session.add(Cart(id=cart, shop="s", token=cart, platform="generic", created_at=NOW, updated_at=NOW))
        session.flush()
    decision = Decision(
        cart_id=cart,
        touch=touch,
        decided_at=NOW,
        policy="t",
        reason="price",
        reason_confidence=1,
        propensity=0.3,
        bucket="Low",
        channel="sms",
    )
    session.add(decision)
    session.flush()
    session.add(
        Message(
            idempotency_key=f"{cart}/{touch}",
            cart_id=cart,
            decision_id=decision.id,
            touch=touch,
            channel="sms",
            status=status,
            template_id=template_id,
            created_at=NOW,
        )
    )


def test_variant_stats_count_sends_and_recoveries_attributed_to_the_message(engine):
    with Session(engine) as session:
        a1 = active_version(session, "sms", "price")
        a2 = save(session, text="A, second version")
        b = save(session, variant="B")
        _message(session, "c1", 1, a1.id)
        _message(session, "c2", 1, a2.id)  # versions of a variant add up
        _message(session, "c3", 1, b.id)
        _message(session, "c3", 2, b.id)
        _message(session, "c4", 1, b.id, status="failed")  # never sent: not counted
        session.add(Outcome(cart_id="c1", status="recovered", attributed_touch=1, recorded_at=NOW))
        session.add(Outcome(cart_id="c2", status="not_recovered", recorded_at=NOW))
        session.add(Outcome(cart_id="c3", status="recovered", attributed_touch=2, recorded_at=NOW))  # touch 2 won
        session.commit()
        stats = {
            s.variant: (s.sent, s.recovered) for s in variant_stats(session, "sms", "price", "en", ["A", "B", "C"])
        }
        assert stats == {"A": (2, 1), "B": (2, 1), "C": (0, 0)}


def test_choose_template_splits_variants_and_repeats_for_the_same_seed(engine):
    with Session(engine) as session:
        b = save(session, variant="B")
        picks = {choose_template(session, "sms", "price", "en", seed=f"key-{i}").variant for i in range(40)}
        assert picks == {"A", "B"}
        first = choose_template(session, "sms", "price", "en", seed="recovery/s/c/1").id
        assert all(choose_template(session, "sms", "price", "en", seed="recovery/s/c/1").id == first for _ in range(5))
        assert b.id in {choose_template(session, "sms", "price", "en", seed=f"k{i}").id for i in range(40)}


@pytest.mark.parametrize("channel", CHANNELS)
def test_packaged_sources_are_exactly_the_renderer_files(channel):
    for reason in packaged_reasons(channel):
        assert all(name.startswith(f"{channel}/{reason}.") for name in packaged_sources(channel, reason))
