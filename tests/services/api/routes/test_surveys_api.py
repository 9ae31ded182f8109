"""POST /v1/carts/{cart_id}/survey through the real app, on SQLite and PostgreSQL: the shopper's
answer becomes the cart's reason label; bad input gets a status and a message, and stores nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace

import httpx
import pytest
from sqlmodel import Session, select

from services.api.app import create_app
from services.core.events import CartEvent
from services.core.settings import Settings
from services.ingest.intake import store_event
from services.store.api_keys import create_key
from services.store.carts import cart_key
from services.store.tables import ReasonLabel

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def api(tmp_path, engine):
    cfg = Settings(_env_file=None, data_dir=tmp_path, webhook_secret="w", secret_key="s" * 32)
    app = create_app(cfg, engine=engine, client=SimpleNamespace())
    for shop, token in (("shop-a", "tok-1"), ("shop-b", "tok-1"), ("shop-a", "tok-2")):
        store_event(engine, cfg, shop, "generic", CartEvent(cart_id=token, total_value=Decimal("5")), NOW)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            client.engine = engine
            client.keys = {}
            for role in ("viewer", "editor", "admin"):
                with Session(engine) as session:
                    _, client.keys[role] = create_key(session, role, role, created_by="test")
                    session.commit()
            yield client


def as_role(api, role="editor") -> dict:
    return {"Authorization": f"Bearer {api.keys[role]}"}


def labels(engine) -> list[tuple[str, str, str]]:
    with Session(engine) as session:
        return sorted((label.cart_id, label.reason, label.source) for label in session.exec(select(ReasonLabel)))


async def test_an_answer_is_stored_as_the_carts_survey_label(api):
    response = await api.post("/v1/carts/tok-2/survey", json={"reason": "shipping_cost"}, headers=as_role(api))
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["cart_id"], body["shop"], body["reason"], body["source"]) == (
        "tok-2",
        "shop-a",
        "shipping_cost",
        "survey",
    )
    assert datetime.fromisoformat(body["recorded_at"]).tzinfo is not None
    assert labels(api.engine) == [(cart_key("shop-a", "tok-2"), "shipping_cost", "survey")]


async def test_a_second_answer_replaces_the_first(api):
    for reason in ("price", "technical"):
        response = await api.post("/v1/carts/tok-2/survey", json={"reason": reason}, headers=as_role(api, "admin"))
        assert response.status_code == 201
        assert response.json()["reason"] == reason
    assert labels(api.engine) == [(cart_key("shop-a", "tok-2"), "technical", "survey")]


async def test_the_shop_picks_the_cart_when_two_shops_share_a_token(api):
    response = await api.post(
        "/v1/carts/tok-1/survey", json={"reason": "indecision", "shop": "shop-b"}, headers=as_role(api)
    )
    assert response.status_code == 201
    assert response.json()["shop"] == "shop-b"
    assert labels(api.engine) == [(cart_key("shop-b", "tok-1"), "indecision", "survey")]


async def test_our_opaque_cart_key_works_too(api):
    key = cart_key("shop-a", "tok-2")
    response = await api.post(f"/v1/carts/{key}/survey", json={"reason": "other"}, headers=as_role(api))
    assert response.status_code == 201
    assert response.json()["cart_id"] == "tok-2"


async def test_an_unknown_cart_is_404(api):
    response = await api.post("/v1/carts/nope/survey", json={"reason": "price"}, headers=as_role(api))
    assert response.status_code == 404
    assert response.json()["detail"] == "no cart 'nope'"
    response = await api.post(
        "/v1/carts/tok-2/survey", json={"reason": "price", "shop": "shop-b"}, headers=as_role(api)
    )
    assert response.status_code == 404
    assert response.json()["detail"] == "no cart 'tok-2' in shop 'shop-b'"
    assert labels(api.engine) == []


async def test_an_unknown_reason_is_422_listing_the_reasons(api):
    response = await api.post("/v1/carts/tok-2/survey", json={"reason": "too expensive"}, headers=as_role(api))
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["field"] == "body.reason"
    for reason in ("shipping_cost", "price", "indecision", "technical", "other"):
        assert reason in problem["message"]
    assert labels(api.engine) == []


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "body.reason"),
        ({"reason": "price", "comment": "x"}, "body.comment"),
        ({"reason": "price", "shop": "s" * 300}, "body.shop"),
        ({"reason": 3}, "body.reason"),
    ],
)
async def test_a_malformed_answer_is_422_naming_the_field(api, body, field):
    response = await api.post("/v1/carts/tok-2/survey", json=body, headers=as_role(api))
    assert response.status_code == 422
    assert field in [p["field"] for p in response.json()["detail"]]
    assert labels(api.engine) == []


async def test_not_json_is_422(api):
    response = await api.post("/v1/carts/tok-2/survey", content=b"reason=price", headers=as_role(api))
    assert response.status_code == 422
    assert labels(api.engine) == []


async def test_a_viewer_may_not_answer_and_a_stranger_is_401(api):
    response = await api.post("/v1/carts/tok-2/survey", json={"reason": "price"}, headers=as_role(api, "viewer"))
    assert response.status_code == 403
    assert response.json()["detail"] == "this needs the editor role; your key has viewer"
    response = await api.post("/v1/carts/tok-2/survey", json={"reason": "price"})
    assert response.status_code == 401
    assert labels(api.engine) == []
