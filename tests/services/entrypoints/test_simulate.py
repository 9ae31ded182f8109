"""`cartrecovery simulate` posts the synthetic shop's shoppers as signed generic webhooks."""

from __future__ import annotations

import json

import httpx
from rich.console import Console

from channel_models.simulator import SyntheticShop
from services.core.events import GenericWebhook
from services.core.settings import Settings
from services.core.signing import generic_signature_valid
from services.entrypoints.simulate import MAX_ORDER_WAIT_S, order_delays, run_simulation

SECRET = "generic-secret"


def settings(tmp_path, **overrides) -> Settings:
    values = dict(_env_file=None, data_dir=tmp_path, webhook_secret=SECRET)
    return Settings(**(values | overrides))


async def test_posts_signed_checkouts_signals_and_orders_from_the_synthetic_shop(tmp_path):
    posted: list[dict] = []

    def receive(request: httpx.Request) -> httpx.Response:
        headers = request.headers
        assert request.url.path == "/webhooks/generic"
        assert generic_signature_valid(
            SECRET, request.content, headers["X-Cartrecovery-Hmac-Sha256"], headers["X-Cartrecovery-Timestamp"]
        )
        body = json.loads(request.content)
        GenericWebhook.model_validate(body)
        posted.append(body["event"])
        return httpx.Response(200, json={"ok": True})

    # a service hour passes in 3.6 ms of real time: organic returners order within the test
    fast = settings(tmp_path, abandon_after_minutes=1, time_scale=1_000_000)
    summary = await run_simulation(
        fast, "http://svc", 80, 4, "sim-shop", Console(quiet=True), transport=httpx.MockTransport(receive)
    )
    shoppers = SyntheticShop(seed=4).shoppers(80, returning_share=0.0)
    carts = [e for e in posted if e["type"] == "cart"]
    assert [e["cart_id"] for e in carts] == [s.cart_id for s in shoppers]
    assert summary.startswith("80/80 checkouts accepted")
    signals = [e for e in posted if e["type"] == "signal"]
    assert len(signals) == sum(len(s.signals) for s in shoppers)
    orders = [e for e in posted if e["type"] == "order"]
    past = [e for e in orders if e["order_id"].startswith("sim-past-")]
    assert len(past) == sum(len(s.customer.prior_orders) for s in shoppers) > 0
    assert all(posted.index(e) < posted.index(carts[-1]) for e in past)  # history comes first
    bought = [e for e in orders if not e["order_id"].startswith("sim-past-")]
    assert len({e["cart_id"] for e in bought}) == len(bought)  # one order per cart at most
    assert all(posted.index(e) > posted.index(carts[-1]) for e in bought)  # after every checkout
    at_once, later = (int(word) for word in summary.split("; ")[1].split() if word.isdigit())
    assert at_once + later == len(bought)
    assert 0 < at_once < 30
    assert later > 0


def test_organic_orders_wait_for_abandonment_but_never_past_two_minutes(tmp_path):
    shopper = SyntheticShop(seed=1).shoppers(1)[0]
    real_time = settings(tmp_path, abandon_after_minutes=1, time_scale=1)
    delays = order_delays(real_time, [(30.0, shopper), (0.001, shopper)])
    assert [d for d, _ in delays] == [MAX_ORDER_WAIT_S] * 2  # three abandonment delays is more
    scaled = settings(tmp_path, abandon_after_minutes=30, time_scale=3600)  # an hour a second
    delays = order_delays(scaled, [(20.0, shopper), (1.0, shopper), (500.0, shopper)])
    assert [round(d, 3) for d, _ in delays] == [1.5, 20.5, MAX_ORDER_WAIT_S]
