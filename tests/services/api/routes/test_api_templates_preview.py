"""The template editor's JSON API through the real app: preview numbers, test sends and per-variant results."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlmodel import Session

from services.messaging.templates_store import packaged_sources
from services.store.tables import Cart, Decision, Message, Outcome
from tests.utils.template_api import OPT_OUT, auth, browser_session, save, template_id

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


# --- preview -----------------------------------------------------------------------------------


async def preview(api, channel, reason, sources, **sample):
    response = await api.post(
        "/v1/templates/preview",
        headers=auth(api),
        json={"channel": channel, "reason": reason, "sources": sources, "sample": sample},
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_preview_counts_sms_characters_segments_and_encoding(api):
    one = await preview(api, "sms", "price", {"sms/price.txt": "a" * 138 + " " + OPT_OUT})  # 160: one segment
    assert one["sms"] == {"characters": 160, "encoding": "GSM-7", "units": 160, "segments": 1, "budget": 2}
    two = await preview(
        api, "sms", "price", {"sms/price.txt": "a" * 137 + "€ " + OPT_OUT}
    )  # 160 characters, but € costs two septets
    assert two["sms"] == {"characters": 160, "encoding": "GSM-7", "units": 161, "segments": 2, "budget": 2}
    ucs2 = await preview(api, "sms", "price", {"sms/price.txt": "ê" * 138 + " " + OPT_OUT})  # 160 UCS-2 units: 67+67+26
    assert ucs2["sms"] == {"characters": 160, "encoding": "UCS-2", "units": 160, "segments": 3, "budget": 2}
    assert ucs2["text"].startswith("êêê")
    assert "budget is 2" in ucs2["errors"][0]["message"]


async def test_preview_of_push_reports_lengths_against_limits(api):
    result = await preview(api, "push", "price", {"push/price.title": "Your cart", "push/price.txt": "B" * 100})
    assert result["push"] == {"title_chars": 9, "title_max": 65, "body_chars": 100, "body_max": 240}
    assert result["errors"] == []


async def test_preview_uses_the_chosen_sample(api):
    sources = packaged_sources("email", "price")
    plain = await preview(api, "email", "price", sources, bucket="High", items=1, locale="en")
    assert "COMEBACK10" not in plain["html"]
    assert plain["subject"].startswith("Ada, your cart")
    assert plain["text"].count(" x ") == 1
    assert "12 Market Street, Springfield" in plain["text"]  # the shop's own address
    nudged = await preview(api, "email", "price", sources, bucket="Low", items=5, locale="fr", returning=True)
    assert "COMEBACK10" in nudged["html"]
    assert "Welcome back, Zoë!" in nudged["text"]
    assert nudged["text"].count(" x ") == 5
    assert "EUR" in nudged["text"]
    retargeting = await preview(
        api, "retargeting", "price", packaged_sources("retargeting", "price"), bucket="Very low"
    )
    assert retargeting["payload"]["bucket"] == "Very low"
    assert retargeting["payload"]["segment"] == "price_sensitive"


async def test_preview_reports_errors_with_file_and_line(api):
    result = await preview(api, "sms", "price", {"sms/price.txt": "ok\n{{ shop.nme }}\n" + OPT_OUT})
    [problem] = result["errors"]
    assert (problem["file"], problem["line"]) == ("sms/price.txt", 2)
    assert "nme" in problem["message"]
    assert result["text"] is None
    stray = await preview(api, "sms", "price", {"sms/other.txt": OPT_OUT})
    assert stray["errors"][0]["file"] == "sms/other.txt"
    assert "unexpected file" in stray["errors"][0]["message"]


# --- test send ---------------------------------------------------------------------------------


async def test_send_a_test_to_yourself_is_marked(api):
    tid = await template_id(api, "email", "price")
    response = await api.post(f"/v1/templates/{tid}/test-send", headers=auth(api), json={"to": "Me@Example.com"})
    assert response.status_code == 200
    assert response.json()["to"] == "me@example.com"
    [(channel, recipient, message, _headers, _key)] = api.app.state.test_delivery.sent
    assert (channel, recipient) == ("email", "me@example.com")
    assert message.subject.startswith("[TEST] ")
    sms = await template_id(api, "sms", "price")
    assert (
        await api.post(f"/v1/templates/{sms}/test-send", headers=auth(api), json={"to": "+1 201 555 0123"})
    ).status_code == 200
    assert api.app.state.test_delivery.sent[1][1] == "+12015550123"
    assert api.app.state.test_delivery.sent[1][2].text.startswith("[TEST] ")


@pytest.mark.parametrize(
    "channel, to, message",
    [
        ("email", "not an address", "is not a valid e-mail address"),
        ("retargeting", "x@example.com", "ad audience"),
        ("push", "token", "no delivery URL configured"),
    ],
)
async def test_test_send_refusals(api, channel, to, message):
    tid = await template_id(api, channel, "price")
    response = await api.post(f"/v1/templates/{tid}/test-send", headers=auth(api), json={"to": to})
    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert api.app.state.test_delivery.sent == []


# --- variants ----------------------------------------------------------------------------------


async def test_variant_results_in_the_template_json_and_on_the_list_page(api):
    a = await template_id(api, "sms", "price")
    b = (await save(api, "sms", "price", {"sms/price.txt": "{{ cart.recovery_url }} " + OPT_OUT}, variant="B")).json()
    with Session(api.engine) as session:
        for index in range(30):
            cart = f"cart{index}"
            session.add(Cart(id=cart, shop="s", token=cart, platform="generic", created_at=NOW, updated_at=NOW))
            decision = Decision(
                cart_id=cart,
                touch=1,
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
            variant_id = a if index < 15 else b["id"]
            session.add(
                Message(
                    idempotency_key=cart,
                    cart_id=cart,
                    decision_id=decision.id,
                    touch=1,
                    channel="sms",
                    status="sent",
                    template_id=variant_id,
                    created_at=NOW,
                )
            )
            recovered = index < 2 or index >= 25  # A: 2/15, B: 5/15
            session.add(
                Outcome(
                    cart_id=cart,
                    status="recovered" if recovered else "not_recovered",
                    attributed_touch=1 if recovered else None,
                    recorded_at=NOW,
                )
            )
        session.commit()
    variants = {v["variant"]: v for v in (await api.get(f"/v1/templates/{a}", headers=auth(api))).json()["variants"]}
    assert (variants["A"]["sent"], variants["A"]["recovered"], variants["B"]["sent"], variants["B"]["recovered"]) == (
        15,
        2,
        15,
        5,
    )
    assert variants["B"]["probability_best"] > 0.8
    assert abs(variants["A"]["probability_best"] + variants["B"]["probability_best"] - 1) < 1e-3
    cookie, _ = await browser_session(api)
    page = await api.get("/templates", headers={"Cookie": cookie})
    row = re.search(rf'<tr id="template-{b["id"]}".*?</tr>', page.text, re.S).group(0)
    assert '<td class="num sends">15</td>' in row
    assert '<td class="num recoveries">5</td>' in row
