"""The fixed rows the report tests compute by hand: carts with their decisions, messages and
outcomes, inserted the way the journey's activities record them (including the cart's report
reason and bucket: the attributed touch's decision, else the first decision)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from services.reports import recovery_report
from services.store.tables import Cart, Decision, Message, Outcome

SHOP, OTHER = "shop-a", "shop-b"
SINCE = datetime(2024, 5, 1, tzinfo=UTC)
UNTIL = datetime(2024, 6, 1, tzinfo=UTC)
DAY1 = SINCE + timedelta(days=3)  # 2024-05-04 00:00 UTC
DAY2 = datetime(2024, 5, 10, 23, 30, tzinfo=UTC)  # late in the UTC day: still 2024-05-10
Z = 1.959964
HOUR = 3600


class Rows:
    def __init__(self, session: Session):
        self.session = session

    def cart(
        self,
        cart_id,
        *,
        shop=SHOP,
        abandoned=DAY1,
        holdout=False,
        currency="USD",
        platform="generic",
        sent=(),
        failed=(),
        plans=(),
        templates=(),
        outcome=None,
        value="0.00",
        touch=None,
        ttr=None,
        status=None,
        incentives=(),
    ) -> None:
        """`sent`/`failed`: channels of the touches, in order; `plans`: (reason, bucket) of each
        touch's decision (default other / Moderate); `templates`: of the sent touches. `outcome`:
        recovered / not_recovered / None (journey still running); `touch`: the attributed touch;
        `ttr`: seconds from abandonment to the order; `incentives`: of each touch's decision."""
        created = (abandoned or SINCE) - timedelta(hours=1)
        touches = [(c, "sent") for c in sent] + [(c, "failed") for c in failed]
        plans = list(plans) + [("other", "Moderate")] * (len(touches) - len(plans))
        decided = plans[touch - 1] if touch else plans[0] if plans else (None, None)
        self.session.add(
            Cart(
                id=cart_id,
                shop=shop,
                token=f"tok-{cart_id}",
                platform=platform,
                currency=currency,
                value_cents=cents(value),
                created_at=created,
                updated_at=created,
                abandoned_at=abandoned,
                holdout=holdout,
                status=status or outcome or "open",
                reason=decided[0],
                bucket=decided[1],
            )
        )
        self.session.flush()
        for number, ((channel, status_), (reason, bucket)) in enumerate(zip(touches, plans), start=1):
            decision = Decision(
                cart_id=cart_id,
                touch=number,
                decided_at=created,
                policy="rules-v1",
                channel=channel,
                reason=reason,
                reason_confidence=0.5,
                propensity=0.5,
                bucket=bucket,
                incentive=incentives[number - 1] if number <= len(incentives) else None,
            )
            self.session.add(decision)
            self.session.flush()
            self.session.add(
                Message(
                    idempotency_key=f"recovery/{shop}/{cart_id}/{number}",
                    cart_id=cart_id,
                    decision_id=decision.id,
                    touch=number,
                    channel=channel,
                    status=status_,
                    created_at=created,
                    sent_at=created if status_ == "sent" else None,
                    template=templates[number - 1] if status_ == "sent" and number <= len(templates) else None,
                )
            )
        if outcome is not None:
            self.session.add(
                Outcome(
                    cart_id=cart_id,
                    status=outcome,
                    holdout=bool(holdout),
                    value_cents=cents(value) if outcome == "recovered" else 0,
                    order_id=f"o-{cart_id}" if outcome == "recovered" else None,
                    attributed_touch=touch,
                    attributed_channel=touches[touch - 1][0] if touch else None,
                    attributed_incentive=incentives[touch - 1] if touch and touch <= len(incentives) else None,
                    touches_sent=len(sent),
                    time_to_recovery_s=ttr,
                    recorded_at=created,
                )
            )


def cents(value: str) -> int:
    units, _, frac = value.partition(".")
    return int(units) * 100 + int((frac + "00")[:2])


def insert(engine, build) -> None:
    with Session(engine) as session:
        build(Rows(session))
        session.commit()


def report(engine, **filters) -> dict:
    with Session(engine) as session:
        return recovery_report(session, **filters)


def fixture_rows(rows: Rows) -> None:
    shopify = {"platform": "shopify"}
    # shop-a, abandoned in May 2024 - 20 treated carts:
    rows.cart(
        "t00",
        sent=["email"],
        outcome="recovered",
        touch=1,
        value="49.99",
        ttr=1 * HOUR,
        plans=[("shipping_cost", "Low")],
        templates=["email/shipping_cost@v2/A"],
    )
    rows.cart(
        "t01",
        sent=["email", "email"],
        outcome="recovered",
        touch=2,
        value="80.00",
        ttr=2 * HOUR,
        **shopify,
        plans=[("indecision", "Low"), ("price", "High")],
        templates=["email/indecision", "email/price@v3/B"],
    )
    rows.cart(
        "t02",
        sent=["sms", "email"],
        outcome="recovered",
        touch=2,
        value="120.50",
        ttr=10 * HOUR,
        plans=[("technical", "High"), ("price", "Very high")],
        templates=["sms/technical", "email/price@v3/A"],
    )
    rows.cart(
        "t03",
        sent=["email"],
        outcome="recovered",
        touch=1,
        value="30.26",
        ttr=HOUR // 2,
        **shopify,
        plans=[("price", "High")],
        templates=["email/price@v3/A"],
    )
    rows.cart(
        "t04",
        sent=["email", "sms"],
        outcome="recovered",
        touch=2,
        value="40.25",
        ttr=24 * HOUR,
        plans=[("price", "Moderate"), ("shipping_cost", "Moderate")],
        templates=["email/price@v3/B", "sms/shipping_cost/fr@v1/A"],
    )
    rows.cart(
        "t05", outcome="recovered", value="99.00", ttr=600
    )  # ordered before any touch: not attributed, not planned
    for i in range(6, 16):  # t06..t15: one e-mail each, no order; t06-t09 on day 1, t10-t15 on day 2
        reason = "indecision" if i <= 10 else "other"
        rows.cart(
            f"t{i:02}",
            sent=["email"],
            outcome="not_recovered",
            value="25.00",
            plans=[(reason, "Moderate")],
            templates=[f"email/{reason}"],
            abandoned=DAY1 if i < 10 else DAY2,
            **(shopify if i in (6, 7) else {}),
        )
    rows.cart(
        "t16",
        sent=["sms"],
        outcome="not_recovered",
        plans=[("price", "Very low")],
        templates=["sms/price"],
        abandoned=DAY2,
        **shopify,
    )
    rows.cart(
        "t17",
        sent=["sms"],
        outcome="not_recovered",
        plans=[("price", "Very low")],
        templates=["sms/price"],
        abandoned=DAY2,
    )
    rows.cart(
        "t18", failed=["email"], outcome="not_recovered", plans=[("technical", "Moderate")], abandoned=DAY2
    )  # a failed send is not a message sent
    rows.cart(
        "t19", holdout=None, outcome=None, abandoned=DAY2
    )  # split not recorded yet, journey still running: treated
    # 10 holdout carts, 2 recovered on their own; h00-h04 on day 1 (h00, h02-h04 on Shopify), h05-h09 on day 2
    rows.cart("h00", holdout=True, outcome="recovered", value="60.00", ttr=20000, **shopify)
    rows.cart("h01", holdout=True, outcome="recovered", value="70.00")
    for i in range(2, 9):
        rows.cart(
            f"h{i:02}",
            holdout=True,
            outcome="not_recovered",
            abandoned=DAY1 if i < 5 else DAY2,
            **(shopify if i < 5 else {}),
        )
    rows.cart("h09", holdout=True, outcome=None, abandoned=DAY2)

    # outside the period: just before it, exactly at its (exclusive) end, never abandoned
    rows.cart(
        "early",
        abandoned=SINCE - timedelta(seconds=1),
        sent=["email"],
        outcome="recovered",
        touch=1,
        value="10.00",
        ttr=1.5 * HOUR,
    )
    rows.cart("late", abandoned=UNTIL, sent=["sms"], outcome="recovered", touch=1, value="20.00", currency="EUR")
    rows.cart("bought", abandoned=None, status="completed", value="500.00")
    # another shop, inside the period
    rows.cart("b00", shop=OTHER, sent=["email", "push"], outcome="recovered", touch=2, value="100.00", currency="GBP")
    rows.cart("b01", shop=OTHER, holdout=True, outcome="not_recovered")
