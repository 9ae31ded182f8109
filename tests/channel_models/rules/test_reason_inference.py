import pytest

from channel_models.rules.reasons import OTHER_CONFIDENCE, infer_reason


@pytest.mark.parametrize(
    "signals, stage, expected",
    [
        ({"shipping_page_view": 2}, "cart", "shipping_cost"),
        ({"shipping_page_view": 1}, "shipping", "shipping_cost"),
        ({"price_sort": 1}, "cart", "price"),
        ({"discount_filter": 2}, "cart", "price"),
        ({"coupon_attempt": 1}, "payment", "price"),
        ({"add_remove": 2}, "cart", "indecision"),
        ({"comparison_view": 1}, "cart", "indecision"),
        ({"product_view": 8}, "cart", "indecision"),
        ({"payment_failed": 1}, "payment", "technical"),
        ({"slow_page": 3}, "checkout", "technical"),
    ],
)
def test_each_rule_names_its_reason(signals, stage, expected):
    reason, confidence = infer_reason(signals, stage)
    assert reason == expected
    assert 0 < confidence <= 1


def test_no_evidence_is_other_with_low_confidence():
    assert infer_reason({}) == ("other", OTHER_CONFIDENCE)
    assert OTHER_CONFIDENCE == 0.2


@pytest.mark.parametrize(
    "signals, stage",
    [
        ({"shipping_page_view": 1}, "cart"),  # one look at shipping is normal browsing
        ({"shipping_page_view": 1}, None),
        ({"product_view": 4}, "cart"),  # a handful of product views is not indecision
        ({"unknown_signal": 9}, "cart"),
        ({"price_sort": -3}, "cart"),  # corrupt negative counts are ignored
    ],
)
def test_weak_or_unknown_signals_are_not_evidence(signals, stage):
    assert infer_reason(signals, stage) == ("other", OTHER_CONFIDENCE)


def test_failed_payment_dominates_several_weak_hints():
    signals = {"payment_failed": 1, "price_sort": 1, "add_remove": 1, "shipping_page_view": 2}
    assert infer_reason(signals, "payment")[0] == "technical"


def test_confidence_is_share_of_evidence_damped_by_amount():
    # price 2 of total 3 -> 2 / (3 + 1)
    assert infer_reason({"price_sort": 2, "add_remove": 1}) == ("price", 0.5)
    # one failed payment alone: 4 / (4 + 1)
    assert infer_reason({"payment_failed": 1}) == ("technical", 0.8)
    # more of the same evidence means more confidence
    assert infer_reason({"price_sort": 5})[1] > infer_reason({"price_sort": 1})[1]


@pytest.mark.parametrize(
    "signals, winner",
    [
        ({"slow_page": 2, "shipping_page_view": 2}, "technical"),
        ({"shipping_page_view": 2, "price_sort": 2}, "shipping_cost"),
        ({"price_sort": 1, "add_remove": 1}, "price"),
        ({"discount_filter": 1, "comparison_view": 1, "slow_page": 1}, "technical"),
    ],
)
def test_ties_go_to_the_more_actionable_reason(signals, winner):
    reason, confidence = infer_reason(signals)
    assert reason == winner
    assert confidence < 0.5  # a tie is never confident


def test_signal_order_does_not_matter():
    signals = {"price_sort": 1, "add_remove": 1, "slow_page": 1}
    assert infer_reason(signals) == infer_reason(dict(reversed(list(signals.items()))))
