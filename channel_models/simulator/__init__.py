"""A synthetic shop with documented ground truth, and an in-process journey runner over it.

``SyntheticShop(seed)`` draws abandoned carts; ``run_journeys(shop, planner, n)`` runs them through
the recovery workflow's loop with any planner; ``oracle_policy(shop)`` reads the truth (the
ceiling); ``cartrecovery simulate`` and the closed-loop bench post the same shoppers as webhooks
(``webhook_events``) and ask the truth how each one answers a message (``order_after_message``).

Ground truth (numbers in channel_models/simulator/truth.py, shop.py and world.py; keep them in step)
----------------------------------------------------------------------------------------
Observable - what the service sees:

* Customers persist across carts: a recognisable customer (any contact or account) is due back
  7 days + Exp(10 days) after a cart (longer than the attribution window, so one customer's
  journeys never overlap), and each new cart comes from a due customer with probability 30 %.
  30 % of new customers ordered before the simulation (1-8 orders about Exp(30 days) apart,
  log-normal values around 70; ``history_events`` posts them). 70 % have a platform customer id.
  "Returning" below means an earlier order or cart.
* Contacts: e-mail 92 % (``shopper<seed>-<n>@example.com``); phone for US customers only
  (mobile 65 %, tablet 45 %, desktop 35 %; fictional ``+1 201`` numbers); app users (35 % of
  mobile / tablet customers) have a push token; 40 % an audience id. Consents: e-mail granted
  55 %, revoked 4 %, else never asked; SMS granted by 60 % of those with a phone; push by 75 %
  of app users; ads (retargeting) by 45 %.
* Device 55 % mobile / 35 % desktop / 10 % tablet (the usual one on 85 % of carts); places:
  US 88 % (NY, FL, IL, TX, CO, CA with their zones), GB 6 %, FR 6 %; traffic source google,
  direct, facebook, instagram, newsletter, google-ads cpc or unknown. Carts of 1-4 items from a
  12-product catalogue (24-229 each). Arrivals follow a New York day (quiet at night).
* Stage and behaviour signals depend on the hidden reason (below), with noise for everyone:
  Poisson means product_view 2, shipping_page_view 0.3, price_sort 0.15, add_remove 0.2,
  slow_page 0.1, comparison_view 0.1.

Hidden per cart:

* Reason (half the time the customer's habitual one): shipping_cost 22 %, price 22 %,
  indecision 20 %, technical 12 %, other 24 %. Evidence on top of the noise: shipping_cost
  shipping_page_view +1.8, mostly at the shipping step; price price_sort +0.8, discount_filter
  +0.6, coupon_attempt +0.5; indecision add_remove +1.0, comparison_view +0.8, product_view +4;
  technical slow_page +1.2 and, at the payment step (60 % of them), payment_failed 70 % (3 % for
  other reasons there). ~10 % of shoppers answer the survey with their true reason.
* High intent (not for technical / indecision): cart 10 %, checkout 20 %, shipping 30 %,
  payment 50 %, +10 points for a returning customer.
* Response to one message = min(0.9, affinity x reason x incentive x timing x fatigue):
  - affinity by this cart's device (x the customer's hidden responsiveness, log-normal mean 1,
    sigma 0.4, and a per-channel taste, sigma 0.25):

        device    email  sms   push  retargeting
        mobile    0.05   0.26  0.22  0.04
        tablet    0.09   0.14  0.18  0.05
        desktop   0.14   0.08  0.10  0.06      (push only reaches app users)

  - reason: shipping_cost 0.6, price 0.6, indecision 1.0, technical 1.3, other 0.8;
  - incentive: shipping_cost free_shipping x3.0, discount x2.0; price discount x3.0,
    free_shipping x1.4; any other reason x1.1 for either;
  - timing, t = hours from abandonment to the send: technical 0.5^(t/1.5); high intent
    0.5^(t/4); indecision ripens, 0.25 + 0.75 t/24 up to 24 h, then 0.5^((t-24)/48); everyone
    else 0.5^(t/36);
  - fatigue 0.65 per earlier touch of the cart, x0.75 more when the channel was already used.
  A responder orders Exp(mean) hours after the message: sms 0.5, push 0.75, email 3,
  retargeting 12; they click just before. Non-buyers click with probability min(0.5, 1.5 p).
* Organic (no message) return: p = logistic(-2.1 + stage {cart 0, checkout 0.2, shipping 0.4,
  payment 0.6} + reason {shipping_cost -0.2, price -0.3, indecision +0.2, technical -0.6,
  other 0} - 0.25 ln(1 + value/100) + 0.5 returning + 0.6 high intent + customer taste
  N(0, 0.4)), at a log-normal time (median 20 h, sigma 1.1) after abandonment. Organic and
  message-driven orders race; the earliest one is the order. About 14 % of carts come back
  within a 120 h window without any message (the holdout rate).
* Incentive cost: a discount gives away ``discount_percent`` (10 %) of the cart, free shipping
  costs ``shipping_fee`` (7.00); the order uses the most valuable code it was sent before it.

The default world above is ``Truth()``. ``SyntheticShop(seed, truth=draw_truth(k))`` runs the same
shoppers' observable world under other hidden rules, drawn per world: each channel's mean
affinity (e-mail 0.03-0.12, SMS 0.04-0.22, push 0.04-0.20, retargeting 0.01-0.06) and, per device,
a log-normal spread around it (sigma 0.5, at most 0.3), so the best channel for a device changes
from world to world; reason responses 0.5-1.4; the incentive that answers shipping_cost (free
shipping) or price (discount) x1.0-3.5, the other one x1.0-2.0, either for any other reason
x1.0-1.3; content written for the true reason (the template of the decision's inferred reason)
x1.0-1.6 (the default world: x1.0, content does not matter); half-lives technical 0.75-3 h, high
intent 2-8 h, everyone else 12-72 h; indecision ripe at 6-36 h; fatigue 0.5-0.85; repeat channel
0.6-1.0; response lags x0.5-2; organic intercept -2.8 .. -1.5 and median 10-40 h; and the reasons'
shares from a Dirichlet around the default ones (channel_models/simulator/truth.py holds the ranges).

So a policy that learns device x reachability -> channel, signals -> reason -> incentive and
timing beats "e-mail at 1 h" rules, and ``oracle_policy`` (which reads the truth) shows how far.
``run_journeys`` returns the contract's frames (docs/MODELS.md, "Frames") and a summary:
treated vs holdout recovery with a Wald 95 % interval for the difference, revenue net of
incentives, messages per channel.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

from channel_models.context import PlanContext
from channel_models.holdout import in_holdout
from channel_models.policy import Policy
from channel_models.simulator import webhooks
from channel_models.simulator.journeys import JourneyRunner, JourneySettings
from channel_models.simulator.oracle import OraclePolicy
from channel_models.simulator.result import CartOutcome, Interval, SimulationResult, Summary
from channel_models.simulator.shop import Customer, Shopper, ShopperStream
from channel_models.simulator.truth import Truth, draw_truth
from channel_models.vocabulary import CHANNELS, INCENTIVES

__all__ = [
    "CartOutcome",
    "Customer",
    "Interval",
    "OraclePolicy",
    "Shopper",
    "SimulationResult",
    "Summary",
    "SyntheticShop",
    "Truth",
    "draw_truth",
    "in_holdout",
    "journey_runner",
    "oracle_policy",
    "run_journeys",
]
DEFAULT_START = datetime(2025, 3, 3, tzinfo=UTC)


class SyntheticShop:
    """Shoppers and their hidden truth. Parameters are only stored here."""

    def __init__(
        self,
        seed: int = 0,
        *,
        returning_share: float = 0.3,
        prior_customer_share: float = 0.3,
        min_return_gap_days: float = 7.0,
        survey_share: float = 0.1,
        discount_percent: float = 10.0,
        shipping_fee: float = 7.0,
        truth: Truth | None = None,
    ):
        """``truth``: the world's hidden rules - the documented default, or one ``draw_truth`` drew."""
        self.seed = seed
        self.truth = truth or Truth()
        self.returning_share = returning_share
        self.prior_customer_share = prior_customer_share
        self.min_return_gap_days = min_return_gap_days
        self.survey_share = survey_share
        self.discount_percent = discount_percent
        self.shipping_fee = shipping_fee
        self._planning: dict[int, tuple[PlanContext, Shopper]] = {}

    # --- shoppers ---
    def stream(
        self,
        *,
        start: datetime = DEFAULT_START,
        gap_hours: float = 0.05,
        returning_share: float | None = None,
        min_return_gap_hours: float = 0.0,
    ) -> Iterator[Shopper]:
        """Endless abandoned carts in arrival order, ``gap_hours`` apart on average; the same
        seed and arguments always give the same shoppers. ``min_return_gap_hours`` raises the
        gap before a customer returns (the runner passes its attribution window)."""
        if gap_hours <= 0:
            raise ValueError(f"gap_hours must be > 0, got {gap_hours}")
        gap = max(self.min_return_gap_days * 24, min_return_gap_hours + 24)
        return iter(
            ShopperStream(
                self.seed,
                start=start,
                gap_hours=gap_hours,
                returning_share=self.returning_share if returning_share is None else returning_share,
                prior_customer_share=self.prior_customer_share,
                min_return_gap=timedelta(hours=gap),
                survey_share=self.survey_share,
                truth=self.truth,
            )
        )

    def shoppers(self, n: int, **stream_args) -> list[Shopper]:
        it = self.stream(**stream_args)
        return [next(it) for _ in range(n)]

    # --- the truth ---
    def response_probability(
        self,
        shopper: Shopper,
        channel: str,
        incentive: str | None,
        hours_since_abandonment: float,
        touch: int,
        previous_channels: Sequence[str] = (),
        content_reason: str | None = None,
    ) -> float:
        return self.truth.response_probability(
            shopper, channel, incentive, hours_since_abandonment, touch, previous_channels, content_reason
        )

    def order_after_message(
        self,
        shopper: Shopper,
        channel: str,
        incentive: str | None,
        hours_since_abandonment: float,
        touch: int,
        rng: random.Random,
        previous_channels: Sequence[str] = (),
        content_reason: str | None = None,
    ) -> float | None:
        """Hours after this message at which the shopper orders because of it, or None.
        ``content_reason``: the reason the message's content was written for, if known."""
        p = self.response_probability(
            shopper, channel, incentive, hours_since_abandonment, touch, previous_channels, content_reason
        )
        answers = rng.random() < p
        lag = self.truth.response_lag(channel, rng)  # drawn either way: the stream stays aligned
        return lag if answers else None

    def organic_order_hours(self, shopper: Shopper, rng: random.Random) -> float | None:
        """Hours after abandonment at which the shopper orders with no message, or None."""
        return self.truth.organic_hours(shopper, rng)

    def incentive_cost(self, shopper: Shopper, incentive: str | None) -> float:
        if incentive == "discount":
            return round(shopper.value * self.discount_percent / 100, 2)
        return self.shipping_fee if incentive == "free_shipping" else 0.0

    # --- webhooks (services.core.events generic schema) ---
    def webhook_events(self, shopper: Shopper) -> list[dict]:
        return webhooks.webhook_events(shopper)

    def history_events(self, shopper: Shopper) -> list[dict]:
        return webhooks.history_events(shopper)

    def order_event(self, shopper: Shopper, placed_at: datetime | None = None) -> dict:
        return webhooks.order_event(shopper, placed_at)

    # --- which shopper a context is about (for the oracle; contexts carry no identity) ---
    def remember(self, ctx: PlanContext, shopper: Shopper) -> None:
        self._planning[id(ctx)] = (ctx, shopper)

    def forget(self, ctx: PlanContext) -> None:
        self._planning.pop(id(ctx), None)

    def shopper_for(self, ctx: PlanContext) -> Shopper:
        found = self._planning.get(id(ctx))
        if found is None or found[0] is not ctx:
            raise LookupError("this context is not being planned by the simulator (call remember first)")
        return found[1]


def oracle_policy(shop: SyntheticShop, incentive_margin: float = 1.2) -> OraclePolicy:
    return OraclePolicy(shop, incentive_margin)


def run_journeys(shop: SyntheticShop, planner: Policy, n_carts: int, **options) -> SimulationResult:
    """Run ``n_carts`` abandoned carts through ``planner`` the way CartRecoveryWorkflow would (see
    channel_models/simulator/journeys.py); ``options`` are journey_runner's."""
    if n_carts < 0:
        raise ValueError("n_carts must be >= 0")
    runner, stream = journey_runner(shop, planner, **options)
    return runner.run(next(stream) for _ in range(n_carts))


def journey_runner(
    shop: SyntheticShop,
    planner: Policy,
    *,
    seed: int = 0,
    start: datetime = DEFAULT_START,
    holdout_percent: float = 10.0,
    max_touches: int = 3,
    attribution_window_hours: float = 120.0,
    abandon_gap_hours: float = 0.05,
    configured: tuple[str, ...] = CHANNELS,
    incentives_available: tuple[str, ...] = INCENTIVES,
    feature_window_days: float = 90.0,
    email_requires_consent: bool = False,
    fallback_timezone: str = "UTC",
) -> tuple[JourneyRunner, Iterator[Shopper]]:
    """A runner and the shop's stream of abandoned carts, ``abandon_gap_hours`` apart on average: a
    learning loop runs batches from the stream and sets ``runner.planner`` between them (its
    ``result`` keeps growing; ``result.refresh()`` rebuilds its frames)."""
    if max_touches < 0 or attribution_window_hours <= 0:
        raise ValueError("max_touches must be >= 0 and the window > 0")
    settings = JourneySettings(
        max_touches=max_touches,
        window=timedelta(hours=attribution_window_hours),
        holdout_percent=holdout_percent,
        configured=tuple(configured),
        incentives_available=tuple(incentives_available),
        feature_window_days=feature_window_days,
        email_requires_consent=email_requires_consent,
        fallback_timezone=fallback_timezone,
        seed=seed,
    )
    stream = shop.stream(start=start, gap_hours=abandon_gap_hours, min_return_gap_hours=attribution_window_hours)
    return JourneyRunner(shop, planner, settings), stream
