"""send_touch renders with the database's active template version (its variant chosen by the
bandit) and records which one; the packaged default stands in when no stored version fits."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session, select
from temporalio.testing import ActivityEnvironment
from test_sending import FakeDelivery, cart_with_decision, request, settings

from activities.sending import SendingActivities
from services.messaging.templates_store import active_version, ensure_seeded, save_version
from services.store.tables import Customer, Message, MessageTemplate


def send(engine, cfg, key, decision):
    delivery = FakeDelivery()
    result = ActivityEnvironment().run(
        SendingActivities(engine, cfg, delivery=delivery).send_touch, request(key, decision)
    )
    assert result.status == "sent"
    [(_, _, rendered, _, _)] = delivery.sent
    with Session(engine) as session:
        [row] = session.exec(select(Message)).all()
    return rendered, row


def edited_email(marker: str) -> dict[str, str]:
    with_marker = '{% extends "email/base.html" %}{% block intro %}<p>' + marker + "</p>{% endblock %}"
    return {
        "email/other.html": with_marker,
        "email/other.txt": '{% extends "email/base.txt" %}{% block intro %}' + marker + "{% endblock %}",
        "email/other.subject": marker,
    }


def test_seeded_version_one_is_used_and_recorded(sqlite_engine, tmp_path):
    cfg = settings(tmp_path)
    key, decision = cart_with_decision(sqlite_engine, cfg)
    rendered, message = send(sqlite_engine, cfg, key, decision)
    with Session(sqlite_engine) as session:
        seeded = active_version(session, "email", "other")
    assert (message.template, message.template_id, message.variant) == ("email/other@v1/A", seeded.id, "A")
    assert "Teapot" in rendered.html


def test_send_touch_uses_the_active_database_version(sqlite_engine, tmp_path):
    cfg = settings(tmp_path)
    key, decision = cart_with_decision(sqlite_engine, cfg)
    with Session(sqlite_engine) as session:
        v2 = save_version(
            session, channel="email", reason="other", sources=edited_email("Fresh copy from v2"), author="ed"
        )
    rendered, message = send(sqlite_engine, cfg, key, decision)
    assert rendered.subject == "Fresh copy from v2"
    assert "Fresh copy from v2" in rendered.html
    assert "Fresh copy from v2" in rendered.text
    assert "Teapot" in rendered.text  # the layout still lists the items
    assert (message.template, message.template_id) == ("email/other@v2/A", v2.id)


def test_customer_locale_picks_its_own_version(sqlite_engine, tmp_path):
    cfg = settings(tmp_path)
    key, decision = cart_with_decision(sqlite_engine, cfg)
    with Session(sqlite_engine) as session:
        save_version(
            session, channel="email", reason="other", locale="de", sources=edited_email("Dein Warenkorb"), author="ed"
        )
        customer = session.exec(select(Customer)).one()
        customer.locale = "de-DE"
        session.add(customer)
        session.commit()
    rendered, message = send(sqlite_engine, cfg, key, decision)
    assert rendered.subject == "Dein Warenkorb"
    assert message.template == "email/other/de@v1/A"


def test_variant_is_chosen_and_recorded(sqlite_engine, tmp_path):
    cfg = settings(tmp_path)
    key, decision = cart_with_decision(sqlite_engine, cfg)
    with Session(sqlite_engine) as session:
        save_version(
            session, channel="email", reason="other", variant="B", sources=edited_email("Variant B"), author="ed"
        )
    rendered, message = send(sqlite_engine, cfg, key, decision)
    assert message.variant in ("A", "B")
    assert message.template.endswith(f"/{message.variant}")
    assert ("Variant B" in rendered.subject) == (message.variant == "B")


def test_a_stored_version_that_fails_on_real_data_falls_back_to_the_packaged_default(sqlite_engine, tmp_path):
    cfg = settings(tmp_path)
    key, decision = cart_with_decision(sqlite_engine, cfg)
    ensure_seeded(sqlite_engine)
    with Session(sqlite_engine) as session:  # bypasses the editor's checks, as a corrupted row would
        for row in session.exec(select(MessageTemplate).where(MessageTemplate.channel == "email")):
            row.status = "archived"
            session.add(row)
        session.add(
            MessageTemplate(
                channel="email",
                reason="other",
                version=9,
                status="active",
                author="x",
                created_at=datetime.now(UTC),
                sources={"email/other.subject": "{{ nope }}", "email/other.html": "x", "email/other.txt": "x"},
            )
        )
        session.commit()
    rendered, message = send(sqlite_engine, cfg, key, decision)
    assert (message.template, message.template_id, message.variant) == ("email/other", None, None)
    assert "Teapot" in rendered.html
