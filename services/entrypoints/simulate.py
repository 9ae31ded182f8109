"""`cartrecovery simulate`: synthetic shoppers sending signed generic webhooks to a running service.

The shoppers come from channel_models.simulator.SyntheticShop, whose docstring documents who they
are and why they hesitate (the hesitation shows in their behaviour signals). Each one opens a
checkout, posted with the signals that follow it (a customer who ordered before the simulation
began has those orders posted first); 15 % buy straight away (completed, not a recovery), the
rest go quiet and are left to the service. Those the shop's truth brings back on their own order
later: at their organic time on the service clock, but within two minutes of real time, so the
command ends. Messages the service sends are not answered here; bench/shop_loop.py closes that
loop. Addresses use example.com; phone numbers are valid-looking New Jersey numbers, one per
customer, so point CR_SMS_URL at a test gateway, never a real one, while simulating.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid

import httpx
from rich.console import Console
from rich.progress import Progress

from channel_models.simulator import Shopper, SyntheticShop
from services.core.settings import Settings
from services.core.signing import sign_generic

BUY_AT_ONCE = 0.15
MAX_ORDER_WAIT_S = 120.0


class Sender:
    def __init__(self, client: httpx.AsyncClient, secret: str, shop: str):
        self._client, self._secret, self._shop = client, secret, shop

    async def send(self, event: dict) -> int:
        body = json.dumps({"id": uuid.uuid4().hex, "shop": self._shop, "event": event}).encode()
        ts = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Cartrecovery-Timestamp": ts,
            "X-Cartrecovery-Hmac-Sha256": sign_generic(self._secret, body, ts),
        }
        response = await self._client.post("/webhooks/generic", content=body, headers=headers)
        return response.status_code


def order_delays(settings: Settings, returners: list[tuple[float, Shopper]]) -> list[tuple[float, Shopper]]:
    """(real seconds after the checkouts, shopper) for each organic returner, earliest first.

    Never before three abandonment delays (the cart must be abandoned, or the order is a plain
    checkout) and never after two minutes, whatever the time scale."""
    real_abandon_s = settings.abandon_after_minutes * 60 / settings.time_scale
    floor = min(real_abandon_s * 3, MAX_ORDER_WAIT_S)
    ceiling = max(floor, MAX_ORDER_WAIT_S)
    delays = [
        (min(ceiling, max(floor, real_abandon_s + hours * 3600 / settings.time_scale)), shopper)
        for hours, shopper in returners
    ]
    return sorted(delays, key=lambda pair: pair[0])


async def run_simulation(
    settings: Settings,
    url: str,
    carts: int,
    seed: int,
    shop: str,
    console: Console,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> str:
    synthetic = SyntheticShop(seed=seed)
    # Every checkout is posted now: a customer returning within one run would supersede their own
    # open cart, so the returning customers here are those with orders from before the run.
    shoppers = synthetic.shoppers(carts, returning_share=0.0)
    rng = random.Random(seed)
    statuses: dict[int, int] = {}
    buy_now: list[Shopper] = []
    come_back: list[tuple[float, Shopper]] = []
    async with httpx.AsyncClient(base_url=url, timeout=30, transport=transport) as client:
        sender = Sender(client, settings.webhook_secret, shop)
        with Progress(console=console) as progress:
            task = progress.add_task("checkouts", total=len(shoppers))
            for shopper in shoppers:
                for event in synthetic.history_events(shopper):
                    await sender.send(event)
                cart, *signals = synthetic.webhook_events(shopper)
                code = await sender.send(cart)
                statuses[code] = statuses.get(code, 0) + 1
                for event in signals:
                    await sender.send(event)
                if rng.random() < BUY_AT_ONCE:
                    buy_now.append(shopper)
                elif (hours := synthetic.organic_order_hours(shopper, rng)) is not None:
                    if hours <= settings.attribution_window_hours:
                        come_back.append((hours, shopper))
                progress.advance(task)
            task = progress.add_task("orders", total=len(buy_now) + len(come_back))
            for shopper in buy_now:  # before abandonment: completed, not recovered
                await sender.send(synthetic.order_event(shopper))
                progress.advance(task)
            # the others order only after their carts were abandoned (and, usually, messaged)
            started = time.monotonic()
            for delay, shopper in order_delays(settings, come_back):
                await asyncio.sleep(max(0.0, started + delay - time.monotonic()))
                await sender.send(synthetic.order_event(shopper))
                progress.advance(task)
    accepted = statuses.get(200, 0)
    return (
        f"{accepted}/{carts} checkouts accepted (HTTP status counts: {statuses}); {len(buy_now)} bought at once, "
        f"{len(come_back)} came back later. Watch them with `cartrecovery status` or GET /v1/reports/recovery."
    )
