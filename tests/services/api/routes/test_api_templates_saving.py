"""The template editor's JSON API through the real app: roles, listing, validation on save, history, rollback."""

from __future__ import annotations

import pytest

from services.messaging.templates_store import packaged_sources
from tests.utils.template_api import OPT_OUT, active, auth, save, template_id

# --- roles -------------------------------------------------------------------------------------


async def test_viewer_can_neither_read_nor_change_templates(api):
    tid = await template_id(api, "sms", "price")
    calls = [
        ("GET", "/v1/templates", None),
        ("GET", f"/v1/templates/{tid}", None),
        ("GET", f"/v1/templates/{tid}/history", None),
        ("POST", "/v1/templates", {"channel": "sms", "reason": "price", "sources": {"sms/price.txt": OPT_OUT}}),
        ("POST", "/v1/templates/preview", {"channel": "sms", "reason": "price", "sources": {}}),
        ("POST", f"/v1/templates/{tid}/rollback", None),
        ("POST", f"/v1/templates/{tid}/test-send", {"to": "v@example.com"}),
    ]
    for method, url, body in calls:
        response = await api.request(method, url, headers=auth(api, "viewer"), json=body)
        assert response.status_code == 403, (method, url)
        assert response.json()["detail"] == "this needs the editor role; your key has viewer"
        assert (await api.request(method, url, json=body)).status_code == 401
    assert active(api, "sms", "price").version == 1
    assert api.app.state.test_delivery.sent == []


# --- listing and reading -----------------------------------------------------------------------


async def test_list_shows_every_seeded_template_with_its_variant_results(api):
    response = await api.get("/v1/templates", headers=auth(api))
    assert response.status_code == 200
    templates = response.json()["templates"]
    assert len(templates) == 20
    assert all(t["version"] == 1 and t["status"] == "active" for t in templates)
    assert templates[0]["stats"] == {
        "variant": "A",
        "id": templates[0]["id"],
        "version": 1,
        "sent": 0,
        "recovered": 0,
        "probability_best": 1.0,
    }
    assert "sources" not in templates[0]
    one = (await api.get(f"/v1/templates/{templates[0]['id']}", headers=auth(api))).json()
    assert set(one["sources"])
    assert one["label"].endswith("@v1/A")
    assert one["variants"][0]["variant"] == "A"
    assert (await api.get("/v1/templates/999999", headers=auth(api))).status_code == 404


# --- saving validates --------------------------------------------------------------------------


async def test_syntax_error_is_rejected_with_its_line_and_never_activated(api):
    response = await save(
        api, "sms", "price", {"sms/price.txt": "{{ shop.name }}\n{{ cart.recovery_url }}\n{% if %}\n" + OPT_OUT}
    )
    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {
                "file": "sms/price.txt",
                "line": 3,
                "message": "syntax error: Expected an expression, got 'end of statement block'",
            }
        ]
    }
    assert active(api, "sms", "price").version == 1
    history = (
        await api.get(f"/v1/templates/{await template_id(api, 'sms', 'price')}/history", headers=auth(api))
    ).json()
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
    assert problem["file"] == "sms/price.txt"
    assert problem["line"] == 2
    assert "amount" in problem["message"]
    assert "incentive free_shipping" in problem["message"]


@pytest.mark.parametrize(
    "drop, message",
    [
        ("{{ unsubscribe_url }}", "must contain the unsubscribe link"),
        ("{{ shop.address }}", "must contain the shop's postal address"),
    ],
)
async def test_email_needs_the_unsubscribe_link_and_postal_address(api, drop, message):
    sources = dict(packaged_sources("email", "price"))
    sources["email/price.txt"] = (
        '{% extends "email/base.txt" %}{% block footer %}'
        + "{{ shop.address }} {{ unsubscribe_url }}".replace(drop, "")
        + "{% endblock %}"
    )
    [problem] = (await save(api, "email", "price", sources)).json()["detail"]
    assert message in problem["message"]
    assert problem["file"] == "email/price"
    assert active(api, "email", "price").version == 1


async def test_sms_needs_the_opt_out_text(api):
    [problem] = (await save(api, "sms", "price", {"sms/price.txt": "{{ shop.name }}: {{ cart.recovery_url }}"})).json()[
        "detail"
    ]
    assert "opt-out text 'Reply STOP to opt out'" in problem["message"]


async def test_sms_budget_is_checked_with_worst_case_data(api):
    # Fine for "Ada", too long with a long name or one outside GSM-7 (which halves the budget).
    source = "Hi {{ customer.first_name or 'there' }}! " + "x" * 230 + " " + OPT_OUT
    [problem] = (await save(api, "sms", "price", {"sms/price.txt": source})).json()["detail"]
    assert "segments" in problem["message"]
    assert "budget is 2" in problem["message"]
    assert "first name" in problem["message"]
    assert active(api, "sms", "price").version == 1


async def test_push_limits_and_wrong_files(api):
    sources = {"push/price.title": "x" * 70, "push/price.txt": "Body"}
    [problem] = (await save(api, "push", "price", sources)).json()["detail"]
    assert "push title is 70 characters (max 65)" in problem["message"]
    detail = (await save(api, "push", "price", {"push/price.txt": "Body", "push/other.title": "T"})).json()["detail"]
    assert {(d["file"], d["message"].split(":")[0]) for d in detail} == {
        ("push/price.title", "this file is missing"),
        ("push/other.title", "unexpected file"),
    }


async def test_valid_save_becomes_the_active_version_with_author_and_note(api):
    source = "{{ shop.name }}: your cart is waiting. {{ cart.recovery_url }} " + OPT_OUT
    response = await save(api, "sms", "price", {"sms/price.txt": source}, note="shorter copy")
    assert response.status_code == 201
    body = response.json()
    assert (body["version"], body["status"], body["author"], body["note"], body["label"]) == (
        2,
        "active",
        "editor person",
        "shorter copy",
        "sms/price@v2/A",
    )
    assert active(api, "sms", "price").sources == {"sms/price.txt": source}
    draft = (await save(api, "sms", "price", {"sms/price.txt": source + "!"}, activate=False)).json()
    assert draft["status"] == "draft"
    assert active(api, "sms", "price").version == 2


# --- history, diff, rollback -------------------------------------------------------------------


async def test_history_diff_and_rollback(api):
    first = await template_id(api, "sms", "price")
    original = active(api, "sms", "price").sources["sms/price.txt"]
    edited = original.replace("You'll see the full total", "You will see the full total")
    second = (await save(api, "sms", "price", {"sms/price.txt": edited}, note="wording")).json()
    diff = (await api.get(f"/v1/templates/diff?a={first}&b={second['id']}", headers=auth(api))).json()
    assert "--- sms/price.txt@v1\n+++ sms/price.txt@v2\n" in diff["diff"]
    assert "-You'll see the full total" in diff["diff"]
    assert "+You will see the full total" in diff["diff"]
    back = await api.post(f"/v1/templates/{first}/rollback", headers=auth(api))
    assert back.status_code == 201
    assert back.json()["version"] == 3
    assert back.json()["note"] == "rollback to v1"
    assert active(api, "sms", "price").sources["sms/price.txt"] == original
    versions = (await api.get(f"/v1/templates/{first}/history", headers=auth(api))).json()["versions"]
    assert [(v["version"], v["status"]) for v in versions] == [(3, "active"), (2, "archived"), (1, "archived")]
    other = await template_id(api, "email", "price")
    assert (await api.get(f"/v1/templates/diff?a={first}&b={other}", headers=auth(api))).status_code == 400
