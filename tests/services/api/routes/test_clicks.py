"""Tracked cart links (services/messaging/click_links.py, GET /c/{token}) through the real app, on SQLite
and PostgreSQL: the first click is recorded and the shopper lands on the cart; a bad link is a
404 page, never an error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import httpx
import pytest
from sqlmodel import Session, select

from services.api.app import create_app
from services.core.events import CartEvent, Contact
from services.core.settings import Settings
from services.ingest.intake import store_event
from services.messaging.click_links import make_click_token, read_click_token
from services.messaging.message_context import build_message_context
from services.store.carts import cart_key
from services.store.tables import Cart, Decision, Message

SHOP = "click-shop"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
KEY = b"k" * 32
RECOVERY = "https://shop.example/checkouts/c-1/recover?key=secret-token"


def settings(tmp_path) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=tmp_path,
        webhook_secret="w",
        secret_key=KEY.decode(),
        public_url="https://recover.example",
    )


@pytest.fixture
async def api(tmp_path, engine):
    app = create_app(settings(tmp_path), engine=engine, client=SimpleNamespace())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            client.engine, client.settings = engine, app.state.settings
            yield client


def sent_message(engine, cfg, token="c-1", recovery_url=RECOVERY, touch=1) -> str:
    store_event(
        engine,
        cfg,
        SHOP,
        "generic",
        CartEvent(
            cart_id=token,
            contact=Contact(customer_id=f"cust-{token}"),
            total_value=Decimal("10"),
            recovery_url=recovery_url,
        ),
        NOW,
    )
    key = cart_key(SHOP, token)
    with Session(engine) as session:
        decision = Decision(
            cart_id=key,
            touch=touch,
            decided_at=NOW,
            policy="t",
            channel="email",
            reason="price",
            reason_confidence=0.5,
            propensity=0.2,
            bucket="Low",
        )
        session.add(decision)
        session.flush()
        session.add(
            Message(
                idempotency_key=f"{key}/{touch}",
                cart_id=key,
                decision_id=decision.id,
                touch=touch,
                channel="email",
                status="sent",
                created_at=NOW,
                sent_at=NOW,
            )
        )
        session.commit()
    return key


def clicked_at(engine, key, touch=1):
    with Session(engine) as session:
        return session.exec(select(Message.clicked_at).where(Message.cart_id == key, Message.touch == touch)).one()


# --- tokens ------------------------------------------------------------------------------------
def test_a_token_names_the_message_and_nothing_personal():
    key = cart_key(SHOP, "tok-secret-123")
    token = make_click_token(KEY, key, 3)
    assert read_click_token(KEY, token) == (key, 3)
    assert "tok-secret" not in token
    assert key not in token
    assert len(token) < 60
    assert read_click_token(b"another key" * 3, token) is None


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # signature changed
        lambda t: ("B" if t[0] != "B" else "C") + t[1:],  # payload changed: another cart or touch
        lambda t: t.partition(".")[0],  # no signature
        lambda t: "",
        lambda t: "." + t.partition(".")[2],
        lambda t: t + "." + t,
        lambda t: "%%%." + t.partition(".")[2],
        lambda t: t * 5,  # too long
    ],
)
def test_a_forged_or_mangled_token_reads_as_nothing(mangle):
    assert read_click_token(KEY, mangle(make_click_token(KEY, cart_key(SHOP, "c"), 1))) is None


def test_a_token_is_only_made_for_a_cart_key():
    with pytest.raises(ValueError, match="not a cart key"):
        make_click_token(KEY, "tok-1", 1)


def test_messages_link_to_the_tracked_url_only_when_the_cart_has_somewhere_to_go(tmp_path, sqlite_engine):
    cfg = settings(tmp_path)
    linked = sent_message(sqlite_engine, cfg, "c-1")
    bare = sent_message(sqlite_engine, cfg, "c-2", recovery_url=None)
    with Session(sqlite_engine) as session:
        for key, expected in ((linked, "tracked"), (bare, "shop")):
            cart = session.get(Cart, key)
            decision = session.exec(select(Decision).where(Decision.cart_id == key)).one()
            url = build_message_context(cfg, cart, None, {}, decision, returning=False, unsubscribe_url="")["cart"][
                "recovery_url"
            ]
            if expected == "shop":
                assert url == "https://recover.example"
            else:
                assert url.startswith("https://recover.example/c/")
                assert RECOVERY not in url
                assert read_click_token(KEY, url.rsplit("/", 1)[1]) == (key, 1)


# --- GET /c/{token} ----------------------------------------------------------------------------
async def test_the_first_click_is_recorded_and_the_shopper_lands_on_the_cart(api):
    key = sent_message(api.engine, api.settings)
    token = make_click_token(KEY, key, 1)
    response = await api.get(f"/c/{token}")
    assert response.status_code == 302
    assert response.headers["location"] == RECOVERY
    assert response.headers["cache-control"] == "no-store"
    first = clicked_at(api.engine, key)
    assert first is not None
    assert abs(first.replace(tzinfo=UTC) - datetime.now(UTC)) < timedelta(minutes=5)

    again = await api.get(f"/c/{token}")
    assert again.status_code == 302
    assert again.headers["location"] == RECOVERY
    assert clicked_at(api.engine, key) == first  # only the first click counts


async def test_a_click_marks_only_its_own_touch(api):
    key = sent_message(api.engine, api.settings, touch=1)
    with Session(api.engine) as session:
        session.add(
            Message(
                idempotency_key=f"{key}/2",
                cart_id=key,
                decision_id=1,
                touch=2,
                channel="sms",
                status="sent",
                created_at=NOW,
            )
        )
        session.commit()
    assert (await api.get(f"/c/{make_click_token(KEY, key, 2)}")).status_code == 302
    assert clicked_at(api.engine, key, 1) is None
    assert clicked_at(api.engine, key, 2) is not None


@pytest.mark.parametrize("token", ["not-a-token", "abc.def", "x" * 500, "%2e%2e"])
async def test_a_bad_link_is_a_404_page(api, token):
    response = await api.get(f"/c/{token}")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "This link is not valid" in response.text


async def test_a_link_signed_with_another_key_is_a_404_and_records_nothing(api):
    key = sent_message(api.engine, api.settings)
    response = await api.get(f"/c/{make_click_token(b'not the service key', key, 1)}")
    assert response.status_code == 404
    assert "not valid" in response.text
    assert clicked_at(api.engine, key) is None


async def test_a_link_to_a_cart_that_lost_its_url_is_a_404_page(api):
    key = sent_message(api.engine, api.settings)
    with Session(api.engine) as session:  # erased: the recovery URL is gone
        cart = session.get(Cart, key)
        cart.recovery_url = None
        session.add(cart)
        session.commit()
    response = await api.get(f"/c/{make_click_token(KEY, key, 1)}")
    assert response.status_code == 404
    assert "no longer available" in response.text


async def test_only_web_addresses_are_redirected_to(api):
    key = sent_message(api.engine, api.settings, recovery_url="javascript:alert(1)")
    response = await api.get(f"/c/{make_click_token(KEY, key, 1)}")
    assert response.status_code == 404
    assert "location" not in response.headers


async def test_a_valid_link_for_an_unknown_cart_is_a_404_page(api):
    response = await api.get(f"/c/{make_click_token(KEY, 'f' * 32, 1)}")
    assert response.status_code == 404
    assert "no longer available" in response.text
