"""Opt-outs and erasure end to end: real dev server, worker, API, SMTP and HTTP sinks."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlmodel import Session, SQLModel, select

from tests.utils.e2e.sinks import eventually

pytestmark = pytest.mark.e2e

PHONE = "+12015550177"


def sms_cart(cart_id: str, customer: str, phone: str = PHONE) -> dict:
    return {
        "type": "cart",
        "cart_id": cart_id,
        "total_value": "180.00",
        "stage": "payment",
        "items": [{"title": "Espresso grinder", "quantity": 1, "price": "180.00"}],
        "recovery_url": f"https://shop.example.com/r/{cart_id}",
        "contact": {"customer_id": customer, "phone": phone, "email": f"{customer}@example.com", "first_name": "Grace"},
        "consents": [{"channel": "sms", "state": "granted", "source": "checkout"}],
    }


@pytest.mark.service_settings(channels=("sms",))
async def test_stop_reply_revokes_sms_before_the_next_send(service):
    assert (await service.generic(sms_cart("stop-1", "stopper"))).status_code == 200
    await eventually(lambda: service.sink.on("/sms"), timeout=60)
    reply = await service.generic({"type": "sms_reply", "phone": "(201) 555-0177", "text": " Stop! "})
    assert reply.status_code == 200
    assert reply.json()["detail"] == "SMS consent revoked"

    # the same shopper abandons another cart (no new consent given): no SMS for it
    second = sms_cart("stop-2", "stopper")
    second["consents"] = []
    assert (await service.generic(second)).status_code == 200
    for _ in range(150):
        journey = await service.cart("stop-2", generic=True)
        if journey["decisions"]:
            break
        await asyncio.sleep(0.2)
    decision = journey["decisions"][0]
    assert decision["stop"]
    assert decision["blocked"]["sms"] == "no explicit SMS consent"
    await asyncio.sleep(2)
    assert [p["to"] for _, _, p in service.sink.on("/sms")] == [PHONE]  # only the one before STOP


async def test_reply_without_keyword_changes_nothing(service):
    response = await service.generic({"type": "sms_reply", "phone": PHONE, "text": "please stop by tomorrow"})
    assert response.status_code == 200
    assert "ignored" in response.json()["detail"]


@pytest.mark.service_settings(channels=("email",))
async def test_erasure_stops_the_journey_and_leaves_no_personal_data(service):
    cart = sms_cart("erase-1", "eraseme")
    assert (await service.generic(cart)).status_code == 200
    await eventually(lambda: service.smtp.to("eraseme@example.com"), timeout=60)
    journey = await service.cart("erase-1", generic=True)
    customer_id = journey["customer_id"]

    exported = await service.http.get(f"/v1/customers/{customer_id}/export", headers=service.admin)
    assert exported.status_code == 200
    assert exported.json()["contacts"]
    assert "eraseme@example.com" in json.dumps(exported.json())

    erased = await service.http.delete(f"/v1/customers/{customer_id}", headers=service.admin)
    assert erased.status_code == 200
    assert erased.json()["journeys_stopped"] == 1
    wid = f"recovery/{service.generic_shop}/{journey['key']}"
    result = await service.temporal.get_workflow_handle(wid).result()
    assert (result["status"], result["reason"]) == ("cancelled", "erased")

    needles = ["eraseme", "Grace", "2015550177", "erase-1", "Espresso grinder", "shop.example.com/r/"]
    with Session(service.engine) as session:
        dump = json.dumps(
            [
                [list(map(str, row)) for row in session.connection().execute(select(table)).all()]
                for table in SQLModel.metadata.sorted_tables
            ]
        )
    assert [n for n in needles if n in dump] == []
    history = json.dumps((await service.temporal.get_workflow_handle(wid).fetch_history()).to_json_dict())
    assert [n for n in needles if n in history] == []
    assert (await service.http.delete(f"/v1/customers/{customer_id}", headers=service.admin)).status_code == 200
    assert (await service.http.delete("/v1/customers/nobody", headers=service.admin)).status_code == 404
