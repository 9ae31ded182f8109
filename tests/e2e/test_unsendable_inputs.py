"""End to end: what a webhook accepts can be sent. A first name as long as the webhook admits, and
an internationalised e-mail domain, reach the SMTP server; an address our mailer cannot deliver to
is not taken as an address, so the journey plans without it and still records its outcome."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.utils.e2e.sinks import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.service_settings(channels=("email",), attribution_window_hours=1)]

EMAIL_CONSENT = [{"channel": "email", "state": "granted", "source": "checkbox"}]


def cart(cart_id: str, **contact) -> dict:
    return {
        "type": "cart",
        "cart_id": cart_id,
        "contact": {"customer_id": f"cust-{cart_id}", **contact},
        "consents": EMAIL_CONSENT,
        "total_value": "25.00",
        "items": [{"title": "Mug", "quantity": 1, "price": "25.00"}],
        "recovery_url": "https://shop.example.com/r/1",
    }


async def test_an_internationalised_domain_is_delivered_in_its_ascii_form(service):
    assert (await service.generic(cart("idn", email="Ada@Bücher.de"))).status_code == 200
    [message] = await eventually(lambda: service.smtp.to("ada@xn--bcher-kva.de"), timeout=60)
    assert "Mug" in message.as_string()


async def test_the_longest_first_name_is_left_out_of_a_message_that_still_goes(service):
    name = "Wolfeschlegelsteinhausenbergerdorff" * 5  # 175 characters, within Contact.first_name
    assert (await service.generic(cart("long-name", email="long.name@example.com", first_name=name))).status_code == 200
    [message] = await eventually(lambda: service.smtp.to("long.name@example.com"), timeout=60)
    assert "Wolfeschlegelsteinhausenbergerdorff" not in message.as_string()
    assert 0 < len(message["Subject"]) <= 200


async def test_an_address_the_mailer_cannot_deliver_to_is_no_address_and_the_journey_still_ends(service):
    assert (await service.generic(cart("smtputf8", email="ädä@example.com"))).status_code == 200
    deadline = time.monotonic() + 90  # abandonment, a plan that finds no channel, the 1 h window
    journey = await service.cart("smtputf8", generic=True)
    while journey["outcome"] is None and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        journey = await service.cart("smtputf8", generic=True)
    assert journey["outcome"] is not None, journey
    assert journey["outcome"]["status"] == "not_recovered"
    first = journey["decisions"][0]
    assert first["stop"] and "email" in first["blocked"], first
    assert service.smtp.messages == []
