"""The family of worlds: draw_truth gives seeded, varied, well-formed hidden rules."""

from __future__ import annotations

import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from channel_models.policy import Planner
from channel_models.simulator import SyntheticShop, Truth, draw_truth, oracle_policy, run_journeys
from channel_models.simulator import truth as family
from channel_models.vocabulary import CHANNELS, INCENTIVES


def test_the_same_seed_draws_the_same_world_and_another_seed_another():
    assert draw_truth(5) == draw_truth(5)
    assert draw_truth(5) != draw_truth(6)
    assert Truth() == Truth()


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=10**9))
def test_every_drawn_world_is_inside_the_family(seed):
    world = draw_truth(seed)
    for device in family.DEVICES:
        assert set(world.channel_affinity[device]) == set(CHANNELS)
        assert all(0 < a <= family.MAX_AFFINITY for a in world.channel_affinity[device].values())
    assert all(
        family.REASON_RESPONSE_RANGE[0] <= v <= family.REASON_RESPONSE_RANGE[1] for v in world.reason_response.values()
    )
    assert world.reason_shares.keys() == Truth().reason_shares.keys()
    assert sum(world.reason_shares.values()) == pytest.approx(1.0)
    assert family.CONTENT_MATCH[0] <= world.content_match <= family.CONTENT_MATCH[1]
    assert family.FATIGUE[0] <= world.fatigue <= family.FATIGUE[1]
    for reason, lifts in world.incentive_lift.items():
        assert set(lifts) == set(INCENTIVES), reason
        assert all(lift >= 1.0 for lift in lifts.values())


def test_worlds_differ_in_what_works_where():
    """Across seeds the best channel per device changes, so one fixed answer cannot fit them all."""
    worlds = [draw_truth(seed) for seed in range(40)]
    best_on_mobile = {max(w.channel_affinity["mobile"], key=w.channel_affinity["mobile"].get) for w in worlds}
    best_on_desktop = {max(w.channel_affinity["desktop"], key=w.channel_affinity["desktop"].get) for w in worlds}
    assert len(best_on_mobile) >= 3 and len(best_on_desktop) >= 3
    assert statistics.pstdev(w.default_half_life for w in worlds) > 10
    assert statistics.pstdev(w.organic_intercept for w in worlds) > 0.2


def test_content_written_for_the_true_reason_answers_better_only_where_the_world_says_so():
    world = draw_truth(3)
    shop = SyntheticShop(seed=1, truth=world)
    shopper = next(s for s in shop.shoppers(200) if s.reason == "price" and s.device == "desktop")
    plain = shop.response_probability(shopper, "email", None, 1.0, 1)
    matched = shop.response_probability(shopper, "email", None, 1.0, 1, content_reason="price")
    other = shop.response_probability(shopper, "email", None, 1.0, 1, content_reason="technical")
    assert matched == pytest.approx(min(world.max_response, plain * world.content_match))
    assert other == plain
    default = SyntheticShop(seed=1)
    assert default.response_probability(shopper, "email", None, 1.0, 1, content_reason="price") == (
        default.response_probability(shopper, "email", None, 1.0, 1)
    )


def test_a_world_draws_its_own_reasons_and_organic_returns():
    shops = [SyntheticShop(seed=2, truth=draw_truth(seed)) for seed in (11, 12)]
    drawn = [[s.reason for s in shop.shoppers(3000)] for shop in shops]
    shares = [{r: d.count(r) / len(d) for r in family.REASONS} for d in drawn]
    assert any(abs(shares[0][r] - shares[1][r]) > 0.03 for r in family.REASONS)
    organic = [statistics.mean(s.organic_probability for s in shop.shoppers(2000)) for shop in shops]
    expected = [
        statistics.mean(
            shop.truth.organic_probability(
                s.stage,
                s.reason,
                s.value,
                s.visit > 0 or bool(s.customer.prior_orders),
                s.high_intent,
                s.customer.organic_taste,
            )
            for s in shop.shoppers(2000)
        )
        for shop in shops
    ]
    assert organic == pytest.approx(expected)


def test_the_oracle_beats_the_rules_in_a_drawn_world():
    """The oracle reads the drawn truth (not the default), so it stays the ceiling in every world."""
    world = draw_truth(21)
    shop = SyntheticShop(seed=4, truth=world)
    best = run_journeys(shop, oracle_policy(shop), 1500, seed=4)
    rules = run_journeys(SyntheticShop(seed=4, truth=world), Planner("rules"), 1500, seed=4)
    assert best.summary().treated_rate > rules.summary().treated_rate
