"""Learned policy against the rule prior and a fixed flow, on the synthetic shop, through the service.

    python bench/policy.py [--learn-carts 6000] [--carts 4000] [--scale 3600] [--rate 6] [--explore 1.0]

Everything real: the embedded Temporal dev server, the worker, the uvicorn API, an aiosmtpd SMTP
server and an HTTP JSON sink on loopback, SQLite. Shoppers from channel_models.simulator post
signed generic webhooks; the messages the service delivers are read off the sinks and the
shop's ground truth decides whether and when each shopper orders (bench/shop_loop.py).

1. Learning: `--learn-carts` carts with CR_POLICY=auto and no trained model, so the rule prior
   decides with `--explore` of touches given a random allowed action (logged propensities).
2. Retraining through the API (POST /v1/models/retrain) - the same RetrainWorkflow the nightly
   schedule runs, with the learning-phase thresholds lowered to this run's size.
3. Three arms side by side: `3 x --carts` fresh shoppers dealt to them by customer (a returning
   customer stays in their arm), each arm a whole service of its own (API, worker process, task
   queue, shop name) on the same Temporal server and database: CR_POLICY=auto (the promoted
   learned policy, exploration 0.05), rules, and fixed ("email@4h,email@24h"). Side by side, the
   arms meet the same load, the same lag and the same hours of the shop's day. Every arm keeps
   its 10 % holdout; the holdout's recovery rate does not depend on the arm, so the three
   holdouts are pooled into one baseline.

Each phase prints how late the service delivered against its own plan (service clock): a
loaded service falls behind its clock, and at --scale 3600 a second of backlog is an hour of the
shop's time, which the shop's timing truth punishes. Prints per arm: treated recovery rate, incremental rate over the pooled holdout with its 95 %
interval, and the differences learned - rules and learned - fixed (difference of treated rates:
the common baseline cancels) with 95 % intervals, plus learned / rules incremental ratio. Then
the promoted candidate's off-policy estimate (DR, from the retraining's later slice) against the
per-decision value the learned arm then achieved.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import tempfile
import time
from pathlib import Path

from sqlmodel import Session, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.policy_arms import (  # noqa: E402
    ADMIN,
    CODES,
    SECRET,
    Arm,
    Sinks,
    achieved_value,
    arm_rates,
    retrain,
    run_phase,
)
from bench.service_processes import embedded_dev_server  # noqa: E402
from channel_models.simulator import SyntheticShop  # noqa: E402
from services.store.db import make_engine  # noqa: E402
from services.store.tables import ModelVersion  # noqa: E402
from tests.utils.e2e.sinks import HttpSink, SmtpSink  # noqa: E402

Z = 1.959964


def wald(p1: float, n1: int, p2: float, n2: int) -> tuple[float, float, float]:
    diff = p1 - p2
    half = Z * math.sqrt(p1 * (1 - p1) / max(n1, 1) + p2 * (1 - p2) / max(n2, 1))
    return diff, diff - half, diff + half


async def main(args) -> None:
    with tempfile.TemporaryDirectory() as tmp, SmtpSink() as smtp, HttpSink() as http:
        env = await embedded_dev_server(Path(tmp))
        base = dict(
            data_dir=Path(tmp),
            database_url=f"sqlite:///{Path(tmp) / 'app.db'}",
            webhook_secret=SECRET,
            admin_api_key=ADMIN,
            email_from="shop@example.com",
            shop_name="Bench Shop",
            shop_address="1 Bench Street, Springfield",
            time_scale=args.scale,
            holdout_percent=10,
            email_url=f"mailto://127.0.0.1:{smtp.port}?to={{to}}&from=shop%40example.com&mode=insecure",
            sms_url=http.url("sms?:to={to}"),
            push_url=http.url("push?:to={to}"),
            retargeting_url=http.url("audience?:to={to}"),
            discount_code=CODES["discount"],
            free_shipping_code=CODES["free_shipping"],
            model_min_days=0,
            model_min_carts=args.learn_carts // 2,
            model_min_conversions=50,
            reason_min_labels=50,
        )
        engine = make_engine(base["database_url"])
        sinks = Sinks(smtp, http)
        try:
            print(f"learning phase: {args.learn_carts} carts, rule prior with exploration {args.explore}", flush=True)
            await run_phase(
                env,
                engine,
                base,
                sinks,
                shop=SyntheticShop(seed=11),
                carts=args.learn_carts,
                arms=[Arm("learning", "auto", args.explore)],
                rate=args.rate,
            )
            t = time.monotonic()
            models = await retrain(base, env, engine)
            print(
                f"retraining took {time.monotonic() - t:.0f} s: {json.dumps(models['retrain'].get('result'), default=str)[:600]}"
            )
            for model in models.get("models", []):
                print(f"  {model.get('kind')}: {model.get('status')} {'; '.join(model.get('reasons', []))[:200]}")
            print(f"arms: {3 * args.carts} fresh carts dealt to learned / rules / fixed, side by side", flush=True)
            await run_phase(
                env,
                engine,
                base,
                sinks,
                shop=SyntheticShop(seed=12),
                carts=3 * args.carts,
                arms=[Arm("learned", "auto", 0.05), Arm("rules", "rules", 0.0), Arm("fixed", "fixed", 0.0)],
                rate=args.rate,
            )
            arms = {arm: arm_rates(engine, f"bench-{arm}") for arm in ("learned", "rules", "fixed")}
            report(arms)
            with Session(engine) as session:
                version = session.exec(
                    select(ModelVersion).where(ModelVersion.kind == "policy", ModelVersion.status == "active")
                ).first()
            if version is not None:
                value, n = achieved_value(engine, "bench-learned")
                m = version.metrics
                inside = m["candidate_dr_low"] <= value <= m["candidate_dr_high"]
                print(
                    f"\noff-policy estimate of the promoted policy (DR, later slice of the learning data): "
                    f"{m['candidate_dr']:.4f} [{m['candidate_dr_low']:.4f}, {m['candidate_dr_high']:.4f}]"
                )
                print(
                    f"value it achieved when it ran (mean per-decision reward, {n} decisions): {value:.4f} "
                    f"-> {'inside' if inside else 'OUTSIDE'} the interval"
                )
            else:
                print("\nno policy model was promoted: the learned arm ran the rule prior with exploration")
        finally:
            engine.dispose()
            await env.shutdown()


def in_process(args) -> None:
    """The same experiment without the service: run_journeys plays the workflow's loop against the
    shop's truth in memory, so it can afford samples large enough for tight intervals."""
    from datetime import timedelta

    from bench.models import OPEN
    from channel_models.learning.training import train_models
    from channel_models.policy import Planner
    from channel_models.registry.model_set import LoadedModel, ModelSet
    from channel_models.simulator import run_journeys

    started = time.monotonic()
    log = run_journeys(SyntheticShop(seed=11), Planner("auto", exploration=args.explore), args.learn_carts, seed=11)
    print(f"learning: {log.summary()} ({time.monotonic() - started:.0f} s)")
    now = log.decisions["decided_at"].max().to_pydatetime() + timedelta(days=6)
    candidates = train_models(
        log.decisions,
        log.carts,
        log.labels,
        now=now,
        seed=0,
        thresholds=OPEN,
        epsilon=0.05,
        min_incentive_lift=0.02,
        reward="recoveries",
    )
    for c in candidates:
        print(f"  {c.kind}: {'promoted' if c.promote else 'REJECTED'} - {c.why[:300]}")
    models = ModelSet(
        **{
            c.kind: LoadedModel(n, 1, c.model, {})
            for n, c in enumerate(candidates, 1)
            if c.model is not None and (c.promote or c.kind == "policy")
        }
    )
    arms, results = {}, {}
    for arm, planner in (
        ("learned", Planner("auto", models, exploration=0.05)),
        ("rules", Planner("rules")),
        ("fixed", Planner("fixed")),
    ):
        result = run_journeys(SyntheticShop(seed=12), planner, args.carts, seed=12)
        treated = [o for o in result.outcomes if not o.holdout]
        holdout = [o for o in result.outcomes if o.holdout]
        arms[arm] = {
            "treated_n": len(treated),
            "treated": sum(o.recovered for o in treated),
            "holdout_n": len(holdout),
            "holdout": sum(o.recovered for o in holdout),
        }
        results[arm] = result
    report(arms, pooled=False)
    policy = next(c for c in candidates if c.kind == "policy")
    achieved = results["learned"].decisions["reward"]
    m = policy.metrics
    inside = m["candidate_dr_low"] <= achieved.mean() <= m["candidate_dr_high"]
    print(
        f"\noff-policy estimate of the candidate (DR, later slice of the learning logs): "
        f"{m['candidate_dr']:.4f} [{m['candidate_dr_low']:.4f}, {m['candidate_dr_high']:.4f}]; "
        f"achieved when it ran: {achieved.mean():.4f} over {len(achieved)} decisions -> "
        f"{'inside' if inside else 'OUTSIDE'} the interval"
    )


def report(arms: dict, pooled: bool = True) -> None:
    # in process every arm meets the same shoppers, so its holdout carts are the same carts: count them once
    holdouts = list(arms.values()) if pooled else list(arms.values())[:1]
    pooled_n = sum(a["holdout_n"] for a in holdouts)
    pooled = sum(a["holdout"] for a in holdouts) / max(pooled_n, 1)
    print(f"\nholdout: {pooled:.2%} recovered of {pooled_n} carts (no message)")
    rates = {}
    for name, a in arms.items():
        p = a["treated"] / max(a["treated_n"], 1)
        inc, low, high = wald(p, a["treated_n"], pooled, pooled_n)
        rates[name] = (p, a["treated_n"], inc)
        print(f"{name:8s} treated {p:.2%} of {a['treated_n']}, incremental {inc:+.2%} [{low:+.2%}, {high:+.2%}]")
    for other in ("rules", "fixed"):
        (p1, n1, i1), (p2, n2, i2) = rates["learned"], rates[other]
        diff, low, high = wald(p1, n1, p2, n2)
        ratio = i1 / i2 if i2 else float("inf")
        print(
            f"learned - {other}: {diff:+.2%} [{low:+.2%}, {high:+.2%}] "
            f"({'outside' if low > 0 else 'NOT outside'} its 95 % interval); incremental ratio {ratio:.2f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--learn-carts", type=int, default=6000)
    parser.add_argument("--carts", type=int, default=4000, help="per arm (the arms run side by side)")
    parser.add_argument("--scale", type=float, default=3600, help="service seconds per real second")
    parser.add_argument("--explore", type=float, default=1.0, help="exploration while learning")
    parser.add_argument("--rate", type=float, default=6, help="checkouts per real second, all arms together")
    parser.add_argument("--in-process", action="store_true", help="run_journeys instead of the service")
    arguments = parser.parse_args()
    if arguments.in_process:
        in_process(arguments)
    else:
        asyncio.run(main(arguments))
