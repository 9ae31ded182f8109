"""The synthetic shop driven through the real service: webhooks in, messages out, orders back.

Shoppers come from channel_models.simulator.SyntheticShop. Each one's checkout and behaviour
signals are posted as signed generic webhooks; the service abandons, plans and delivers through
its real apprise URLs to the SMTP and HTTP sinks the caller runs; every delivered message is
handed to `ShopLoop.delivered`, which finds the shopper by recipient (e-mail address, phone,
push token, or the SHA-256 audience hash for retargeting), reads the incentive off the message
text (the configured codes), and asks the shop's ground truth whether and when that shopper
orders. Orders (and the organic ones the truth draws for every shopper, messaged or not) are
posted back as order webhooks at the right moment on the service clock.

Service time is real time x `time_scale`; a shopper's abandonment is taken as their last webhook
plus the service's `abandon_after` (what the workflow does).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from dataclasses import dataclass, field

import httpx

from services.core.signing import sign_generic


@dataclass
class Journey:
    shopper: object
    abandoned_real: float = 0.0  # real time.monotonic() of the abandonment
    order_real: float | None = None  # earliest scheduled order
    messages: list[tuple[str, str | None, float]] = field(default_factory=list)  # channel, incentive, hours


class ShopLoop:
    def __init__(
        self,
        shop,
        client: httpx.AsyncClient,
        *,
        shop_name: str,
        secret: str,
        time_scale: float,
        abandon_after_hours: float,
        incentive_codes: dict[str, str],
        horizon_hours: float = 120.0,
        seed: int = 0,
    ):
        self.shop, self.client, self.shop_name, self.secret = shop, client, shop_name, secret
        self.scale, self.abandon_after_hours = time_scale, abandon_after_hours
        self.codes = incentive_codes  # incentive -> code as it appears in messages
        self.horizon_hours = horizon_hours  # the attribution window: a later order changes no outcome
        self.rng = random.Random(seed)
        self.journeys: dict[str, Journey] = {}  # cart id -> journey
        self.by_recipient: dict[str, str] = {}  # e-mail / phone / token / audience hash -> cart id
        self.statuses: dict[int, int] = {}
        self.unmatched = 0
        self._orders: list[asyncio.Task] = []

    # --- time ---
    def hours_since_abandonment(self, journey: Journey, real: float | None = None) -> float:
        return ((real or time.monotonic()) - journey.abandoned_real) * self.scale / 3600

    def real_delay(self, service_hours: float) -> float:
        return service_hours * 3600 / self.scale

    # --- webhooks ---
    async def post(self, event: dict) -> int:
        body = json.dumps({"id": uuid.uuid4().hex, "shop": self.shop_name, "event": event}).encode()
        ts = str(int(time.time()))
        headers = {"X-Cartrecovery-Timestamp": ts, "X-Cartrecovery-Hmac-Sha256": sign_generic(self.secret, body, ts)}
        response = await self.client.post("/webhooks/generic", content=body, headers=headers)
        self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
        return response.status_code

    async def checkout(self, shopper) -> None:
        """Post one shopper's cart and signals, and draw their organic order, if any."""
        cart_id = shopper.cart_id
        journey = self.journeys[cart_id] = Journey(shopper)
        for key in shopper.recipients():
            self.by_recipient[key] = cart_id
        for event in self.shop.webhook_events(shopper):
            await self.post(event)
        journey.abandoned_real = time.monotonic() + self.real_delay(self.abandon_after_hours)
        organic = self.shop.organic_order_hours(shopper, self.rng)
        if organic is not None:
            self.schedule_order(journey, organic)

    def schedule_order(self, journey: Journey, hours_after_abandonment: float) -> None:
        if hours_after_abandonment > self.horizon_hours:
            return  # the journey has ended by then: not worth the wait
        at = journey.abandoned_real + self.real_delay(hours_after_abandonment)
        if journey.order_real is not None and journey.order_real <= at:
            return  # they already order earlier; a shopper buys a cart once
        journey.order_real = at
        self._orders.append(asyncio.ensure_future(self._order_at(journey, at)))

    async def _order_at(self, journey: Journey, at: float) -> None:
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        if journey.order_real != at:
            return  # superseded by an earlier order
        await self.post(self.shop.order_event(journey.shopper))

    # --- messages, as the sinks saw them ---
    def delivered(self, channel: str, recipient: str, text: str) -> None:
        cart_id = self.by_recipient.get(recipient.strip().lower())
        if cart_id is None:
            self.unmatched += 1
            return
        journey = self.journeys[cart_id]
        incentive = next((name for name, code in self.codes.items() if code and code in text), None)
        now = time.monotonic()
        hours = self.hours_since_abandonment(journey, now)
        previous = tuple(c for c, _, _ in journey.messages)
        journey.messages.append((channel, incentive, hours))
        if journey.order_real is not None and journey.order_real <= now:
            return  # already bought
        after = self.shop.order_after_message(
            journey.shopper, channel, incentive, hours, len(journey.messages), self.rng, previous_channels=previous
        )
        if after is not None:
            self.schedule_order(journey, hours + after)

    async def drain(self) -> None:
        """Wait until every scheduled order has been posted."""
        while self._orders:
            pending, self._orders = self._orders, []
            await asyncio.gather(*pending)
