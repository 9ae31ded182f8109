"""End to end on the real dev server: Shopify webhooks in, e-mail over real SMTP out, order back."""

from __future__ import annotations

import asyncio
import copy
import json
import re

import pytest

from services.messaging.click_links import read_click_token
from tests.fixtures import shopify_fixture
from tests.utils.e2e.sinks import eventually

pytestmark = pytest.mark.e2e

CHECKOUT_EMAIL = "example@email.com"  # the `email` of Shopify's checkouts/create example


def body_text(message) -> str:
    parts = [message] if not message.is_multipart() else [p for p in message.walk() if not p.is_multipart()]
    return "\n".join(p.get_payload(decode=True).decode(p.get_content_charset() or "utf-8") for p in parts)


def tracked_link(service, text: str) -> str:
    """The message's cart link: the service's click-tracking URL (services/messaging/click_links.py)."""
    found = re.findall(re.escape(service.settings.public_url) + r"/c/[A-Za-z0-9_.-]+", text)
    assert found, "no tracked cart link in the message"
    return found[0]


def part(message, subtype: str) -> str:
    found = [p for p in message.walk() if p.get_content_type() == f"text/{subtype}"]
    assert len(found) == 1, f"expected one text/{subtype} part"
    return found[0].get_payload(decode=True).decode(found[0].get_content_charset() or "utf-8")


async def test_checkout_email_then_order_recovers(service):
    checkout = shopify_fixture("checkouts_create")
    response = await service.shopify("checkouts/create", checkout)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "accepted"

    first = (await eventually(lambda: service.smtp.to(CHECKOUT_EMAIL), timeout=60))[0]
    unsubscribe = first["List-Unsubscribe"].strip("<>")
    assert unsubscribe.startswith("http")
    assert first["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = tracked_link(service, part(first, "plain"))
    for subtype in ("plain", "html"):  # both parts: items, the tracked cart link, the unsubscribe link, the address
        text = part(first, subtype)
        assert link in text
        for item in checkout["line_items"]:
            assert item["title"] in text
        assert unsubscribe in text
        assert service.settings.shop_address in text
    # the link records the click and opens the shopper's checkout (its URL is not in the message)
    assert checkout["abandoned_checkout_url"] not in body_text(first)
    cart_key, touch = read_click_token(service.settings.signing_key(), link.rsplit("/", 1)[1])

    def clicked() -> list[bool]:
        return [m.clicked_at is not None for m in service.sent_messages() if (m.cart_id, m.touch) == (cart_key, touch)]

    await eventually(lambda: clicked() == [False])  # the SMTP server can have it before the row says sent
    opened = await service.http.get(link.removeprefix(service.settings.public_url))
    assert opened.status_code == 302
    assert opened.headers["location"] == checkout["abandoned_checkout_url"]
    assert clicked() == [True]

    order = shopify_fixture("orders_create")
    order["checkout_token"] = checkout["token"]  # a real order quotes its checkout (the example has null)
    response = await service.shopify("orders/create", order)
    assert response.status_code == 200
    assert response.json()["detail"] == "order matched to an open cart"

    for _ in range(600):  # generous: CI machines are shared
        journey = await service.cart(checkout["token"])
        if journey["outcome"]:
            break
        await asyncio.sleep(0.1)
    assert journey["status"] == "recovered"
    outcome = journey["outcome"]
    assert outcome["value"] == float(order["total_price"])
    assert outcome["attributed_touch"] == max(t["touch"] for t in journey["touches"] if t["status"] == "sent")
    assert outcome["attributed_channel"] == "email"
    touch = journey["touches"][0]
    assert touch["channel"] == "email"
    assert touch["template"]
    assert touch["reason"]
    assert touch["bucket"]
    decision = journey["decisions"][0]
    assert decision["allowed"]["email"] is True
    assert "sms" in decision["blocked"]

    sent_before = len(service.smtp.messages)
    await asyncio.sleep(5)  # 10 service hours at 7200x: touch 2 would have been due by now
    assert len(service.smtp.messages) == sent_before

    report = (await service.http.get("/v1/reports/recovery", headers=service.admin)).json()
    assert report["recovered_carts"] == 1
    assert report["recovered_revenue"] == float(order["total_price"])
    assert report["by_channel"][0]["channel"] == "email"


async def test_ten_deliveries_make_one_journey_and_one_message_per_touch(service):
    checkout = shopify_fixture("checkouts_create")
    first = await service.shopify("checkouts/create", checkout, webhook_id="same-delivery")
    assert first.json()["status"] == "accepted"
    replies = await asyncio.gather(
        *(service.shopify("checkouts/create", checkout, webhook_id="same-delivery") for _ in range(9))
    )
    assert [r.json()["status"] for r in replies] == ["duplicate"] * 9
    # different delivery ids, same checkout: still the same journey
    await asyncio.gather(*(service.shopify("checkouts/create", checkout) for _ in range(3)))

    await eventually(lambda: service.smtp.to(CHECKOUT_EMAIL), timeout=60)
    journey = await service.cart(checkout["token"])
    query = f"WorkflowId = 'recovery/{service.shop}/{journey['key']}'"
    await asyncio.sleep(1)  # visibility is eventually consistent
    runs = [w async for w in service.temporal.list_workflows(query)]
    assert len(runs) == 1  # thirteen deliveries, one run

    # the shopper changes the cart: the next message shows the new items
    update = shopify_fixture("checkouts_update")
    update["token"] = checkout["token"]
    update["line_items"] = copy.deepcopy(checkout["line_items"][:1])
    update["line_items"][0]["title"] = "Brand-new item title"
    update["line_items"][0]["presentment_title"] = "Brand-new item title"
    update["updated_at"] = "2030-01-01T00:00:00-05:00"
    assert (await service.shopify("checkouts/update", update)).status_code == 200

    second = (await eventually(lambda: service.smtp.to(CHECKOUT_EMAIL)[1:], timeout=90))[0]
    assert "Brand-new item title" in body_text(second)
    messages = service.sent_messages()
    assert sorted(m.touch for m in messages) == list(range(1, len(messages) + 1))  # one message per touch


@pytest.mark.service_settings(channels=("sms",))
async def test_sms_only_with_explicit_consent(service):
    base = {
        "type": "cart",
        "currency": "USD",
        "total_value": "250.00",
        "stage": "payment",
        "items": [{"title": "Espresso machine", "quantity": 1, "price": "250.00"}],
        "recovery_url": "https://shop.example.com/r/1",
    }
    consented = {
        **base,
        "cart_id": "sms-yes",
        "contact": {"phone": "+1 201 555 0123", "customer_id": "c1"},
        "consents": [{"channel": "sms", "state": "granted", "source": "checkout"}],
    }
    silent = {**base, "cart_id": "sms-no", "contact": {"phone": "+1 201 555 0124", "customer_id": "c2"}}
    for event in (consented, silent):
        assert (await service.generic(event)).status_code == 200
    sms = await eventually(lambda: service.sink.on("/sms"), timeout=60)
    path, _headers, payload = sms[0]
    assert path == "/sms"
    assert payload["to"] == "+12015550123"  # `:to={to}` puts the E.164 number in the JSON
    assert "STOP" in payload["message"]
    opened = await service.http.get(tracked_link(service, payload["message"]).removeprefix(service.settings.public_url))
    assert opened.status_code == 302
    assert opened.headers["location"] == "https://shop.example.com/r/1"
    await asyncio.sleep(3)
    assert [p["to"] for _, _, p in service.sink.on("/sms")] == ["+12015550123"]
    blocked = (await service.cart("sms-no", generic=True))["decisions"][0]
    assert blocked["stop"]
    assert "sms" in blocked["blocked"]


@pytest.mark.service_settings(channels=("push",))
async def test_push_only_with_opt_in_and_token(service):
    base = {"type": "cart", "total_value": "40.00", "items": [{"title": "Socks", "quantity": 2, "price": "20.00"}]}
    opted = {
        **base,
        "cart_id": "push-yes",
        "contact": {"customer_id": "p1", "push_token": "tok-abc"},
        "consents": [{"channel": "push", "state": "granted"}],
    }
    no_opt_in = {**base, "cart_id": "push-no", "contact": {"customer_id": "p2", "push_token": "tok-def"}}
    for event in (opted, no_opt_in):
        assert (await service.generic(event)).status_code == 200
    push = await eventually(lambda: service.sink.on("/push"), timeout=60)
    assert push[0][2]["to"] == "tok-abc"
    assert push[0][2]["title"]
    await asyncio.sleep(3)
    assert [p["to"] for _, _, p in service.sink.on("/push")] == ["tok-abc"]


@pytest.mark.service_settings(channels=("retargeting",))
async def test_retargeting_only_with_ads_consent_and_only_hashed_ids(service):
    base = {"type": "cart", "total_value": "99.00", "items": [{"title": "Lamp", "quantity": 1, "price": "99.00"}]}
    consented = {
        **base,
        "cart_id": "ads-yes",
        "contact": {"customer_id": "r1", "email": "ads.yes@example.com"},
        "consents": [{"channel": "retargeting", "state": "granted"}],
    }
    refused = {
        **base,
        "cart_id": "ads-no",
        "contact": {"customer_id": "r2", "email": "ads.no@example.com"},
        "consents": [{"channel": "retargeting", "state": "revoked"}],
    }
    for event in (consented, refused):
        assert (await service.generic(event)).status_code == 200
    calls = await eventually(lambda: service.sink.on("/audience"), timeout=60)
    await asyncio.sleep(3)
    everything = json.dumps(service.sink.requests)
    assert "ads.yes@example.com" not in everything
    assert "ads.no@example.com" not in everything
    import hashlib

    assert calls[0][2]["to"] == hashlib.sha256(b"ads.yes@example.com").hexdigest()
    assert len(service.sink.on("/audience")) == 1
    assert hashlib.sha256(b"ads.no@example.com").hexdigest() not in everything


async def test_no_personal_data_in_temporal(service):
    checkout = shopify_fixture("checkouts_create")
    checkout["phone"] = "+1 201 555 0188"
    await service.shopify("checkouts/create", checkout)
    await eventually(lambda: service.smtp.to(CHECKOUT_EMAIL), timeout=60)
    journey = await service.cart(checkout["token"])
    handle = service.temporal.get_workflow_handle(f"recovery/{service.shop}/{journey['key']}")
    history = json.dumps((await handle.fetch_history()).to_json_dict())
    for secret in (
        CHECKOUT_EMAIL,
        "john@example.com",
        "John",
        "2015550188",
        checkout["token"],
        checkout["abandoned_checkout_url"],
        "IPod Nano",
    ):
        assert secret not in history, secret
