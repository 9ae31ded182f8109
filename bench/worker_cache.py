"""What the worker's journey cache (CR_WORKER_CACHED_WORKFLOWS) costs in memory and saves in CPU.

    python bench/worker_cache.py [--journeys 3000] [--small-cache 100]

The embedded dev server and `cartrecovery worker` in its own process, as `cartrecovery up` runs
them. Each round starts a fresh worker with a given cache size, starts `--journeys` journeys
(CartRecoveryWorkflow watching a cart: a durable idle timer, no activity yet, as every journey is
for the first half hour) and then wakes each one twice with a `cart_updated` signal (the shopper
is still browsing: the idle timer restarts). With a cache that holds them all, a wake is one
workflow task on a journey in memory; with `--small-cache`, nearly every wake finds its journey
pushed out and replays its history in a fresh sandbox first.

Prints the worker's resident memory per cached journey (the price of a large cache) and its CPU
per wake, cached against evicted, measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path

from temporalio.client import Client

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.service_processes import cpu_seconds, embedded_dev_server, rss_mb, worker_process  # noqa: E402
from workflows.cart_recovery import CartRecoveryWorkflow  # noqa: E402
from workflows.types import CartUpdated, RecoveryInput  # noqa: E402

IN_FLIGHT = 16


async def settled(pid: int, quiet_s: float = 1.5) -> None:
    """Until the worker has used no CPU for `quiet_s`: every task handed to it is done."""
    last = cpu_seconds(pid)
    while True:
        await asyncio.sleep(quiet_s)
        now = cpu_seconds(pid)
        if now - last < 0.02:
            return
        last = now


async def each(items, call) -> None:
    lanes = asyncio.Semaphore(IN_FLIGHT)

    async def one(item):
        async with lanes:
            await call(item)

    await asyncio.gather(*(one(item) for item in items))


async def round_(client: Client, data_dir: Path, journeys: int, cached: int) -> dict:
    task_queue = f"bench-cache-{uuid.uuid4().hex[:8]}"
    shop = f"bench-{task_queue}"
    ids = [f"recovery/{shop}/{n:06d}" for n in range(journeys)]
    settings = {
        "CR_TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "CR_TASK_QUEUE": task_queue,
        "CR_DATA_DIR": str(data_dir),
        "CR_WORKER_CACHED_WORKFLOWS": str(cached),
    }
    with worker_process(settings, data_dir / f"worker-{task_queue}.log") as worker:
        await asyncio.sleep(3)
        await settled(worker.pid)
        idle_mb = rss_mb(worker.pid)

        async def start(n: int):
            await client.start_workflow(
                CartRecoveryWorkflow.run,
                RecoveryInput(shop, f"{n:06d}", abandon_after_s=86_400.0),
                id=ids[n],
                task_queue=task_queue,
                start_signal=CartRecoveryWorkflow.cart_updated.__name__,
                start_signal_args=[CartUpdated(1)],
            )

        await each(range(journeys), start)
        await settled(worker.pid)
        loaded_mb = rss_mb(worker.pid)
        wakes = []
        for version in (2, 3):
            before, t = cpu_seconds(worker.pid), time.monotonic()
            update = CartUpdated(version)
            await each(
                ids,
                lambda workflow_id, update=update: client.get_workflow_handle(workflow_id).signal(
                    CartRecoveryWorkflow.cart_updated, update
                ),
            )
            await settled(worker.pid)
            wakes.append((cpu_seconds(worker.pid) - before, time.monotonic() - t))
    cpu = sum(c for c, _ in wakes)
    return {
        "cached": cached,
        "idle_mb": idle_mb,
        "loaded_mb": loaded_mb,
        "cpu_ms_per_wake": cpu * 1000 / (2 * journeys),
        "wall_s": sum(w for _, w in wakes),
    }


async def main(args) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = await embedded_dev_server(Path(tmp))
        try:
            full = await round_(env.client, Path(tmp), args.journeys, max(args.journeys * 2, 1000))
            small = await round_(env.client, Path(tmp), args.journeys, args.small_cache)
        finally:
            await env.shutdown()
    per_journey_kb = (full["loaded_mb"] - full["idle_mb"]) * 1024 / args.journeys
    print(f"{args.journeys} journeys watching a cart, each woken twice by a cart_updated signal")
    print(
        f"worker RSS idle {full['idle_mb']:.0f} MB, with all {args.journeys} cached {full['loaded_mb']:.0f} MB: "
        f"{per_journey_kb:.0f} KB per cached journey"
    )
    for r in (full, small):
        print(
            f"cache {r['cached']:>6}: {r['cpu_ms_per_wake']:.2f} ms worker CPU per wake "
            f"({2 * args.journeys} wakes in {r['wall_s']:.0f} s); RSS {r['loaded_mb']:.0f} MB"
        )
    print(f"an evicted wake costs {small['cpu_ms_per_wake'] / full['cpu_ms_per_wake']:.1f}x a cached one")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--journeys", type=int, default=3000)
    parser.add_argument("--small-cache", type=int, default=100)
    asyncio.run(main(parser.parse_args()))
