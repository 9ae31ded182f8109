"""Drawing the synthetic shop's customers and their abandoned carts (see channel_models/simulator/__init__.py).

A ``Customer`` persists across carts (contacts, consents, device habit and hidden tastes), a
``Shopper`` is one abandoned cart of a customer with what the service sees (items, stage, device,
source, behaviour signals) and the hidden cause. Fictional contact data only: example.com
addresses and +1 201 numbers, unique per customer within a seed.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from channel_models.simulator.truth import Truth
from channel_models.simulator.world import (
    BACKGROUND,
    CATALOGUE,
    DEVICE_SHARES,
    HIGH_INTENT_BY_STAGE,
    NAMES,
    PLACES,
    SIGNAL_RATES,
    SOURCE_SHARES,
    STAGE_BY_REASON,
)
from channel_models.vocabulary import CHANNELS

TECHNICAL_PAYMENT_FAILED, OTHER_PAYMENT_FAILED = 0.7, 0.03  # at the payment step


@dataclass(frozen=True, eq=False)
class Customer:
    index: int
    key: str  # "<seed>-<index>": unique across seeds, for derived ids
    customer_id: str | None  # the platform's account id; None for guests
    email: str | None
    phone: str | None
    push_token: str | None
    audience_id: str | None
    first_name: str | None
    consents: Mapping[str, str]  # channel -> "granted" / "revoked"; absent = never asked
    usual_device: str
    app_user: bool
    country: str
    province: str | None
    timezone: str
    prior_orders: tuple[tuple[datetime, float], ...]  # before the simulation: (placed_at, value)
    # hidden
    responsiveness: float
    channel_taste: Mapping[str, float]
    habit_reason: str
    organic_taste: float

    @property
    def known(self) -> bool:
        """Whether the service could recognise this customer on a later cart."""
        return bool(self.customer_id or self.email or self.phone)


@dataclass(frozen=True, eq=False)
class Shopper:
    number: int  # position in the shop's stream
    visit: int  # this customer's earlier carts in the stream
    cart_id: str
    customer: Customer
    created_at: datetime
    abandoned_at: datetime
    items: tuple[tuple[str, str | None, int, float], ...]  # title, variant, quantity, unit price
    value: float
    stage: str
    device: str
    source: str | None
    signals: tuple[str, ...]  # behaviour signal kinds, in the order they happened
    # hidden
    reason: str
    high_intent: bool
    organic_probability: float
    answers_survey: bool
    survey_delay_hours: float
    signal_counts: Mapping[str, int] = field(default_factory=dict)
    item_count: int = 0  # units across the items

    def recipients(self) -> list[str]:
        """Every address a message to this shopper could carry, lower-cased; retargeting as the
        SHA-256 audience hash of each identifier (what the retargeting channel sends)."""
        c = self.customer
        direct = [v.strip().lower() for v in (c.email, c.phone, c.push_token, c.audience_id) if v]
        hashed = [hashlib.sha256(v.encode()).hexdigest() for v in direct if v != (c.push_token or "").lower()]
        return direct + hashed


_CUMULATIVE: dict[int, tuple[Mapping, list, list[float]]] = {}


def _pick(rng: random.Random, shares: Mapping) -> object:
    # share tables live as long as their module or world: cumulative weights are computed once
    # per table (kept with the table itself, so its id cannot be reused by another meanwhile)
    table = _CUMULATIVE.get(id(shares))
    if table is None or table[0] is not shares:
        total, cumulative = 0.0, []
        for weight in shares.values():
            total += weight
            cumulative.append(total)
        table = _CUMULATIVE[id(shares)] = (shares, list(shares), cumulative)
    return rng.choices(table[1], cum_weights=table[2])[0]


def _poisson(rng: random.Random, mean: float) -> int:
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k, p = k + 1, p * rng.random()
    return k


def _hidden_lognormal(rng: random.Random, sigma: float) -> float:
    return math.exp(rng.gauss(-sigma * sigma / 2, sigma))  # mean 1


class ShopperStream:
    """Draws shoppers in arrival order; returning customers come back after ``min_return_gap``."""

    # carts per hour relative to the mean, by New York hour (most customers are in the US)
    HOURLY = (0.25,) * 7 + (1.0,) * 5 + (1.1,) * 7 + (1.3,) * 4 + (0.6,)

    def __init__(
        self,
        seed: int,
        *,
        start: datetime,
        gap_hours: float,
        returning_share: float,
        prior_customer_share: float,
        min_return_gap: timedelta,
        survey_share: float,
        truth: Truth,
    ):
        self.rng = random.Random(f"synthetic-shop:{seed}")
        self.truth = truth
        self.seed, self.t, self.gap_hours = seed, start, gap_hours
        self.returning_share, self.prior_share = returning_share, prior_customer_share
        self.min_return_gap, self.survey_share = min_return_gap, survey_share
        self.resting: list[tuple[datetime, int, Customer]] = []  # heap: back from when
        self.ready: list[Customer] = []
        self.customers = 0
        self.shoppers = 0
        self.visits: dict[int, int] = {}  # customer index -> carts so far
        self._mean_rate = sum(self.HOURLY) / 24

    def __iter__(self) -> Iterator[Shopper]:
        while True:
            yield self.next()

    def _arrival(self) -> datetime:
        # thinning of a Poisson process whose rate follows HOURLY, mean gap ``gap_hours``
        top = max(self.HOURLY)
        while True:
            self.t += timedelta(hours=self.rng.expovariate(top / (self.gap_hours * self._mean_rate)))
            hour = (self.t - timedelta(hours=5)).hour  # New York, daylight saving ignored
            if self.rng.random() < self.HOURLY[hour] / top:
                return self.t

    def next(self) -> Shopper:
        at = self._arrival()
        while self.resting and self.resting[0][0] <= at:
            self.ready.append(heapq.heappop(self.resting)[2])
        if self.ready and self.rng.random() < self.returning_share:
            j = self.rng.randrange(len(self.ready))
            self.ready[j], self.ready[-1] = self.ready[-1], self.ready[j]
            customer = self.ready.pop()
        else:
            customer = self._customer(at)
        shopper = self._shopper(customer, at)
        if customer.known:
            back = at + self.min_return_gap + timedelta(days=self.rng.expovariate(1 / 10))
            heapq.heappush(self.resting, (back, customer.index, customer))
        return shopper

    def _customer(self, at: datetime) -> Customer:
        rng, n = self.rng, self.customers
        self.customers += 1
        device = _pick(rng, DEVICE_SHARES)
        country, province, zone, _ = rng.choices(PLACES, weights=[p[3] for p in PLACES])[0]
        email = f"shopper{self.seed}-{n}@example.com" if rng.random() < 0.92 else None
        phone_share = {"mobile": 0.65, "tablet": 0.45, "desktop": 0.35}[device]
        phone = None
        if country == "US" and rng.random() < phone_share:
            exchange = 200 + (self.seed % 80) * 10 + (n // 10_000) % 10
            phone = f"+1201{exchange:03d}{n % 10_000:04d}"
        app_user = device != "desktop" and rng.random() < 0.35
        audience = f"sim-aud-{self.seed}-{n}" if rng.random() < 0.4 else None
        consents: dict[str, str] = {}
        roll = rng.random()
        if email and roll < 0.04:
            consents["email"] = "revoked"
        elif email and roll < 0.59:
            consents["email"] = "granted"
        if phone and rng.random() < 0.6:
            consents["sms"] = "granted"
        if app_user and rng.random() < 0.75:
            consents["push"] = "granted"
        if rng.random() < 0.45:
            consents["retargeting"] = "granted"
        prior: list[tuple[datetime, float]] = []
        if rng.random() < self.prior_share:
            when = at
            for _ in range(1 + min(7, int(rng.expovariate(1 / 1.5)))):
                when -= timedelta(days=rng.expovariate(1 / 30))
                prior.append((when, round(rng.lognormvariate(math.log(70), 0.5), 2)))
        return Customer(
            index=n,
            key=f"{self.seed}-{n}",
            customer_id=f"sim-cust-{self.seed}-{n}" if rng.random() < 0.7 else None,
            email=email,
            phone=phone,
            push_token=f"sim-push-{self.seed}-{n}" if app_user else None,
            audience_id=audience,
            first_name=rng.choice(NAMES),
            consents=consents,
            usual_device=device,
            app_user=app_user,
            country=country,
            province=province,
            timezone=zone,
            prior_orders=tuple(sorted(prior)),
            responsiveness=_hidden_lognormal(rng, 0.4),
            channel_taste={c: _hidden_lognormal(rng, 0.25) for c in CHANNELS},
            habit_reason=_pick(rng, self.truth.reason_shares),
            organic_taste=rng.gauss(0.0, 0.4),
        )

    def _shopper(self, customer: Customer, at: datetime) -> Shopper:
        rng, n = self.rng, self.shoppers
        self.shoppers += 1
        reason = customer.habit_reason if rng.random() < 0.5 else _pick(rng, self.truth.reason_shares)
        stage = _pick(rng, STAGE_BY_REASON[reason])
        device = customer.usual_device if rng.random() < 0.85 else _pick(rng, DEVICE_SHARES)
        visit = self.visits.get(customer.index, 0)
        self.visits[customer.index] = visit + 1
        # a customer is a regular once they had an order or an earlier cart here
        returning = bool(customer.prior_orders) or visit > 0
        high_intent = reason not in ("technical", "indecision") and rng.random() < (
            HIGH_INTENT_BY_STAGE[stage] + 0.1 * returning
        )
        lines = rng.sample(CATALOGUE, rng.choices((1, 2, 3, 4), weights=(45, 30, 15, 10))[0])
        items = tuple((title, variant, rng.choice((1, 1, 1, 2)), price) for title, variant, price in lines)
        value = round(sum(q * p for _, _, q, p in items), 2)
        rates = dict(BACKGROUND)
        for kind, mean in SIGNAL_RATES[reason].items():
            rates[kind] = rates.get(kind, 0.0) + mean
        signals = [kind for kind, mean in rates.items() for _ in range(_poisson(rng, mean))]
        if stage == "payment":
            fail = TECHNICAL_PAYMENT_FAILED if reason == "technical" else OTHER_PAYMENT_FAILED
            signals += ["payment_failed"] * (rng.random() < fail)
        rng.shuffle(signals)
        counts: dict[str, int] = {}
        for kind in signals:
            counts[kind] = counts.get(kind, 0) + 1
        organic = self.truth.organic_probability(stage, reason, value, returning, high_intent, customer.organic_taste)
        return Shopper(
            number=n,
            visit=visit,
            cart_id=f"sim-{self.seed}-{_token(rng)}",
            customer=customer,
            created_at=at - timedelta(minutes=rng.uniform(5, 60)),
            abandoned_at=at,
            items=items,
            value=value,
            stage=stage,
            device=device,
            source=_pick(rng, SOURCE_SHARES),
            signals=tuple(signals),
            reason=reason,
            high_intent=high_intent,
            organic_probability=organic,
            answers_survey=rng.random() < self.survey_share,
            survey_delay_hours=rng.uniform(0.5, 48.0),
            signal_counts=counts,
            item_count=sum(q for _, _, q, _ in items),
        )


def _token(rng: random.Random) -> str:
    return f"{rng.getrandbits(64):016x}"
