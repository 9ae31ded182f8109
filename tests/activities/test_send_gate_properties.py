"""Property: whatever the customer, consent history, time zone and clock, send_touch hands a message
to the provider only when its channel's consent and capture hold, outside quiet hours, under the
caps, and never after an opt-out or erasure. Real SQLite database, recording fake provider."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlmodel import Session
from temporalio.testing import ActivityEnvironment

from activities.sending import SendingActivities
from channel_models.vocabulary import CHANNELS
from services.core.events import CartEvent, ConsentChange, ConsentEvent, Contact, LineItem, PrivacyRequest
from services.core.settings import Settings
from services.ingest.intake import store_event
from services.store.carts import cart_key
from services.store.db import make_engine
from services.store.tables import Decision, Message
from tests.utils.doubles import FakeDelivery
from workflows.types import SendRequest

SHOP = "prop-shop"
ZONES = ["America/New_York", "America/Los_Angeles", "Europe/Paris", "Asia/Kolkata", "Australia/Adelaide", "UTC"]
CONSENTS = st.lists(st.tuples(st.sampled_from(CHANNELS), st.sampled_from(["granted", "revoked"])), max_size=6)


@st.composite
def scenarios(draw):
    return {
        "channel": draw(st.sampled_from(CHANNELS)),
        "zone": draw(st.sampled_from(ZONES)),
        "country": draw(st.sampled_from([None, "US", "FR"])),
        "province": draw(st.sampled_from([None, "FL"])),
        "email": draw(st.sampled_from([None, "shopper@example.com", "not-an-address"])),
        "phone": draw(st.sampled_from([None, "+1 201 555 0123", "12"])),
        "push_token": draw(st.sampled_from([None, "tok-1"])),
        "audience_id": draw(st.sampled_from([None, "aud-1"])),
        "consents": draw(CONSENTS),
        "now": draw(
            st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC))
        ),
        "sent_hours_ago": draw(st.one_of(st.none(), st.floats(min_value=0.1, max_value=40))),
        "erase": draw(st.booleans()),
    }


def expected_ok(s) -> bool:
    """The oracle, written from the rules, not from the code under test."""
    last = {}
    for channel, state in s["consents"]:
        last[channel] = state
    channel = s["channel"]
    if s["erase"]:
        return False
    captured = {
        "email": s["email"] == "shopper@example.com",
        "sms": s["phone"] == "+1 201 555 0123",
        "push": s["push_token"] is not None,
        "retargeting": any([s["audience_id"], s["email"] == "shopper@example.com", s["phone"] == "+1 201 555 0123"]),
    }[channel]
    consent_ok = last.get(channel) != "revoked" if channel == "email" else last.get(channel) == "granted"
    if not (captured and consent_ok):
        return False
    cap = {"email": 16, "sms": 24, "push": 24, "retargeting": 0}[channel]
    if s["sent_hours_ago"] is not None and s["sent_hours_ago"] < cap:
        return False
    # with no country on file, the recipient's country is the phone number's (+1 201: the US)
    country = s["country"] or ("US" if s["phone"] == "+1 201 555 0123" else None)
    if channel in ("sms", "push"):
        local = s["now"].astimezone(ZoneInfo(s["zone"]))
        start, end = 8, 21
        if channel == "sms" and country == "US" and s["province"] == "FL":
            end = 20
        if channel == "sms" and country == "FR":
            end = 22
            if local.weekday() == 6 or local.date() in holidays.country_holidays("FR", years=local.year):
                return False
        if not (start <= local.hour < end):
            return False
    return True


FLORIDA_BY_PHONE = {  # 20:00 in Florida, country unknown but the number is American: held
    "channel": "sms",
    "zone": "America/New_York",
    "country": None,
    "province": "FL",
    "email": None,
    "phone": "+1 201 555 0123",
    "push_token": None,
    "audience_id": None,
    "consents": [("sms", "granted")],
    "now": datetime(2026, 1, 1, 1, 0, tzinfo=UTC),
    "sent_hours_ago": None,
    "erase": False,
}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
@example(FLORIDA_BY_PHONE)
def test_provider_sees_a_message_only_when_every_rule_allows_it(s):
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'app.db'}")
        cfg = Settings(
            _env_file=None,
            data_dir=Path(tmp),
            secret_key="k" * 32,
            email_from="s@example.com",
            shop_address="1 Road",
            email_url="mailto://localhost?to={to}",
            sms_url="json://localhost/sms",
            push_url="json://localhost/push",
            retargeting_url="json://localhost/aud",
        )
        now = s["now"]
        contact = Contact(
            customer_id="c-1",
            email=s["email"],
            phone=s["phone"],
            push_token=s["push_token"],
            audience_id=s["audience_id"],
            timezone=s["zone"],
            country=s["country"],
            province=s["province"],
        )
        event = CartEvent(
            cart_id="cart-1",
            contact=contact,
            total_value=Decimal("50"),
            items=[LineItem(title="Kettle", price=Decimal("50"))],
            recovery_url="https://shop.example/r",
        )
        store_event(engine, cfg, SHOP, "generic", event, now - timedelta(hours=1))
        for channel, state in s["consents"]:
            store_event(
                engine,
                cfg,
                SHOP,
                "generic",
                ConsentEvent(
                    contact=Contact(customer_id="c-1"), consents=[ConsentChange(channel=channel, state=state)]
                ),
                now - timedelta(minutes=30),
            )
        key = cart_key(SHOP, "cart-1")
        with Session(engine) as session:
            if s["sent_hours_ago"] is not None:  # an earlier message on this channel, from another cart
                store_event(
                    engine,
                    cfg,
                    SHOP,
                    "generic",
                    CartEvent(cart_id="cart-0", contact=Contact(customer_id="c-1")),
                    now - timedelta(days=3),
                )
                earlier = Decision(
                    cart_id=cart_key(SHOP, "cart-0"),
                    touch=1,
                    decided_at=now,
                    policy="t",
                    channel=s["channel"],
                    reason="other",
                    reason_confidence=0.2,
                    propensity=0.5,
                    bucket="Moderate",
                )
                session.add(earlier)
                session.flush()
                session.add(
                    Message(
                        idempotency_key="earlier",
                        cart_id=cart_key(SHOP, "cart-0"),
                        decision_id=earlier.id,
                        touch=1,
                        channel=s["channel"],
                        status="sent",
                        created_at=now,
                        sent_at=now - timedelta(hours=s["sent_hours_ago"]),
                    )
                )
            decision = Decision(
                cart_id=key,
                touch=1,
                decided_at=now,
                policy="t",
                channel=s["channel"],
                reason="other",
                reason_confidence=0.2,
                propensity=0.5,
                bucket="Moderate",
            )
            session.add(decision)
            session.commit()
            decision_id = decision.id
        if s["erase"]:
            store_event(
                engine, cfg, SHOP, "generic", PrivacyRequest(action="erase", contact=Contact(customer_id="c-1")), now
            )
        delivery = FakeDelivery()
        acts = SendingActivities(engine, cfg, delivery=delivery)
        try:
            ActivityEnvironment().run(acts.send_touch, SendRequest(key, decision_id, 1, "wf/1", now.timestamp()))
        except Exception as err:  # no recipient on file: refused as InvalidRecipient, never sent
            assert getattr(err, "type", None) == "InvalidRecipient", err
        engine.dispose()
        assert bool(delivery.sent) == expected_ok(s), (s, delivery.sent)
