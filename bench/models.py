"""Plan latency and retraining cost of the learned models.

    python bench/models.py [--decisions 1000000] [--carts 12000] [--plans 5000]

1. Logs: the synthetic shop (channel_models.simulator) runs `--carts` journeys under the rule
   prior with 30 % exploration; its decisions, carts, outcomes, orders, messages and survey
   labels are written to a SQLite file through the service's tables - copied with shifted times
   and fresh ids until the database holds `--decisions` logged decisions.
2. Retraining, in a fresh process (so its peak memory is its own): what the RetrainWorkflow's
   activity does - `load_frames`, `train_models` for the three kinds, `dump_artifact` of each
   candidate. Prints wall and CPU time per step and the process's peak RSS (targets: <= 60 s,
   <= 2 GB).
3. Plan latency in-process: `Planner.plan(ctx)` on `--plans` contexts from the shop, features
   (snapshot + encoding) included, for the rule prior, the exploring rule prior (Learning), and
   the learned policy with all three models Active (trained on the un-copied logs). p50 / p99 /
   max (target p99 <= 5 ms), against the rule prior measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.model_logs import write_logs  # noqa: E402
from channel_models.learning.training import train_models  # noqa: E402
from channel_models.policy import Planner  # noqa: E402
from channel_models.registry.model_set import LoadedModel, ModelSet  # noqa: E402
from channel_models.registry.model_status import Thresholds  # noqa: E402
from channel_models.simulator import SyntheticShop, run_journeys  # noqa: E402
from services.core.clock import utc  # noqa: E402
from services.store.db import make_engine  # noqa: E402

WINDOW_HOURS = 120.0  # CR_ATTRIBUTION_WINDOW_HOURS' default
OPEN = Thresholds(min_days=0, min_carts=0, min_conversions=0, min_labels=0, overdue_hours=48, stale_hours=48)


def retrain_in_this_process(path: str) -> None:
    """Step 2 (run as `bench/models.py --retrain-only DB`): the retraining activity's work."""
    from channel_models.registry.artifacts import dump_artifact
    from services.store.frames.training_data import load_frames

    def clock():
        return time.perf_counter(), time.process_time()

    engine = make_engine(f"sqlite:///{path}", create=False)
    with engine.connect() as connection:  # the retraining runs just after the last decision
        last = connection.exec_driver_sql("SELECT MAX(decided_at) FROM decisions").scalar_one()
    now = utc(datetime.fromisoformat(str(last))) + timedelta(seconds=1)
    (w0, c0) = clock()
    # as the activity does: closed carts, and the open ones' decisions as partial outcomes
    frames = load_frames(engine, until=now, closed_before=now - timedelta(hours=WINDOW_HOURS))
    (w1, c1) = clock()
    candidates = train_models(
        frames.decisions,
        frames.carts,
        frames.labels,
        now=now,
        seed=0,
        thresholds=OPEN,
        epsilon=0.1,
        min_incentive_lift=0.02,
        reward="recoveries",
        pending=frames.pending,
    )
    (w2, c2) = clock()
    sizes = {c.kind: len(dump_artifact(c.model, b"bench-key")[0]) for c in candidates if c.model is not None}
    (w3, c3) = clock()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "decisions": len(frames.decisions),
                "open_decisions": frames.open_decisions,
                "carts": len(frames.carts),
                "labels": len(frames.labels),
                "load_s": [w1 - w0, c1 - c0],
                "train_s": [w2 - w1, c2 - c1],
                "store_s": [w3 - w2, c3 - c2],
                "total_s": w3 - w0,
                "peak_rss_mb": peak,
                "artifact_bytes": sizes,
                "outcomes": {c.kind: c.why[:160] for c in candidates},
            }
        )
    )


class Recorder:
    def __init__(self, inner):
        self.inner, self.contexts = inner, []

    def plan(self, ctx):
        self.contexts.append(ctx)
        return self.inner.plan(ctx)


def latency(planner, contexts) -> tuple[float, float, float]:
    times = []
    for ctx in contexts:
        started = time.perf_counter()
        planner.plan(ctx)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99)], times[-1]


def main(args) -> None:
    shop = SyntheticShop(seed=5)
    started = time.perf_counter()
    result = run_journeys(shop, Planner("auto", exploration=0.3), args.carts, seed=5)
    print(f"simulated {args.carts} carts -> {len(result.decisions)} decisions in {time.perf_counter() - started:.0f} s")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.db) if args.db else Path(tmp) / "logs.db"
        if path.exists():
            print(f"using the logs already in {path}")
        else:
            started = time.perf_counter()
            written = write_logs(path, result, args.decisions)
            print(
                f"wrote {written} logged decisions to SQLite in {time.perf_counter() - started:.0f} s "
                f"({path.stat().st_size / 1e9:.1f} GB)"
            )
        out = subprocess.run([sys.executable, __file__, "--retrain-only", str(path)], capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(out.stderr[-3000:])
        figures = json.loads(out.stdout.strip().splitlines()[-1])
    print(
        f"\nretraining on {figures['decisions']} decisions (and {figures['open_decisions']} of carts whose window is"
        f" open, as partial outcomes), {figures['carts']} carts, {figures['labels']} labels:"
    )
    for step in ("load", "train", "store"):
        wall, cpu = figures[f"{step}_s"]
        print(f"  {step:5s} {wall:6.1f} s wall, {cpu:6.1f} s CPU")
    print(
        f"  total {figures['total_s']:6.1f} s (target <= 60 s); peak RSS {figures['peak_rss_mb']:.0f} MB (target <= 2048 MB)"
    )
    for kind, why in figures["outcomes"].items():
        print(f"  {kind}: {why}")

    now = result.decisions["decided_at"].max().to_pydatetime() + timedelta(days=6)
    candidates = train_models(
        result.decisions,
        result.carts,
        result.labels,
        now=now,
        seed=0,
        thresholds=OPEN,
        epsilon=0.1,
        min_incentive_lift=0.02,
        reward="recoveries",
    )
    models = ModelSet(
        **{c.kind: LoadedModel(n, 1, c.model, {}) for n, c in enumerate(candidates, 1) if c.model is not None}
    )
    recorder = Recorder(Planner("auto", exploration=0.1))
    run_journeys(SyntheticShop(seed=6), recorder, max(args.plans // 2, 10), seed=6)
    contexts = recorder.contexts[: args.plans]
    print(f"\nplan latency over {len(contexts)} contexts (features included), ms:")
    baseline = None
    unshadowed = Planner("auto", models, exploration=0.1)
    unshadowed.shadowed = False  # what the rules' shadow action (decisions.rule_action) costs
    for name, planner in (
        ("rules", Planner("rules")),
        ("exploring rules (Learning)", Planner("auto", exploration=0.1)),
        ("learned, without the shadow", unshadowed),
        ("learned, 3 models Active", Planner("auto", models, exploration=0.1)),
    ):
        latency(planner, contexts[:200])  # warm-up
        p50, p99, worst = latency(planner, contexts)
        baseline = baseline or p99
        print(f"  {name:28s} p50 {p50:5.2f}  p99 {p99:5.2f}  max {worst:6.2f}  (p99 x{p99 / baseline:.1f} of rules)")
    print("  target: p99 <= 5 ms")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--retrain-only":
        retrain_in_this_process(sys.argv[2])
        raise SystemExit(0)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decisions", type=int, default=1_000_000)
    parser.add_argument("--carts", type=int, default=12_000)
    parser.add_argument("--plans", type=int, default=5_000)
    parser.add_argument("--db", default="", help="keep the logs in this SQLite file (reused when it exists)")
    main(parser.parse_args())
