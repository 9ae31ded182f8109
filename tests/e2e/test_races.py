"""Races on the real dev server: an order or an opt-out one second before a scheduled send stops it.

The journeys' clock runs 900x: a cart idle for 30 service minutes (2 s) is abandoned and touch 1
is planned one service hour later (4 s). The test reads the planned send time from the decision
log (`GET /v1/carts/{id}`, service clock), converts it to real time with the service clock's
anchor, and sends the order / unsubscribe / consent revocation one REAL second before it. A
control cart planned for the same moment, with nothing arriving, shows that sends did go out then.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime

import pytest

from services.messaging.unsubscribe import make_token
from services.store.service_clock import load_clock
from tests.utils.e2e.crash_harness import morning_zone

pytestmark = pytest.mark.e2e

LEAD = 1.0  # real seconds between the event and the planned send
QUIET_AFTER = 6.0  # real seconds after the planned send during which nothing may arrive (1.5 service hours)
RACE_SETTINGS = dict(time_scale=900, abandon_after_minutes=30, max_touches=1, attribution_window_hours=2)


def cart_event(cart_id: str, contact: dict, **extra) -> dict:
    return {
        "type": "cart",
        "cart_id": cart_id,
        "currency": "USD",
        "total_value": "80.00",
        "stage": "checkout",
        "items": [{"title": "Reading lamp", "quantity": 1, "price": "80.00"}],
        "recovery_url": f"https://shop.example.com/r/{cart_id}",
        "contact": {"timezone": morning_zone(), **contact},
        **extra,
    }


def sms_consent(state: str) -> list[dict]:
    return [{"channel": "sms", "state": state, "source": "preference centre"}]


async def start_pair(service, race: dict, control: dict) -> dict:
    """Start the race cart and its control; return the race cart's journey once touch 1 is planned."""
    for event in (race, control):
        response = await service.generic(event)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "accepted", response.text

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        journey = await service.cart(race["cart_id"], generic=True)
        if journey["decisions"]:
            return journey
        await asyncio.sleep(0.05)
    raise AssertionError("touch 1 was never planned")


def planned_real_time(service, journey: dict) -> float:
    """Real (wall-clock) time of touch 1's planned send."""
    decision = journey["decisions"][0]
    assert not decision["stop"], decision
    assert decision["channel"], decision
    send_at = datetime.fromisoformat(decision["send_at"])
    if send_at.tzinfo is None:  # stored in UTC
        send_at = send_at.replace(tzinfo=UTC)
    clock = load_clock(service.engine, service.settings.time_scale)
    return clock.to_real(send_at.timestamp())


async def one_second_before(planned_real: float, action) -> float:
    """Run `action` so that it completes ~LEAD s before `planned_real`; return the real lead."""
    wait = planned_real - LEAD - time.time()
    assert wait > 0.2, f"touch 1 is planned too soon ({wait + LEAD:.2f}s away) to race it"
    await asyncio.sleep(wait)
    await action()
    lead = planned_real - time.time()
    assert 0.5 < lead <= LEAD + 0.05, f"the event landed {lead:.2f}s before the planned send, not ~{LEAD}s"
    return lead


async def quiet_until(planned_real: float) -> None:
    await asyncio.sleep(max(0.0, planned_real + QUIET_AFTER - time.time()))


@pytest.mark.service_settings(channels=("email",), **RACE_SETTINGS)
async def test_an_order_one_second_before_the_send_stops_it(service):
    tag = uuid.uuid4().hex[:6]
    race = cart_event(f"order-race-{tag}", {"customer_id": f"buyer-{tag}", "email": f"buyer-{tag}@example.com"})
    control = cart_event(f"order-control-{tag}", {"customer_id": f"idler-{tag}", "email": f"idler-{tag}@example.com"})
    journey = await start_pair(service, race, control)
    planned = planned_real_time(service, journey)

    async def order():
        event = {"type": "order", "order_id": f"order-{tag}", "cart_id": race["cart_id"], "total_value": "80.00"}
        response = await service.generic(event)
        assert response.status_code == 200, response.text
        assert response.json()["detail"] == "order matched to an open cart", response.text

    lead = await one_second_before(planned, order)
    await quiet_until(planned)
    assert service.smtp.to(control["contact"]["email"]), (
        "the control cart's e-mail did not go out: the race proves nothing"
    )
    assert service.smtp.to(race["contact"]["email"]) == [], "the e-mail went out although the order came first"

    outcome = (await eventually_outcome(service, race["cart_id"]))["outcome"]
    assert outcome["status"] == "recovered", outcome
    assert outcome["attributed_touch"] is None, outcome
    assert outcome["touches_sent"] == 0, outcome
    assert [t for t in (await service.cart(race["cart_id"], generic=True))["touches"] if t["status"] == "sent"] == []
    print(f"\nrace order: event {lead:.2f}s before the planned send; no e-mail; outcome {outcome['status']}")


@pytest.mark.service_settings(channels=("email",), **RACE_SETTINGS)
async def test_an_unsubscribe_one_second_before_the_send_stops_it(service):
    tag = uuid.uuid4().hex[:6]
    race = cart_event(f"unsub-race-{tag}", {"customer_id": f"leaver-{tag}", "email": f"leaver-{tag}@example.com"})
    control = cart_event(f"unsub-control-{tag}", {"customer_id": f"stayer-{tag}", "email": f"stayer-{tag}@example.com"})
    journey = await start_pair(service, race, control)
    planned = planned_real_time(service, journey)
    token = make_token(service.settings.signing_key(), journey["customer_id"], "email")

    async def unsubscribe():
        response = await service.http.post(f"/unsubscribe/{token}")
        assert response.status_code == 200, response.text
        assert "unsubscribed" in response.text, response.text

    lead = await one_second_before(planned, unsubscribe)
    await quiet_until(planned)
    assert service.smtp.to(control["contact"]["email"]), (
        "the control cart's e-mail did not go out: the race proves nothing"
    )
    assert service.smtp.to(race["contact"]["email"]) == [], (
        "the e-mail went out although the shopper unsubscribed first"
    )

    after = await eventually_outcome(service, race["cart_id"])
    assert [t for t in after["touches"] if t["status"] == "sent"] == []
    assert after["outcome"]["status"] == "not_recovered", after["outcome"]
    assert after["outcome"]["touches_sent"] == 0, after["outcome"]
    replanned = after["decisions"][-1]
    assert len(after["decisions"]) >= 2, replanned
    assert replanned["stop"], replanned
    assert replanned["blocked"].get("email") == "unsubscribed", replanned
    print(
        f"\nrace unsubscribe: event {lead:.2f}s before the planned send; no e-mail; re-planned: {replanned['stop_reason']}"
    )


@pytest.mark.service_settings(channels=("sms",), **RACE_SETTINGS)
async def test_sms_consent_revoked_one_second_before_the_send_stops_it(service):
    tag = uuid.uuid4().hex[:6]
    race_contact = {"customer_id": f"texter-{tag}", "phone": "+1 201 555 0161"}
    control_contact = {"customer_id": f"reader-{tag}", "phone": "+1 201 555 0162"}
    race = cart_event(f"sms-race-{tag}", race_contact, consents=sms_consent("granted"))
    control = cart_event(f"sms-control-{tag}", control_contact, consents=sms_consent("granted"))
    journey = await start_pair(service, race, control)
    assert journey["decisions"][0]["channel"] == "sms"
    planned = planned_real_time(service, journey)

    async def revoke():
        response = await service.generic(
            {"type": "consent", "contact": race_contact, "consents": sms_consent("revoked")}
        )
        assert response.status_code == 200, response.text
        assert response.json()["detail"] == "1 consent change(s)", response.text

    lead = await one_second_before(planned, revoke)
    await quiet_until(planned)
    sent_to = [payload["to"] for _path, _headers, payload in service.sink.on("/sms")]
    assert "+12015550162" in sent_to, "the control cart's SMS did not go out: the race proves nothing"
    assert "+12015550161" not in sent_to, "the SMS went out although consent was revoked first"

    after = await eventually_outcome(service, race["cart_id"])
    assert [t for t in after["touches"] if t["status"] == "sent"] == []
    replanned = after["decisions"][-1]
    assert len(after["decisions"]) >= 2, replanned
    assert replanned["stop"], replanned
    assert "sms" in replanned["blocked"], replanned
    print(
        f"\nrace SMS consent: event {lead:.2f}s before the planned send; no SMS; re-planned: {replanned['stop_reason']}"
    )


async def eventually_outcome(service, cart_id: str, timeout: float = 30) -> dict:
    """The journey once its outcome is recorded (the attribution window is 2 service hours: 8 s)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        journey = await service.cart(cart_id, generic=True)
        if journey["outcome"]:
            return journey
        await asyncio.sleep(0.2)
    raise AssertionError(f"no outcome for {cart_id} within {timeout}s")
