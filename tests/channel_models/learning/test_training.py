"""train_models on synthetic frames (the docs/MODELS.md schema) with a planted truth the rule
prior does not know: organic recovery depends on device and traffic source, and each reason
raises its own behaviour signal."""

import sys
from collections import namedtuple
from datetime import timedelta
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from channel_models.actions import ACTIONS
from channel_models.learning.features import SIGNALS, encode_frame
from channel_models.learning.frames import label_features, time_split
from channel_models.learning.training import train_models
from channel_models.registry.artifacts import dump_artifact, load_artifact
from channel_models.registry.model_status import DataFacts, Thresholds
from channel_models.vocabulary import BUCKETS, CHANNELS, REASONS

START = pd.Timestamp("2025-03-01", tz="UTC")
DAYS = 40
NOW = (START + pd.Timedelta(days=DAYS + 1)).to_pydatetime()
REASON_SIGNAL = {
    "shipping_cost": "shipping_page_view",
    "price": "price_sort",
    "indecision": "add_remove",
    "technical": "payment_failed",
}
LOW = Thresholds(min_days=1, min_carts=10, min_conversions=5, min_labels=10)
KEY = b"training-test-key"
Loaded = namedtuple("Loaded", "version_id version model meta")


def shop(n: int = 6000, seed: int = 0, label_share: float = 0.3):
    """(decisions, carts, labels) frames; half the carts are holdout (no message)."""
    rng = np.random.default_rng(seed)
    at = START + pd.to_timedelta(np.sort(rng.uniform(0, DAYS, n)), unit="D")
    device = rng.choice(["mobile", "desktop", "tablet"], n)
    source = rng.choice(["direct", "search", "social", "email"], n)
    reason = rng.choice(np.array(REASONS), n)
    carts = pd.DataFrame(
        {
            "cart_id": [f"c{i}" for i in range(n)],
            "abandoned_at": at,
            "cart_value": rng.lognormal(4, 0.6, n).round(2),
            "item_count": rng.integers(1, 5, n),
            "stage": rng.choice(["cart", "checkout", "shipping", "payment"], n),
            "orders": rng.poisson(0.7, n),
            "total_spent": 0.0,
            "previous_abandonments": rng.poisson(1, n),
            "recency_days": 90.0,
            "frequency": 0,
            "mean_gap_days": 90.0,
            "local_hour": rng.uniform(0, 24, n),
            "weekday": rng.integers(0, 7, n),
            "hours_since_abandonment": 0.0,
            "touch": 1,
            "device": device,
            "source": source,
            "last_channel": None,
        }
    )
    for kind in SIGNALS:
        carts[f"signal_{kind}"] = rng.poisson(0.2, n)
    for r, kind in REASON_SIGNAL.items():
        carts.loc[reason == r, f"signal_{kind}"] += rng.poisson(2.5, int((reason == r).sum()))
    for channel in CHANNELS:
        carts[[f"{channel}_sent", f"{channel}_clicked", f"{channel}_recovered"]] = 0
        carts[f"{channel}_reachable"] = True
    z = -1.0 + 2.0 * (device == "mobile") - 1.5 * (source == "social") - 1.0 * (np.log(carts["cart_value"]) - 4)
    carts["holdout"] = rng.random(n) < 0.5
    carts["touches_sent"] = np.where(carts["holdout"], 0, 1)
    carts["recovered"] = rng.random(n) < 1 / (1 + np.exp(-z)) + 0.1 * ~carts["holdout"]
    carts["value"] = carts["cart_value"]
    labelled = carts[rng.random(n) < label_share].copy()
    labelled["labelled_at"] = labelled["abandoned_at"] + pd.Timedelta(hours=1)
    labelled["label"] = reason[labelled.index]
    labelled["label_source"] = "survey"
    sent = carts[~carts["holdout"]]
    actions = rng.integers(0, len(ACTIONS), len(sent))
    decisions = sent.assign(
        decision_id=np.arange(len(sent)),
        decided_at=sent["abandoned_at"] + pd.Timedelta(minutes=10),
        policy="rules-v1+explore",
        action=actions,
        propensity=1 / len(ACTIONS),
        allowed_actions=[list(range(len(ACTIONS)))] * len(sent),
        sent=True,
        reward=sent["recovered"].astype(float).to_numpy(),
    )
    return decisions, carts, labelled.drop(columns=["holdout", "touches_sent", "recovered", "value"])


@pytest.fixture(scope="module")
def frames():
    return shop()


def train(decisions, carts, labels, **overrides):
    params = dict(
        now=NOW, seed=0, thresholds=LOW, active=None, epsilon=0.1, min_incentive_lift=0.02, reward="recoveries"
    )
    return {c.kind: c for c in train_models(decisions, carts, labels, **(params | overrides))}


@pytest.fixture(scope="module")
def trained(frames):
    _, carts, labels = frames
    return train(pd.DataFrame(), carts, labels)


def test_time_split_trains_on_the_earliest_80_percent_of_the_rows():
    times = START + pd.to_timedelta([0, 1, 2, 3, 4, 5, 6, 7, 8, 10], unit="D")
    frame = pd.DataFrame({"t": times, "i": range(10)}).sample(frac=1, random_state=1)
    train_part, evaluate = time_split(frame, "t")
    assert list(train_part["i"]) == [0, 1, 2, 3, 4, 5, 6, 7]  # the first 8 of 10 rows; the cut is a time (day 8)
    assert list(evaluate["i"]) == [8, 9]
    with pytest.raises(ValueError, match="span no time"):
        time_split(pd.DataFrame({"t": [START] * 3}), "t")


def test_candidates_are_judged_on_a_later_slice_than_they_learned_from(trained):
    assert set(trained) == {"propensity", "reason"}
    for c in trained.values():
        assert c.data_from < c.data_to < c.eval_from <= c.eval_to
        assert c.eval_from >= START + pd.Timedelta(days=0.8 * DAYS) - pd.Timedelta(days=0.5)
        assert c.rows_train > 3 * c.rows_eval > 0


def test_propensity_beats_the_rule_prior_and_is_promoted(trained):
    c = trained["propensity"]
    assert c.promote, c.why
    assert c.metrics["auc"] > c.metrics["baseline_auc"] + 0.1
    assert c.metrics["ece"] <= 0.05 + c.metrics["ece_noise"]
    assert "for the rule prior" in c.why


def test_propensity_buckets_split_recent_traffic_in_fifths(trained, frames):
    model = trained["propensity"].model
    recent = frames[1][frames[1]["abandoned_at"] >= trained["propensity"].eval_from]
    scores = model.predict_proba(encode_frame(recent))[:, 1]
    shares = pd.Series([model.bucket(p) for p in scores]).value_counts(normalize=True)
    assert set(shares.index) == set(BUCKETS)
    assert all(abs(share - 0.2) < 0.03 for share in shares), shares
    assert trained["propensity"].metrics["bucket_edges"] == list(model.bucket_edges_)


def test_reason_classifier_beats_the_rule_prior(trained):
    c = trained["reason"]
    assert c.promote, c.why
    assert c.metrics["log_loss"] < c.metrics["baseline_log_loss"]
    assert c.metrics["accuracy"] > 0.7


def test_no_promotion_below_the_thresholds(frames):
    _, carts, labels = frames
    strict = Thresholds(min_days=100, min_carts=10, min_conversions=5, min_labels=10_000)
    candidates = train(pd.DataFrame(), carts, labels, thresholds=strict)
    assert not any(c.promote for c in candidates.values())
    assert "still learning, needs 59 days" in candidates["propensity"].why
    assert "labels" in candidates["reason"].why


def test_facts_from_the_database_gate_promotion(frames):
    _, carts, labels = frames
    few = DataFacts(first_abandoned_at=NOW - timedelta(days=30), carts=3, conversions=1, labels=2)
    candidates = train(pd.DataFrame(), carts, labels, facts_by_kind={"propensity": few})
    assert not candidates["propensity"].promote
    assert "needs 7 carts, 4 conversions" in candidates["propensity"].why
    assert candidates["reason"].promote  # no facts given for it: the frames' own counts gate it


def test_no_promotion_when_not_better_than_the_active_version(trained, frames):
    _, carts, labels = frames
    active = {kind: Loaded(10 + i, 3, c.model, {}) for i, (kind, c) in enumerate(trained.items())}
    again = train(pd.DataFrame(), carts, labels, active=active)
    for kind in ("propensity", "reason"):
        assert not again[kind].promote, again[kind].why
        assert "for version 3" in again[kind].why
    assert again["propensity"].metrics["auc"] == again["propensity"].metrics["baseline_auc"]


def test_training_is_seeded_and_its_models_survive_storage(trained, frames):
    _, carts, labels = frames
    again = train(pd.DataFrame(), carts, labels)
    X = encode_frame(carts.tail(500))
    for kind, c in trained.items():
        assert np.array_equal(again[kind].model.predict_proba(X), c.model.predict_proba(X))
        loaded = load_artifact(*dump_artifact(c.model, KEY), KEY)
        assert np.array_equal(loaded.predict_proba(X), c.model.predict_proba(X))


def test_kinds_without_data_are_skipped_and_progress_says_why(frames):
    _, carts, labels = frames
    steps = []
    one_reason = labels.assign(label="price")
    candidates = train(
        pd.DataFrame(), carts.assign(holdout=False, touches_sent=2), one_reason, progress=lambda *a: steps.append(a)
    )
    assert candidates == {}
    assert ("propensity skipped: no holdout carts yet", 1, 3) in steps
    assert any(step.startswith("reason skipped: the labels need at least two different reasons") for step, *_ in steps)
    assert ("policy skipped: no logged decisions yet", 3, 3) in steps
    assert steps[-1] == ("trained", 3, 3)
    assert [done for _, done, _ in steps] == sorted(done for _, done, _ in steps)


def test_label_origin_is_not_read_as_a_traffic_source(frames):
    labels = frames[2]
    assert (label_features(labels)["source"] == labels["source"]).all()  # label_source apart: kept
    older = labels.drop(columns="label_source").assign(source="survey")  # origin in `source`
    assert label_features(older)["source"].isna().all()


def test_policy_training_gets_the_time_split_and_is_gated(frames, monkeypatch):
    decisions, carts, labels = frames
    seen = {}

    def fake_train_policy(
        train_part,
        evaluate,
        *,
        seed,
        active,
        epsilon,
        min_incentive_lift,
        reward,
        confidence,
        reward_model,
        propensity_model,
        pending,
        economics,
    ):
        seen.update(
            economics=economics,
            pending=pending,
            reward_model=reward_model,
            train=train_part,
            evaluate=evaluate,
            seed=seed,
            active=active,
            epsilon=epsilon,
            lift=min_incentive_lift,
            reward=reward,
            confidence=confidence,
            propensity_model=propensity_model,
        )
        return SimpleNamespace(model={"weights": np.ones(3)}, metrics={"dr_lift_low": 0.01}, promote=True, why="DR +")

    monkeypatch.setitem(
        sys.modules, "channel_models.learning.training.policy", SimpleNamespace(train_policy=fake_train_policy)
    )
    active = {"policy": Loaded(7, 2, None, {})}
    enough = {"policy": DataFacts(first_abandoned_at=NOW - timedelta(days=30), carts=10**4, conversions=10**3)}
    open_carts, economics = object(), object()  # passed to the policy's trainer as they are
    candidates = train(
        decisions,
        carts,
        labels.head(0),
        active=active,
        seed=5,
        facts_by_kind=enough,
        pending=open_carts,
        economics=economics,
    )
    policy = candidates["policy"]
    assert (seen["pending"], seen["economics"]) == (open_carts, economics)
    assert seen["train"]["decided_at"].max() < seen["evaluate"]["decided_at"].min()
    assert len(seen["train"]) + len(seen["evaluate"]) == len(decisions)
    passed = (seen["seed"], seen["active"], seen["epsilon"], seen["lift"], seen["reward"], seen["confidence"])
    assert passed == (5, active["policy"], 0.1, 0.02, "recoveries", 0.9)
    assert seen["reward_model"] == "factor"
    assert policy.promote
    assert policy.why == "DR +"
    assert policy.rows_eval == len(seen["evaluate"])
    # the policy is judged beside the propensity model it will run with: this run's promoted one
    assert candidates["propensity"].promote
    assert seen["propensity_model"] is candidates["propensity"].model
    gated = train(
        decisions, carts.head(0), labels.head(0), facts_by_kind=enough, thresholds=Thresholds(min_carts=10**6)
    )["policy"]
    assert not gated.promote
    assert "still learning" in gated.why


def test_the_real_policy_trainer_is_seeded_and_survives_storage(frames):
    decisions, carts, _ = frames
    decisions = decisions.head(800)  # enough to fit and evaluate; the runtime is the reward model's
    with threadpool_limits(limits=1, user_api="openmp"):  # OpenMP threads crawl on a busy 2-core box
        first = train(decisions, carts.head(0), carts.head(0))["policy"]
        second = train(decisions, carts.head(0), carts.head(0))["policy"]
    loaded = load_artifact(*dump_artifact(first.model, KEY), KEY)
    X = encode_frame(decisions.tail(200))
    actions = decisions["action"].tail(200).to_numpy()
    for other in (second.model, loaded):
        assert np.array_equal(other.predict(X, actions), first.model.predict(X, actions))


def test_the_calibration_allowance_is_what_chance_gives_a_perfect_model():
    from channel_models.learning.training import _calibration_noise
    from channel_models.learning.training.evaluation import calibration_error

    rng = np.random.default_rng(3)
    p = 1 / (1 + np.exp(-rng.normal(-0.8, 1.0, 600)))
    simulated = np.mean([calibration_error((rng.random(600) < p).astype(float), p) for _ in range(300)])
    assert _calibration_noise(p) == pytest.approx(simulated, rel=0.1)
    assert 0.03 < _calibration_noise(p) < 0.05  # why a bare 0.05 bar would block small shops


def test_an_active_version_worse_than_the_rule_prior_is_flagged_as_fallen():
    """The flag data_facts turns into Alert: an Active propensity model that now ranks the newest
    carts worse than the rule score (here: a model fitted to the opposite of the truth)."""
    _, carts, labels = shop(seed=4)
    none = pd.DataFrame()
    fresh = train(none, carts, labels.head(0), seed=4)["propensity"]
    inverted = carts.assign(recovered=~carts["recovered"].astype(bool))
    wrong = train(none, inverted, labels.head(0), seed=4)["propensity"]
    assert "active_quality_fell" not in fresh.metrics  # nothing Active to judge
    judged_good = train(none, carts, labels.head(0), seed=4, active={"propensity": Loaded(1, 1, fresh.model, {})})
    judged_bad = train(none, carts, labels.head(0), seed=4, active={"propensity": Loaded(2, 2, wrong.model, {})})
    assert judged_good["propensity"].metrics["active_quality_fell"] is False
    assert judged_bad["propensity"].metrics["active_quality_fell"] is True
