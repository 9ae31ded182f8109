import math

import pytest

from channel_models.rules.propensity import bucket_for, self_recovery_propensity
from channel_models.vocabulary import BUCKETS
from tests.utils.planner_builders import make_ctx


@pytest.mark.parametrize(
    "p, bucket",
    [
        (0.0, "Very low"),
        (0.1999, "Very low"),
        (0.2, "Low"),
        (0.4, "Moderate"),
        (0.5999, "Moderate"),
        (0.6, "High"),
        (0.8, "Very high"),
        (1.0, "Very high"),
    ],
)
def test_default_edges_are_lower_inclusive(p, bucket):
    assert bucket_for(p) == bucket


def test_custom_quantile_edges():
    edges = (0.05, 0.08, 0.12, 0.3)
    assert [bucket_for(p, edges) for p in (0.01, 0.05, 0.1, 0.2, 0.9)] == list(BUCKETS)


def test_tied_quantile_edges_are_accepted():
    assert bucket_for(0.1, (0.1, 0.1, 0.2, 0.3)) == "Moderate"


@pytest.mark.parametrize("edges", [(0.2, 0.4, 0.6), (0.2, 0.4, 0.6, 0.8, 0.9), (0.4, 0.2, 0.6, 0.8)])
def test_bad_edges_are_rejected(edges):
    with pytest.raises(ValueError, match="edges"):
        bucket_for(0.5, edges)


@pytest.mark.parametrize("p", [-0.01, 1.01, math.nan])
def test_probability_out_of_range_is_rejected(p):
    with pytest.raises(ValueError, match="propensity must be within"):
        bucket_for(p)


def test_propensity_is_a_probability_even_for_extreme_carts():
    for ctx in (
        make_ctx(
            cart_value=1e12,
            stage="cart",
            previous_abandonments=50,
            signal_counts={"payment_failed": 3},
        ),
        make_ctx(cart_value=0.0, stage="payment", orders=10_000),
        make_ctx(cart_value=-5.0, orders=-1, previous_abandonments=-2),
    ):
        assert 0.0 < self_recovery_propensity(ctx) < 1.0


BASE = dict(stage="checkout", orders=2, total_spent=120.0, cart_value=60.0)


@pytest.mark.parametrize(
    "change, direction",
    [
        (dict(stage="payment"), +1),
        (dict(orders=8, total_spent=480.0), +1),
        (dict(stage="cart"), -1),
        (dict(orders=0, total_spent=0.0), -1),
        (dict(cart_value=600.0), -1),
        (dict(previous_abandonments=3), -1),
        (dict(signal_counts={"payment_failed": 1}), -1),
        (dict(signal_counts={"slow_page": 1}), -1),
    ],
)
def test_propensity_moves_in_the_documented_direction(change, direction):
    base = self_recovery_propensity(make_ctx(**BASE))
    changed = self_recovery_propensity(make_ctx(**{**BASE, **change}))
    assert (changed - base) * direction > 0


def test_typical_carts_land_in_sensible_buckets():
    first_timer = make_ctx(stage="cart", cart_value=100.0)
    loyal = make_ctx(stage="payment", orders=5, total_spent=300.0, cart_value=40.0)
    assert bucket_for(self_recovery_propensity(first_timer)) == "Very low"
    assert bucket_for(self_recovery_propensity(loyal)) == "High"
