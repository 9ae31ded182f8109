"""`cartrecovery simulate`: synthetic shoppers sending signed generic webhooks to a running service.

Each shopper opens a checkout (with a hidden hesitation that shows in their behaviour signals),
some keep editing, some buy straight away (completed, not a recovery), and the rest go quiet
and are left to the service; a share of those come back and order later, as real shoppers do.
Addresses use example.com; phone numbers are valid-looking New Jersey numbers, one per shopper,
so point CR_SMS_URL at a test gateway, never a real one, while simulating.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from dataclasses import dataclass

import httpx
from rich.console import Console
from rich.progress import Progress

from services.settings import Settings
from services.signatures import sign_generic

CATALOGUE = [
    ("Merino crew sweater", "Navy / M", "89.00"),
    ("Trail running shoes", "EU 42", "129.00"),
    ("Ceramic pour-over set", None, "45.50"),
    ("Waxed canvas backpack", "Olive", "149.00"),
    ("Linen bed sheets", "Queen", "119.00"),
    ("Espresso beans 1 kg", "Dark roast", "32.00"),
]
SIGNALS = {
    "shipping_cost": ["shipping_page_view", "shipping_page_view", "shipping_page_view"],
    "price": ["price_sort", "discount_filter", "coupon_attempt"],
    "indecision": ["add_remove", "comparison_view", "add_remove"],
    "technical": ["payment_failed", "slow_page"],
    "other": [],
}
NAMES = ["Ada", "Grace", "Alan", "Katherine", "Linus", "Margaret", "Dennis", "Barbara", None]


@dataclass
class Shopper:
    cart_id: str
    email: str | None
    phone: str | None
    first_name: str | None
    reason: str
    sms_consent: bool
    email_consent: bool
    total: str = "0"


def make_shopper(rng: random.Random, n: int) -> Shopper:
    has_phone = rng.random() < 0.5
    return Shopper(
        cart_id=f"sim-{uuid.UUID(int=rng.getrandbits(128)).hex[:16]}",
        email=f"shopper{n}@example.com" if rng.random() < 0.9 else None,
        phone=f"+1201{200 + n // 10_000:03d}{n % 10_000:04d}" if has_phone else None,  # one per shopper
        first_name=rng.choice(NAMES),
        reason=rng.choice(list(SIGNALS)),
        sms_consent=has_phone and rng.random() < 0.6,
        email_consent=rng.random() < 0.7,
    )


def cart_event(rng: random.Random, shopper: Shopper) -> dict:
    items = rng.sample(CATALOGUE, rng.randint(1, 3))
    lines = [{"title": t, "variant_title": v, "quantity": rng.randint(1, 2), "price": p} for t, v, p in items]
    total = sum(float(line["price"]) * line["quantity"] for line in lines)
    shopper.total = f"{total:.2f}"
    consents = []
    if shopper.email_consent and shopper.email:
        consents.append({"channel": "email", "state": "granted", "source": "simulator:checkbox"})
    if shopper.sms_consent:
        consents.append({"channel": "sms", "state": "granted", "source": "simulator:sms_checkbox"})
    return {
        "type": "cart",
        "cart_id": shopper.cart_id,
        "contact": {"email": shopper.email, "phone": shopper.phone, "first_name": shopper.first_name},
        "consents": consents,
        "currency": "USD",
        "total_value": f"{total:.2f}",
        "items": lines,
        "recovery_url": f"https://shop.example.com/checkouts/{shopper.cart_id}/recover",
        "stage": rng.choice(["checkout", "shipping", "payment"]),
    }


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


async def run_simulation(settings: Settings, url: str, carts: int, seed: int, shop: str, console: Console) -> str:
    rng = random.Random(seed)
    shoppers = [make_shopper(rng, n) for n in range(carts)]
    real_abandon_s = settings.abandon_after_minutes * 60 / settings.time_scale
    statuses: dict[int, int] = {}
    buy_now, come_back = [], []
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        sender = Sender(client, settings.webhook_secret, shop)
        with Progress(console=console) as progress:
            task = progress.add_task("checkouts", total=len(shoppers))
            for shopper in shoppers:
                code = await sender.send(cart_event(rng, shopper))
                statuses[code] = statuses.get(code, 0) + 1
                for kind in SIGNALS[shopper.reason]:
                    await sender.send({"type": "signal", "cart_id": shopper.cart_id, "kind": kind})
                roll = rng.random()
                (buy_now if roll < 0.15 else come_back if roll < 0.40 else []).append(shopper)
                progress.advance(task)
            task = progress.add_task("orders", total=len(buy_now) + len(come_back))
            for shopper in buy_now:  # before abandonment: completed, not recovered
                await sender.send(_order(shopper))
                progress.advance(task)
            # the others order only after their carts were abandoned (and, usually, messaged)
            await asyncio.sleep(min(real_abandon_s * 3, 120))
            for shopper in come_back:
                await sender.send(_order(shopper))
                progress.advance(task)
    accepted = statuses.get(200, 0)
    return (
        f"{accepted}/{carts} checkouts accepted (HTTP status counts: {statuses}); {len(buy_now)} bought at once, "
        f"{len(come_back)} came back later. Watch them with `cartrecovery status` or GET /v1/reports/recovery."
    )


def _order(shopper: Shopper) -> dict:
    return {
        "type": "order",
        "order_id": f"sim-order-{uuid.uuid4().hex[:12]}",
        "cart_id": shopper.cart_id,
        "contact": {"email": shopper.email},
        "currency": "USD",
        "total_value": shopper.total,
    }
