"""Learning across a family of shops: the learned policy against a static flow, the rule prior and
an oracle, in worlds whose hidden rules nobody tuned for (in process).

    python bench/worlds.py [--worlds 10] [--first 1] [--learn-carts 5000] [--carts 4000] [--explore 0.1]

Per world k (channel_models.simulator.draw_truth(k): which channel works on which device, how fast
interest fades, what incentives and reason-matched content add, how often shoppers come back
unasked):
1. Learning: `--learn-carts` abandoned carts under CR_POLICY=auto with no trained model - the
   rule prior exploring `--explore` of touches, as a new shop's service would - through
   run_journeys (the workflow's loop in memory, the world's truth deciding every order).
2. Retraining after every `--batch` carts: train_models on the carts whose attribution window
   has closed, and (`--open-carts learn`, as the service does) the open carts' decisions made so
   far as partial outcomes, with the learning-phase thresholds open (this bench asks what the
   data can teach, not when the gate opens); promoted models decide the next batch, a candidate
   the gate did not promote goes on trial as the challenger.
3. Fresh carts (another seed, the same world), each arm meeting the same shoppers: "service" -
   the promoted models, i.e. what the service would now run (the rule prior when the policy was
   not promoted); "candidate" - the trained policy whether promoted or not; "rules"; "fixed"
   (e-mail at 4 h and 24 h); "oracle" (greedy, reads the truth); and "organic", the same carts
   with no message at all. Every arm treats all its carts: in process each cart's organic return
   is drawn the same in every arm, so the organic arm is the holdout of every cart, paired.

Prints per world and arm the incremental recovery rate (recovered under the arm minus recovered
unasked, per cart, with a paired 95 % interval) and the incremental revenue per cart (recovered
revenue net of incentives, the same way), then the medians across worlds of service / fixed and
service / oracle, the worlds where the service's incremental revenue beats the fixed flow's, and
the worlds where its recovery is significantly below the rule prior's (paired, 95 %).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from datetime import timedelta
from itertools import islice
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from bench.models import OPEN  # noqa: E402
from channel_models.learning.censoring import Pending  # noqa: E402
from channel_models.learning.challenger import challenge  # noqa: E402
from channel_models.learning.training import train_models  # noqa: E402
from channel_models.policy import Planner  # noqa: E402
from channel_models.registry.model_set import LoadedModel, ModelSet  # noqa: E402
from channel_models.simulator import (  # noqa: E402
    SyntheticShop,
    draw_truth,
    journey_runner,
    oracle_policy,
    run_journeys,
)
from channel_models.simulator.result import Z95, SimulationResult  # noqa: E402

ARMS = ("service", "candidate", "rules", "fixed", "oracle", "organic")
FRESH_SEED = 10_000
WINDOW_HOURS = 120.0
WINDOW = timedelta(hours=WINDOW_HOURS)


def learn(world: int, args) -> tuple[ModelSet, ModelSet, str]:
    """(the models the service runs after learning, those with the last policy candidate whether
    promoted or not, a note) - `--learn-carts` carts in batches of `--batch`, retrained after each
    batch on the carts whose attribution window has closed, with the champion / challenger split."""
    truth = draw_truth(world)
    shop = SyntheticShop(seed=world, truth=truth)
    runner, stream = journey_runner(
        shop, Planner("auto", exploration=args.explore, seed=world), seed=world, attribution_window_hours=WINDOW_HOURS
    )
    models, candidate, notes = ModelSet(), None, []
    since = None  # when the running challenger started deciding
    for batch in range(1, args.learn_carts // args.batch + 1):
        runner.planner = Planner(
            "auto", models, exploration=args.explore, seed=world, challenger_share=args.challenger_share
        )
        runner.run(islice(stream, args.batch))
        log = runner.result
        log.refresh()
        carts = log.carts
        now = carts["abandoned_at"].max().to_pydatetime()  # the retraining runs as the batch ends
        closed = set(carts.loc[carts["abandoned_at"] <= now - WINDOW, "cart_id"])
        if models.challenger is not None:
            challenger = f"bandit-v{models.challenger.version}"
            verdict = challenge(log.decisions, carts, challenger, since, now - WINDOW)
            if verdict.decision != "continue":
                notes.append(f"challenger v{models.challenger.version} {verdict.decision}d after batch {batch}")
                active = replace(models.challenger, meta={"status": "active"})
                kept = replace(models, policy=active) if verdict.decision == "promote" else models
                models = replace(kept, challenger=None)
        decisions = log.decisions[log.decisions["cart_id"].isin(closed)]
        if decisions.empty:
            continue
        pending = open_decisions(log, carts, closed, now) if args.open_carts == "learn" else None
        trained = train_models(
            decisions,
            carts[carts["cart_id"].isin(closed)],
            log.labels[log.labels["cart_id"].isin(closed)],
            now=now,
            seed=world,
            thresholds=OPEN,
            active=models,
            epsilon=args.explore,
            min_incentive_lift=0.02,
            reward="recoveries",
            reward_model=args.reward_model,
            pending=pending,
        )
        for c in trained:
            if c.model is None:
                continue
            loaded = LoadedModel(batch, batch, c.model, {"status": "active"})
            if c.kind == "policy":
                candidate = loaded
                if c.promote:
                    models, since = replace(models, policy=loaded, challenger=None), None
                    notes.append(f"policy promoted off-policy after batch {batch}")
                elif models.challenger is None and args.challenger_share > 0:
                    models, since = replace(models, challenger=replace(loaded, meta={"status": "challenger"})), now
            elif c.promote:
                models = replace(models, **{c.kind: loaded})
    with_candidate = replace(models, policy=candidate or models.policy, challenger=None)
    kinds = [k for k in ("propensity", "reason", "policy") if getattr(models, k) is not None]
    note = f"active: {', '.join(kinds) or 'none'}; " + ("; ".join(notes) or "no policy promoted")
    return replace(models, challenger=None), with_candidate, note


def open_decisions(log: SimulationResult, carts, closed: set, now) -> Pending:
    """What the service would know at `now` of the carts whose window is still open: their
    decisions made by then, each recovered (reward 1) only if its order came by then."""
    order_at = pd.Series({o.cart_id: o.order_at for o in log.outcomes if o.recovered}, dtype="datetime64[ns, UTC]")
    abandoned = carts.set_index("cart_id")["abandoned_at"]
    decisions = log.decisions
    now = pd.Timestamp(now)
    pending = decisions[~decisions["cart_id"].isin(closed) & (decisions["decided_at"] <= now)]
    ordered = pending["cart_id"].map(order_at)
    pending = pending.assign(
        reward=((ordered <= now) & (ordered >= pending["decided_at"])).astype(float),
        decided_h=(pending["decided_at"] - pending["cart_id"].map(abandoned)).dt.total_seconds() / 3600,
        elapsed_h=(now - pending["cart_id"].map(abandoned)).dt.total_seconds() / 3600,
        ended=False,  # in process a journey ends only by its order (known above) or its window
    )
    # the delays of the closed recovered treated carts, one per cart, as the service's loader takes them
    won = [o.cart_id for o in log.outcomes if o.recovered and not o.holdout and o.cart_id in closed]
    recovered_h = (order_at[won] - abandoned[won]).dt.total_seconds() / 3600
    return Pending(pending, recovered_h.to_numpy())


def evaluate(world: int, arm: str, service: ModelSet, candidate: ModelSet, args) -> SimulationResult:
    shop = SyntheticShop(seed=FRESH_SEED + world, truth=draw_truth(world))
    planner = {
        "service": lambda: Planner("auto", service, exploration=0.0, seed=world),
        "candidate": lambda: Planner("auto", candidate, exploration=0.0, seed=world),
        "rules": lambda: Planner("rules"),
        "fixed": lambda: Planner("fixed"),
        "oracle": lambda: oracle_policy(shop),
        "organic": lambda: Planner("rules"),  # never asked: every cart is in the holdout
    }[arm]()
    holdout = 100.0 if arm == "organic" else 0.0
    return run_journeys(shop, planner, args.carts, seed=FRESH_SEED + world, holdout_percent=holdout)


def paired(a: list[float], b: list[float]) -> tuple[float, float, float]:
    """Mean of a - b per cart with a 95 % interval."""
    d = [x - y for x, y in zip(a, b, strict=True)]
    mean = statistics.fmean(d)
    half = Z95 * statistics.stdev(d) / len(d) ** 0.5
    return mean, mean - half, mean + half


def main(args) -> None:
    rows = []
    for world in range(args.first, args.first + args.worlds):
        started = time.monotonic()
        service, candidate, note = learn(world, args)
        results = {arm: evaluate(world, arm, service, candidate, args) for arm in ARMS}
        per_cart = {
            arm: {o.cart_id: (float(o.recovered), o.revenue) for o in result.outcomes}
            for arm, result in results.items()
        }
        carts = sorted(per_cart["organic"])
        organic = [per_cart["organic"][c][0] for c in carts]
        organic_revenue = [per_cart["organic"][c][1] for c in carts]
        row: dict = {"world": world, "organic": statistics.fmean(organic)}
        print(
            f"\nworld {world} ({note}; {time.monotonic() - started:.0f} s): organic {row['organic']:.2%} of {len(carts)}"
        )
        for arm in ARMS[:-1]:
            recovered = [per_cart[arm][c][0] for c in carts]
            inc, low, high = paired(recovered, organic)
            margin, _, _ = paired([per_cart[arm][c][1] for c in carts], organic_revenue)
            row[arm], row[f"{arm}_margin"] = inc, margin
            print(f"  {arm:9s} incremental {inc:+.2%} [{low:+.2%}, {high:+.2%}], revenue/cart {margin:+.2f}")
        _, _, high = paired([per_cart["service"][c][0] for c in carts], [per_cart["rules"][c][0] for c in carts])
        row["below_rules"] = high < 0
        rows.append(row)

    def ratio(a: str, b: str) -> list[float]:
        return [r[a] / r[b] if r[b] > 0 else float("inf") for r in rows]

    print(f"\n{len(rows)} worlds, {args.learn_carts} learning carts each, {args.carts} fresh carts per arm")
    for arm in ("service", "candidate"):
        print(
            f"{arm}: median incremental / fixed {statistics.median(ratio(arm, 'fixed')):.2f} (goal >= 2.5), "
            f"/ oracle {statistics.median(ratio(arm, 'oracle')):.2f} (goal >= 0.75), "
            f"/ rules {statistics.median(ratio(arm, 'rules')):.2f}; "
            f"revenue per cart above fixed in {sum(r[arm + '_margin'] > r['fixed_margin'] for r in rows)} of {len(rows)}"
        )
    print(f"rules: median incremental / fixed {statistics.median(ratio('rules', 'fixed')):.2f}")
    print(f"service significantly below the rule prior in {sum(r['below_rules'] for r in rows)} of {len(rows)} worlds")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worlds", type=int, default=10)
    parser.add_argument("--first", type=int, default=1, help="the first world's seed")
    parser.add_argument("--learn-carts", type=int, default=5000)
    parser.add_argument("--carts", type=int, default=4000, help="fresh carts per arm")
    parser.add_argument("--explore", type=float, default=0.1, help="exploration while learning")
    parser.add_argument("--batch", type=int, default=1000, help="learning carts between retrainings")
    parser.add_argument("--challenger-share", type=float, default=0.2, help="0: no champion / challenger")
    parser.add_argument("--reward-model", default="factor", choices=("factor", "trees"), help="the policy's")
    parser.add_argument(
        "--open-carts",
        default="learn",
        choices=("learn", "leave"),
        help="the open carts' decisions: learned from as partial outcomes, or left out",
    )
    main(parser.parse_args())
