"""Variant allocation: even split until every variant has its minimum sends, then Thompson
sampling on recoveries; probability of being best from the Beta posteriors."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from channel_models.learning.variants import MIN_SENDS, VariantStats, choose_variant, probability_best


def test_a_single_variant_gets_every_message():
    assert {choose_variant([VariantStats("A", 5000, 10)], seed=s) for s in range(50)} == {"A"}


def test_even_split_until_each_variant_has_the_minimum_sends():
    # B looks far better, but A has not had its minimum yet: the split stays even.
    stats = [VariantStats("A", MIN_SENDS - 1, 0), VariantStats("B", 5 * MIN_SENDS, 4 * MIN_SENDS)]
    picks = Counter(choose_variant(stats, seed=s) for s in range(4000))
    assert abs(picks["A"] / 4000 - 0.5) < 0.03


def test_three_variants_split_evenly_too():
    stats = [VariantStats(v, 0, 0) for v in "ABC"]
    picks = Counter(choose_variant(stats, seed=s) for s in range(6000))
    assert all(abs(picks[v] / 6000 - 1 / 3) < 0.03 for v in "ABC")


def test_same_seed_same_choice_and_string_seeds_work():
    stats = [VariantStats("A", 500, 40), VariantStats("B", 500, 45)]
    key = "recovery/shop/abc/1"
    assert len({choose_variant(stats, seed=key) for _ in range(20)}) == 1
    assert len({choose_variant(stats, seed=f"recovery/shop/c{i}/1") for i in range(200)}) == 2


def test_converges_to_the_better_variant_on_a_simulated_stream():
    true_rate = {"A": 0.05, "B": 0.10}
    counts = {v: [0, 0] for v in true_rate}  # sent, recovered
    outcome = random.Random(7)
    late = Counter()
    for message in range(6000):
        stats = [VariantStats(v, *counts[v]) for v in true_rate]
        chosen = choose_variant(stats, seed=message)
        counts[chosen][0] += 1
        counts[chosen][1] += outcome.random() < true_rate[chosen]
        if message >= 5000:
            late[chosen] += 1
    assert counts["A"][0] >= MIN_SENDS
    assert counts["B"][0] >= MIN_SENDS  # both were measured
    assert late["B"] / 1000 > 0.8
    final = probability_best([VariantStats(v, *counts[v]) for v in true_rate])
    assert final["B"] > 0.95


def test_probability_best_is_sane():
    equal = probability_best([VariantStats("A", 1000, 100), VariantStats("B", 1000, 100)])
    assert abs(equal["A"] - 0.5) < 0.03
    assert abs(sum(equal.values()) - 1) < 1e-9
    clear = probability_best([VariantStats("A", 1000, 50), VariantStats("B", 1000, 120)])
    assert clear["B"] > 0.99
    assert clear["A"] < 0.01
    unknown = probability_best([VariantStats("A"), VariantStats("B"), VariantStats("C")])
    assert all(abs(p - 1 / 3) < 0.03 for p in unknown.values())
    assert probability_best([VariantStats("A", 10, 3)]) == {"A": 1.0}
    assert probability_best([]) == {}
    # seeded: the page shows the same number on every reload
    stats = [VariantStats("A", 200, 20), VariantStats("B", 180, 22)]
    assert probability_best(stats) == probability_best(stats)


@pytest.mark.parametrize("sent, recovered", [(-1, 0), (5, 6), (5, -1)])
def test_impossible_counts_are_refused(sent, recovered):
    with pytest.raises(ValueError):
        VariantStats("A", sent, recovered)


def test_choosing_from_nothing_is_an_error():
    with pytest.raises(ValueError):
        choose_variant([])
