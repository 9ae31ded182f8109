"""The template editor's JSON API through the real app: roles, validation on save, preview numbers,
history / diff / rollback, test sends and per-variant results."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
from sqlmodel import Session
from template_api import OPT_OUT, active, api, auth, browser_session, save, template_id  # noqa: F401 (api: fixture)

from services.store.tables import Cart, Decision, Message, Outcome
from services.messaging.templates_store import packaged_sources

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


# --- roles -------------------------------------------------------------------------------------


async def test_viewer_can_neither_read_nor_change_templates(api):
    tid = await template_id(api, "sms", "price")
    calls = [("GET", "/v1/templates", None), ("GET", f"/v1/templates/{tid}", None), ("GET", f"/v1/templates/{tid}/history", None),
             ("POST", "/v1/templates", {"channel": "sms", "reason": "price", "sources": {"sms/price.txt": OPT_OUT}}),
             ("POST", "/v1/templates/preview", {"channel": "sms", "reason": "price", "sources": {}}),
             ("POST", f"/v1/templates/{tid}/rollback", None), ("POST", f"/v1/templates/{tid}/test-send", {"to": "v@example.com"})]
    for method, url, body in calls:
        response = await api.request(method, url, headers=auth(api, "viewer"), json=body)
        assert response.status_code == 403, (method, url)
        assert response.json()["detail"] == "this needs the editor role; your key has viewer"
        assert (await api.request(method, url, json=body)).status_code == 401
    assert active(api, "sms", "price").version == 1 and api.app.state.test_delivery.sent == []


# --- listing and reading -----------------------------------------------------------------------


async def test_list_shows_every_seeded_template_with_its_variant_results(api):
    response = await api.get("/v1/templates", headers=auth(api))
    assert response.status_code == 200
    templates = response.json()["templates"]
    assert len(templates) == 20 and all(t["version"] == 1 and t["status"] == "active" for t in templates)
    assert templates[0]["stats"] == {"variant": "A", "id": templates[0]["id"], "version": 1, "sent": 0, "recovered": 0,
                                     "probability_best": 1.0}
    assert "sources" not in templates[0]
    one = (await api.get(f"/v1/templates/{templates[0]['id']}", headers=auth(api))).json()
    assert set(one["sources"]) and one["label"].endswith("@v1/A") and one["variants"][0]["variant"] == "A"
    assert (await api.get("/v1/templates/999999", headers=auth(api))).status_code == 404


# --- saving validates --------------------------------------------------------------------------


async def test_syntax_error_is_rejected_with_its_line_and_never_activated(api):
    response = await save(api, "sms", "price", {"sms/price.txt": "{{ shop.name }}\n{{ cart.recovery_url }}\n{% if %}\n" + OPT_OUT})
    assert response.status_code == 422
    assert response.json() == {"detail": [{"file": "sms/price.txt", "line": 3,
                                           "message": "syntax error: Expected an expression, got 'end of statement block'"}]}
    assert active(api, "sms", "price").version == 1
    history = (await api.get(f"/v1/templates/{await template_id(api, 'sms', 'price')}/history", headers=auth(api))).json()
    assert [v["version"] for v in history["versions"]] == [1]  # nothing stored at all


async def test_syntax_errors_in_several_files_are_all_reported(api):
    sources = dict(packaged_sources("email", "price"))
    sources["email/price.html"] = "{% extends 'email/base.html' %}\n{% block intro %}{{ }}{% endblock %}"
    sources["email/price.subject"] = "\n\n{% for x in %}"
    detail = (await save(api, "email", "price", sources)).json()["detail"]
    assert [(d["file"], d["line"]) for d in detail] == [("email/price.html", 2), ("email/price.subject", 3)]


async def test_undefined_variable_is_named_with_its_line(api):
    source = "{{ shop.name }}\n{% if touch > 1 %}{{ coupon_code }}{% endif %}\n" + OPT_OUT
    [problem] = (await save(api, "sms", "price", {"sms/price.txt": source})).json()["detail"]
    assert (problem["file"], problem["line"]) == ("sms/price.txt", 2)
    assert "undefined variable 'coupon_code'" in problem["message"]


async def test_undefined_attribute_in_a_rare_branch_is_caught_by_the_worst_case_samples(api):
    source = "{{ shop.name }}\n{% if incentive %}{{ incentive.amount }}{% endif %}\n" + OPT_OUT
    [problem] = (await save(api, "sms", "price", {"sms/price.txt": source})).json()["detail"]
    assert problem["file"] == "sms/price.txt" and problem["line"] == 2
    assert "amount" in problem["message"] and "incentive free_shipping" in problem["message"]


@pytest.mark.parametrize("drop, message", [
    ("{{ unsubscribe_url }}", "must contain the unsubscribe link"),
    ("{{ shop.address }}", "must contain the shop's postal address"),
])
async def test_email_needs_the_unsubscribe_link_and_postal_address(api, drop, message):
    sources = dict(packaged_sources("email", "price"))
    sources["email/price.txt"] = '{% extends "email/base.txt" %}{% block footer %}' + \
        "{{ shop.address }} {{ unsubscribe_url }}".replace(drop, "") + "{% endblock %}"
    [problem] = (await save(api, "email", "price", sources)).json()["detail"]
    assert message in problem["message"] and problem["file"] == "email/price"
    assert active(api, "email", "price").version == 1


async def test_sms_needs_the_opt_out_text(api):
    [problem] = (await save(api, "sms", "price", {"sms/price.txt": "{{ shop.name }}: {{ cart.recovery_url }}"})).json()["detail"]
    assert "opt-out text 'Reply STOP to opt out'" in problem["message"]


async def test_sms_budget_is_checked_with_worst_case_data(api):
    # Fine for "Ada", too long with a long name or one outside GSM-7 (which halves the budget).
    source = "Hi {{ customer.first_name or 'there' }}! " + "x" * 230 + " " + OPT_OUT
    [problem] = (await save(api, "sms", "price", {"sms/price.txt": source})).json()["detail"]
    assert "segments" in problem["message"] and "budget is 2" in problem["message"] and "first name" in problem["message"]
    assert active(api, "sms", "price").version == 1


async def test_push_limits_and_wrong_files(api):
    sources = {"push/price.title": "x" * 70, "push/price.txt": "Body"}
    [problem] = (await save(api, "push", "price", sources)).json()["detail"]
    assert "push title is 70 characters (max 65)" in problem["message"]
    detail = (await save(api, "push", "price", {"push/price.txt": "Body", "push/other.title": "T"})).json()["detail"]
    assert {(d["file"], d["message"].split(":")[0]) for d in detail} == {
        ("push/price.title", "this file is missing"), ("push/other.title", "unexpected file")}


async def test_valid_save_becomes_the_active_version_with_author_and_note(api):
    source = "{{ shop.name }}: your cart is waiting. {{ cart.recovery_url }} " + OPT_OUT
    response = await save(api, "sms", "price", {"sms/price.txt": source}, note="shorter copy")
    assert response.status_code == 201
    body = response.json()
    assert (body["version"], body["status"], body["author"], body["note"], body["label"]) == (
        2, "active", "editor person", "shorter copy", "sms/price@v2/A")
    assert active(api, "sms", "price").sources == {"sms/price.txt": source}
    draft = (await save(api, "sms", "price", {"sms/price.txt": source + "!"}, activate=False)).json()
    assert draft["status"] == "draft" and active(api, "sms", "price").version == 2


# --- preview -----------------------------------------------------------------------------------


async def preview(api, channel, reason, sources, **sample):
    response = await api.post("/v1/templates/preview", headers=auth(api),
                              json={"channel": channel, "reason": reason, "sources": sources, "sample": sample})
    assert response.status_code == 200, response.text
    return response.json()


async def test_preview_counts_sms_characters_segments_and_encoding(api):
    one = await preview(api, "sms", "price", {"sms/price.txt": "a" * 138 + " " + OPT_OUT})  # 160: one segment
    assert one["sms"] == {"characters": 160, "encoding": "GSM-7", "units": 160, "segments": 1, "budget": 2}
    two = await preview(api, "sms", "price", {"sms/price.txt": "a" * 137 + "€ " + OPT_OUT})  # 160 characters, but € costs two septets
    assert two["sms"] == {"characters": 160, "encoding": "GSM-7", "units": 161, "segments": 2, "budget": 2}
    ucs2 = await preview(api, "sms", "price", {"sms/price.txt": "ê" * 138 + " " + OPT_OUT})  # 160 UCS-2 units: 67+67+26
    assert ucs2["sms"] == {"characters": 160, "encoding": "UCS-2", "units": 160, "segments": 3, "budget": 2}
    assert ucs2["text"].startswith("êêê") and "budget is 2" in ucs2["errors"][0]["message"]  # shown, and flagged


async def test_preview_of_push_reports_lengths_against_limits(api):
    result = await preview(api, "push", "price", {"push/price.title": "Your cart", "push/price.txt": "B" * 100})
    assert result["push"] == {"title_chars": 9, "title_max": 65, "body_chars": 100, "body_max": 240}
    assert result["errors"] == []


async def test_preview_uses_the_chosen_sample(api):
    sources = packaged_sources("email", "price")
    plain = await preview(api, "email", "price", sources, bucket="High", items=1, locale="en")
    assert "COMEBACK10" not in plain["html"] and plain["subject"].startswith("Ada, your cart")
    assert plain["text"].count(" x ") == 1 and "12 Market Street, Springfield" in plain["text"]  # the shop's own address
    nudged = await preview(api, "email", "price", sources, bucket="Low", items=5, locale="fr", returning=True)
    assert "COMEBACK10" in nudged["html"] and "Welcome back, Zoë!" in nudged["text"]
    assert nudged["text"].count(" x ") == 5 and "EUR" in nudged["text"]
    retargeting = await preview(api, "retargeting", "price", packaged_sources("retargeting", "price"), bucket="Very low")
    assert retargeting["payload"]["bucket"] == "Very low" and retargeting["payload"]["segment"] == "price_sensitive"


async def test_preview_reports_errors_with_file_and_line(api):
    result = await preview(api, "sms", "price", {"sms/price.txt": "ok\n{{ shop.nme }}\n" + OPT_OUT})
    [problem] = result["errors"]
    assert (problem["file"], problem["line"]) == ("sms/price.txt", 2) and "nme" in problem["message"]
    assert result["text"] is None
    stray = await preview(api, "sms", "price", {"sms/other.txt": OPT_OUT})
    assert stray["errors"][0]["file"] == "sms/other.txt" and "unexpected file" in stray["errors"][0]["message"]


# --- history, diff, rollback -------------------------------------------------------------------


async def test_history_diff_and_rollback(api):
    first = await template_id(api, "sms", "price")
    original = active(api, "sms", "price").sources["sms/price.txt"]
    edited = original.replace("You'll see the full total", "You will see the full total")
    second = (await save(api, "sms", "price", {"sms/price.txt": edited}, note="wording")).json()
    diff = (await api.get(f"/v1/templates/diff?a={first}&b={second['id']}", headers=auth(api))).json()
    assert "--- sms/price.txt@v1\n+++ sms/price.txt@v2\n" in diff["diff"]
    assert "-You'll see the full total" in diff["diff"] and "+You will see the full total" in diff["diff"]
    back = await api.post(f"/v1/templates/{first}/rollback", headers=auth(api))
    assert back.status_code == 201 and back.json()["version"] == 3 and back.json()["note"] == "rollback to v1"
    assert active(api, "sms", "price").sources["sms/price.txt"] == original
    versions = (await api.get(f"/v1/templates/{first}/history", headers=auth(api))).json()["versions"]
    assert [(v["version"], v["status"]) for v in versions] == [(3, "active"), (2, "archived"), (1, "archived")]
    other = await template_id(api, "email", "price")
    assert (await api.get(f"/v1/templates/diff?a={first}&b={other}", headers=auth(api))).status_code == 400


# --- test send ---------------------------------------------------------------------------------


async def test_send_a_test_to_yourself_is_marked(api):
    tid = await template_id(api, "email", "price")
    response = await api.post(f"/v1/templates/{tid}/test-send", headers=auth(api), json={"to": "Me@Example.com"})
    assert response.status_code == 200 and response.json()["to"] == "me@example.com"
    [(channel, recipient, message)] = api.app.state.test_delivery.sent
    assert (channel, recipient) == ("email", "me@example.com") and message.subject.startswith("[TEST] ")
    sms = await template_id(api, "sms", "price")
    assert (await api.post(f"/v1/templates/{sms}/test-send", headers=auth(api), json={"to": "+1 201 555 0123"})).status_code == 200
    assert api.app.state.test_delivery.sent[1][1] == "+12015550123"
    assert api.app.state.test_delivery.sent[1][2].text.startswith("[TEST] ")


@pytest.mark.parametrize("channel, to, message", [
    ("email", "not an address", "is not a valid e-mail address"),
    ("retargeting", "x@example.com", "ad audience"),
    ("push", "token", "no delivery URL configured"),
])
async def test_test_send_refusals(api, channel, to, message):
    tid = await template_id(api, channel, "price")
    response = await api.post(f"/v1/templates/{tid}/test-send", headers=auth(api), json={"to": to})
    assert response.status_code == 400 and message in response.json()["detail"]
    assert api.app.state.test_delivery.sent == []


# --- variants ----------------------------------------------------------------------------------


async def test_variant_results_in_the_template_json_and_on_the_list_page(api):
    a = await template_id(api, "sms", "price")
    b = (await save(api, "sms", "price", {"sms/price.txt": "{{ cart.recovery_url }} " + OPT_OUT}, variant="B")).json()
    with Session(api.engine) as session:
        for index in range(30):
            cart = f"cart{index}"
            session.add(Cart(id=cart, shop="s", token=cart, platform="generic", created_at=NOW, updated_at=NOW))
            decision = Decision(cart_id=cart, touch=1, decided_at=NOW, policy="t", reason="price", reason_confidence=1,
                                propensity=0.3, bucket="Low", channel="sms")
            session.add(decision)
            session.flush()
            variant_id = a if index < 15 else b["id"]
            session.add(Message(idempotency_key=cart, cart_id=cart, decision_id=decision.id, touch=1, channel="sms",
                                status="sent", template_id=variant_id, created_at=NOW))
            recovered = index < 2 or index >= 25  # A: 2/15, B: 5/15
            session.add(Outcome(cart_id=cart, status="recovered" if recovered else "not_recovered",
                                attributed_touch=1 if recovered else None, recorded_at=NOW))
        session.commit()
    variants = {v["variant"]: v for v in (await api.get(f"/v1/templates/{a}", headers=auth(api))).json()["variants"]}
    assert (variants["A"]["sent"], variants["A"]["recovered"], variants["B"]["sent"], variants["B"]["recovered"]) == (15, 2, 15, 5)
    assert variants["B"]["probability_best"] > 0.8 and abs(variants["A"]["probability_best"] + variants["B"]["probability_best"] - 1) < 1e-3
    cookie, _ = await browser_session(api)
    page = await api.get("/templates", headers={"Cookie": cookie})
    row = re.search(rf'<tr id="template-{b["id"]}".*?</tr>', page.text, re.S).group(0)
    assert '<td class="num sends">15</td>' in row and '<td class="num recoveries">5</td>' in row
