"""CPU of a journey's steps in process: the worker's own cost per plan and per send, without Temporal.

    python bench/steps.py [--carts 400] [--rounds 3]

On a fresh SQLite file (the service's engine and pragmas) it stores `--carts` carts a round through the
webhook intake (a customer with e-mail, phone and consent, two earlier carts and an order each, so
the planner reads a real history), then times, each round on every cart, with `time.process_time`:

- baseline: the smallest transaction a step makes - a session, the cart by primary key, a commit;
- plan:     `PlanningActivities.plan` of touch 1 (context, rule prior, decision row);
- send:     `SendingActivities.send_touch` of that decision with the next touch planned in the
            same step (the folded step), delivering to a sink that accepts without a network call -
            the provider call's cost is apprise's and the provider's, not the worker's.

After a warm-up on a few carts, prints microseconds of CPU per call (median of rounds) and each step against the baseline. Not a
Temporal benchmark: bench/journeys.py measures the whole service; this one says where a step's
CPU goes, with far less noise than p99 lateness at the edge of the machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlmodel import Session  # noqa: E402
from temporalio.testing import ActivityEnvironment  # noqa: E402

from activities.planning import PlanningActivities  # noqa: E402
from activities.sending import SendingActivities  # noqa: E402
from services.core.events import CartEvent, ConsentChange, Contact, LineItem, OrderEvent  # noqa: E402
from services.core.settings import Settings  # noqa: E402
from services.ingest.intake import store_event  # noqa: E402
from services.messaging.delivery import Delivered  # noqa: E402
from services.store.carts import cart_key  # noqa: E402
from services.store.db import make_engine  # noqa: E402
from services.store.tables import Cart  # noqa: E402
from workflows.types import PlanRequest, SendRequest  # noqa: E402

SHOP = "steps-shop"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
HOUR = 3600.0
WARM_UP = 20  # carts


class AcceptingSink:
    """Takes every message at once: the provider call is not the worker's CPU."""

    def send(self, channel, recipient, message, headers=None, idempotency_key=None):
        return Delivered(provider="sink")


def settings(data_dir: Path) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'steps.db'}",
        email_url="mailto://localhost?to={to}",
        sms_url="json://localhost/sms",
        email_from="s@example.com",
        shop_address="1 Road",
        secret_key="k" * 32,
    )


def seed(engine, cfg: Settings, carts: int) -> list[str]:
    keys = []
    for i in range(carts):
        contact = Contact(customer_id=f"cust-{i}", email=f"shopper{i}@example.com", phone=f"+1 201 555 {i % 10000:04d}")
        consents = [ConsentChange(channel="sms", state="granted"), ConsentChange(channel="email", state="granted")]
        for n, days in enumerate((20, 5, 0)):  # two earlier carts (one ordered), then this one
            event = CartEvent(
                cart_id=f"c-{i}-{n}",
                contact=contact,
                consents=consents,
                total_value=Decimal("42.00"),
                items=[LineItem(title="Teapot", quantity=1, price=Decimal("42.00"))],
                recovery_url=f"https://shop.example/recover/{i}/{n}",
            )
            store_event(engine, cfg, SHOP, "generic", event, NOW - timedelta(days=days, hours=2))
        order = OrderEvent(
            order_id=f"o-{i}", cart_id=f"c-{i}-0", contact=contact, total_value=Decimal("30"), placed_at=NOW
        )
        store_event(engine, cfg, SHOP, "generic", order, NOW - timedelta(days=19))
        keys.append(cart_key(SHOP, f"c-{i}-2"))
    return keys


def plan_request(key: str, touch: int, now: float) -> PlanRequest:
    abandoned = NOW.timestamp() - HOUR
    return PlanRequest(key, touch, 3, now, abandoned, abandoned + 120 * HOUR)


def cpu_per_call(calls) -> float:
    started = time.process_time()
    for call in calls:
        call()
    return (time.process_time() - started) / len(calls) * 1e6


def one_round(engine, planning, sending, keys: list[str], statuses: Counter[str]) -> dict[str, float]:
    """CPU per call of each step on each of these carts; counts the sends' statuses."""
    now = NOW.timestamp()
    plans: dict[str, int] = {}

    def baseline(key: str) -> None:
        with Session(engine) as session:
            session.get(Cart, key)
            session.commit()

    def plan(key: str) -> None:
        plans[key] = planning.plan(plan_request(key, 1, now)).decision_id

    def send(key: str) -> None:
        request = SendRequest(key, plans[key], 1, f"steps/{key}/1", now, then_plan=plan_request(key, 2, now))
        result = ActivityEnvironment().run(sending.send_touch, request)
        statuses[result.status if result.next_plan is None else f"{result.status}, next planned"] += 1

    return {
        name: cpu_per_call([lambda k=k, step=step: step(k) for k in keys])
        for name, step in (("baseline", baseline), ("plan", plan), ("send", send))
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--carts", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = settings(Path(tmp))
        engine = make_engine(cfg.database_url)
        keys = seed(engine, cfg, args.carts * args.rounds + WARM_UP)  # each round its own shoppers: no caps hit
        planning = PlanningActivities(engine, cfg)
        sending = SendingActivities(engine, cfg, delivery=AcceptingSink(), planning=planning)

        figures: dict[str, list[float]] = {"baseline": [], "plan": [], "send": []}
        statuses: Counter[str] = Counter()
        one_round(engine, planning, sending, keys[:WARM_UP], statuses)  # imports, templates seeded, caches
        statuses.clear()
        for r in range(args.rounds):
            mine = keys[WARM_UP + r * args.carts : WARM_UP + (r + 1) * args.carts]
            for name, value in one_round(engine, planning, sending, mine, statuses).items():
                figures[name].append(value)
        base = statistics.median(figures["baseline"])
        print(f"{args.carts} carts a round, {args.rounds} rounds; CPU per call (median of rounds):")
        for name, values in figures.items():
            value = statistics.median(values)
            print(f"  {name:<9} {value:8.0f} us   {value / base:5.1f}x baseline")
        print("  sends: " + ", ".join(f"{n} {status}" for status, n in statuses.most_common()))


if __name__ == "__main__":
    main()
