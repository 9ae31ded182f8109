"""How many new carts a second the whole service keeps on time, next to a skeleton that makes the
same Temporal calls and nothing else, on the same embedded server in the same run.

    python bench/journeys.py [--rates 1,2,4,8] [--duration 300] [--scale 3600] [--only service|skeleton]
                             [--service-command "cartrecovery up"] [--service-cwd DIR] [--env CR_X=value ...]

Service: the real service (`cartrecovery up` by default, pointed at the bench's Temporal server
with CR_TEMPORAL_ADDRESS; `--service-command` runs another build, e.g. an older checkout's
`python -m ...`; `--env CR_DATABASE_URL=postgresql+psycopg://...` runs it on PostgreSQL, and the
bench then reads its figures from there), fed over HTTP: per cart a signed generic `cart` webhook (SMS consent and a
phone), a behaviour signal, and an update of the cart a moment later; one cart in ten orders during
its journey. The rule prior plans three touches (SMS and push to loopback HTTP sinks) at 1 h, 24 h
and 72 h after abandonment on the service clock (`--scale` times real time).
Skeleton: a workflow with the same Temporal calls - signal-with-start, the idle timer reset by a
second signal, the first plan (which records the abandonment), per touch a timer to the planned
time and a send activity that plans the next touch, the attribution timer, record_outcome (every
step a local activity, as in the service's journeys since `workflows.cart_recovery.LOCAL_STEPS`
and `FOLDED_STEPS`) - whose activities do nothing, run
unsandboxed by one worker process, started and signalled straight from the client.

At each rate, carts arrive for `--duration` seconds; a touch counts as on time when it left less
than 60 s (real) after its planned time, and a planned touch not sent by the end of the step counts
with its lateness so far. The step is sustained when p99 lateness is under 60 s. Prints per rate:
carts, touches planned / sent, p50 / p99 lateness, and the highest sustained rate of each, and
their ratio (service / skeleton).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
from temporalio import activity, workflow  # noqa: E402
from temporalio.client import Client  # noqa: E402
from temporalio.worker import Worker  # noqa: E402

from bench.service_db import reading, rows  # noqa: E402
from bench.service_processes import ROOT, embedded_dev_server  # noqa: E402
from services.core.clock import utc  # noqa: E402
from services.core.signing import sign_generic  # noqa: E402
from tests.utils.e2e.sinks import HttpSink, free_port  # noqa: E402

SECRET = "bench-journeys-secret"
ADMIN = "Zq8vT3mW9xK2pL7nR4sY6bH1cJ5dF0gA"
ON_TIME_S = 60.0
TOUCH_HOURS = (1.0, 24.0, 72.0)
ABANDON_AFTER_S = 1800
ATTRIBUTION_S = 120 * 3600
ORDER_SHARE = 0.1


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


@dataclass
class Step:
    rate: float
    carts: int
    due: int  # touches due by the end of the step
    sent: int
    p50: float
    p99: float

    @property
    def sustained(self) -> bool:
        return self.due > 0 and self.p99 < ON_TIME_S

    def line(self, name: str) -> str:
        return (
            f"{name:9s} {self.rate:5.1f} carts/s: {self.carts:5d} carts, touches due {self.due:5d}, "
            f"sent {self.sent:5d}, lateness p50 {self.p50:6.1f} s p99 {self.p99:7.1f} s "
            + ("sustained" if self.sustained else "NOT sustained")
        )


# --- the skeleton -------------------------------------------------------------------------------
@dataclass
class SkeletonInput:
    cart: str
    scale: float


@dataclass
class Planned:
    at: float  # service seconds
    touch: int
    scale: float = 1.0


SENDS_FILE_ENV = "BENCH_SKELETON_SENDS"  # the skeleton worker appends "<workflow id> <touch> <lateness>" per send


@activity.defn(name="skeleton_record")
async def skeleton_record(_what: str) -> None:
    return None


@activity.defn(name="skeleton_plan")
async def skeleton_plan(planned: Planned) -> Planned:
    return planned


@dataclass
class SkeletonSend:
    planned: Planned
    then: Planned | None  # the next touch, "planned" by the send as the service's send_touch does


@activity.defn(name="skeleton_send")
async def skeleton_send(send: SkeletonSend) -> Planned | None:
    planned = send.planned
    late = max(0.0, time.time() - planned.at / planned.scale)
    with open(os.environ[SENDS_FILE_ENV], "a") as sends:
        sends.write(f"{activity.info().workflow_id} {planned.touch} {late:.3f}\n")
    return send.then


@workflow.defn(sandboxed=False)
class SkeletonJourney:
    def __init__(self) -> None:
        self.version = 0
        self.ordered = False

    @workflow.signal
    def cart_updated(self, version: int) -> None:
        self.version = max(self.version, version)

    @workflow.signal
    def order_placed(self) -> None:
        self.ordered = True

    @workflow.run
    async def run(self, inp: SkeletonInput) -> None:
        options = dict(start_to_close_timeout=timedelta(seconds=30))
        scale = inp.scale
        while True:
            seen = self.version
            try:
                await workflow.wait_condition(
                    lambda: self.ordered or self.version != seen,  # noqa: B023
                    timeout=timedelta(seconds=ABANDON_AFTER_S / scale),
                )
            except TimeoutError:
                break
            if self.ordered:
                return
        abandoned = workflow.now().timestamp() * scale

        def planned(touch: int) -> Planned | None:
            return (
                Planned(abandoned + TOUCH_HOURS[touch - 1] * 3600, touch, scale) if touch <= len(TOUCH_HOURS) else None
            )

        # the first plan records the abandonment; each send plans the next touch (FOLDED_STEPS)
        plan: Planned | None = await workflow.execute_local_activity(
            skeleton_plan, planned(1), result_type=Planned, **options
        )
        while plan is not None:
            wait = (plan.at - workflow.now().timestamp() * scale) / scale
            if wait > 0:
                try:
                    await workflow.wait_condition(lambda: self.ordered, timeout=timedelta(seconds=wait))
                except TimeoutError:
                    pass
            if self.ordered:
                break
            plan = await workflow.execute_local_activity(
                skeleton_send, SkeletonSend(plan, planned(plan.touch + 1)), result_type=Planned | None, **options
            )
        if not self.ordered:
            remaining = (abandoned + ATTRIBUTION_S - workflow.now().timestamp() * scale) / scale
            if remaining > 0:
                try:
                    await workflow.wait_condition(lambda: self.ordered, timeout=timedelta(seconds=remaining))
                except TimeoutError:
                    pass
        await workflow.execute_local_activity(skeleton_record, "outcome", **options)


def _skeleton_worker(address: str, queue: str, sends: str) -> None:
    os.environ[SENDS_FILE_ENV] = sends

    async def run() -> None:
        client = await Client.connect(address)
        async with Worker(
            client,
            task_queue=queue,
            workflows=[SkeletonJourney],
            activities=[skeleton_record, skeleton_plan, skeleton_send],
        ):
            await asyncio.Event().wait()

    asyncio.run(run())


# --- driving one step ---------------------------------------------------------------------------
async def paced(rate: float, duration: float, make_cart) -> int:
    """Start make_cart(i) at `rate` a second for `duration` seconds; return how many."""
    started, tasks, i = time.monotonic(), [], 0
    while (due := started + i / rate) < started + duration:
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        tasks.append(asyncio.create_task(make_cart(i)))
        i += 1
    await asyncio.gather(*tasks)
    return i


async def skeleton_step(client: Client, queue: str, sends: Path, rate: float, duration: float, scale: float) -> Step:
    run, rng = uuid.uuid4().hex[:6], random.Random(1)
    started: dict[str, float] = {}
    ordered: set[str] = set()

    async def cart(i: int) -> None:
        handle = await client.start_workflow(
            SkeletonJourney.run,
            SkeletonInput(f"{run}-{i}", scale),
            id=f"skeleton-{run}-{i}",
            task_queue=queue,
            start_signal="cart_updated",
            start_signal_args=[1],
        )
        await asyncio.sleep(0.2)
        await handle.signal(SkeletonJourney.cart_updated, 2)
        started[handle.id] = time.time()  # the idle timer runs from here
        if rng.random() < ORDER_SHARE:
            ordered.add(handle.id)
            await asyncio.sleep((ABANDON_AFTER_S + 30 * 3600) / scale)
            await handle.signal(SkeletonJourney.order_placed)

    carts = await paced(rate, duration, cart)
    end = time.time()
    done = {}
    for line in sends.read_text().splitlines() if sends.exists() else []:
        workflow_id, touch, late = line.split()
        done[(workflow_id, int(touch))] = float(late)
    lateness, sent = [], 0
    for workflow_id, begun in started.items():
        for touch, hours in enumerate(TOUCH_HOURS, 1):
            due = begun + (ABANDON_AFTER_S + hours * 3600) / scale
            if due > end or (workflow_id in ordered and hours > 30):
                continue
            if (workflow_id, touch) in done:
                sent += 1
                lateness.append(done[(workflow_id, touch)])
            else:
                lateness.append(end - due)
    return Step(rate, carts, len(lateness), sent, quantile(lateness, 0.5), quantile(lateness, 0.99))


class CartFeeder:
    """Posts a shop's carts as a platform would: signed generic webhooks, a 503 retried after its
    Retry-After (five tries). `answers` counts the final answer of every webhook by status code,
    and "error" for one that never got an answer (a timeout, a refused connection)."""

    def __init__(self, api: httpx.AsyncClient, scale: float, shop: str | None = None):
        self.api, self.scale = api, scale
        self.shop = shop or f"bench-{uuid.uuid4().hex[:6]}"
        self.answers: Counter[str] = Counter()
        self.answer_seconds: list[float] = []
        self._rng = random.Random(2)
        self._carts = 0

    async def post(self, event: dict) -> None:
        body = json.dumps({"id": uuid.uuid4().hex, "shop": self.shop, "event": event}).encode()
        begun = time.monotonic()
        answer = "error"
        for _ in range(5):
            stamp = str(int(time.time()))
            headers = {
                "X-Cartrecovery-Timestamp": stamp,
                "X-Cartrecovery-Hmac-Sha256": sign_generic(SECRET, body, stamp),
            }
            try:
                response = await self.api.post("/webhooks/generic", content=body, headers=headers)
            except httpx.HTTPError:
                answer = "error"
                break
            answer = str(response.status_code)
            if response.status_code != 503:
                break
            await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
        self.answers[answer] += 1
        self.answer_seconds.append(time.monotonic() - begun)

    async def cart(self, _: int = 0) -> None:
        """A new cart of the shop (numbered by the feeder, so phases of one feeder never collide)."""
        i = self._carts
        self._carts += 1
        cart_id = f"{self.shop}-{i}"
        base = {
            "type": "cart",
            "cart_id": cart_id,
            "contact": {
                "customer_id": f"c-{cart_id}",
                "phone": f"+1 201 555 {i % 10000:04d}",
                "push_token": f"tok-{i}",
            },
            "consents": [{"channel": c, "state": "granted", "source": "checkbox"} for c in ("sms", "push")],
            "total_value": "48.00",
            "items": [{"title": "Teapot", "quantity": 1, "price": "48.00"}],
            "recovery_url": "https://shop.example/r/1",
        }
        await self.post(base)
        await self.post({"type": "signal", "cart_id": cart_id, "kind": "shipping_page_view"})
        await asyncio.sleep(0.2)
        await self.post({**base, "total_value": "52.00"})
        if self._rng.random() < ORDER_SHARE:
            await asyncio.sleep((ABANDON_AFTER_S + 30 * 3600) / self.scale)
            await self.post({"type": "order", "order_id": f"o-{cart_id}", "cart_id": cart_id, "total_value": "52.00"})


async def service_step(api: httpx.AsyncClient, database: str, rate: float, duration: float, scale: float) -> Step:
    feeder = CartFeeder(api, scale)
    await paced(rate, duration, feeder.cart)
    return measure_service(database, feeder.shop, rate, scale)


def measure_service(database: str, shop: str, rate: float, scale: float) -> Step:
    """Lateness of every touch due by now, against the schedule the rule prior keeps (1, 24 and
    72 h after abandonment): a touch planned on time (its plan made before that hour) is measured
    from its plan, which may hold it for quiet hours; one planned late, or not planned at all yet
    because the journey fell behind, from the hour it was due. Sent touches count with their
    lateness, unsent ones with their lateness so far (or until the order that ended the journey), an overdue abandonment with its first touch's.
    A journey that ended (an order) or stopped before a touch's hour owes none. Read from columns
    every version of the schema has."""
    with reading(database) as db:
        anchor_real, anchor_virtual, clock_scale = rows(
            db, "SELECT anchor_real, anchor_virtual, scale FROM service_clock"
        )[0]
        now = anchor_virtual + (time.time() - anchor_real) * clock_scale
        carts = rows(
            db,
            "SELECT id, updated_at, abandoned_at, closed_at FROM carts WHERE shop = :shop AND status != 'completed'",
            shop=shop,
        )
        decisions = rows(
            db,
            """SELECT d.cart_id, d.touch, d.id, d.decided_at, d.stop, d.send_at, m.status, m.sent_at
               FROM decisions d JOIN carts c ON c.id = d.cart_id LEFT JOIN messages m ON m.decision_id = d.id
               WHERE c.shop = :shop""",
            shop=shop,
        )
    latest: dict[tuple[str, int], tuple] = {}  # a touch held at send time was planned again: its latest plan
    stopped: dict[str, int] = {}  # cart -> the touch its journey stopped at
    for row in decisions:
        if row[4]:
            stopped[row[0]] = min(stopped.get(row[0], row[1]), row[1])
        elif (row[0], row[1]) not in latest or row[2] > latest[(row[0], row[1])][2]:
            latest[(row[0], row[1])] = row
    lateness, sent = [], 0
    for cart, updated_at, abandoned_at, closed_at in carts:
        abandoned = _ts(abandoned_at) if abandoned_at else _ts(updated_at) + ABANDON_AFTER_S
        ended = _ts(closed_at) if closed_at else None
        for touch, hours in enumerate(TOUCH_HOURS, 1):
            due = abandoned + hours * 3600
            if due > now or (ended is not None and ended <= due) or stopped.get(cart, touch + 1) <= touch:
                continue
            plan = latest.get((cart, touch))
            if plan is not None and _ts(plan[3]) <= due:
                due = _ts(plan[5])  # planned in time: its own plan, quiet hours included
                if due > now:
                    continue
            if plan is not None and plan[6] == "sent":
                sent += 1
                lateness.append(max(0.0, _ts(plan[7]) - due) / scale)
            elif plan is None or plan[6] in (None, "sending", "unconfirmed"):  # late so far, or until an order ended it
                lateness.append(max(0.0, min(now, ended or now) - due) / scale)
    return Step(rate, len(carts), len(lateness), sent, quantile(lateness, 0.5), quantile(lateness, 0.99))


def _ts(text: object) -> float:
    return utc(datetime.fromisoformat(str(text))).timestamp()  # SQLite keeps naive UTC text, PostgreSQL datetimes


# --- main ---------------------------------------------------------------------------------------
async def main(args: argparse.Namespace) -> None:
    rates = [float(r) for r in args.rates.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        env = await embedded_dev_server(Path(tmp))
        address = env.client.service_client.config.target_host
        results: dict[str, list[Step]] = {"skeleton": [], "service": []}
        try:
            if args.only in (None, "skeleton"):
                queue = f"skeleton-{uuid.uuid4().hex[:6]}"
                sends = Path(tmp) / "skeleton-sends.txt"
                worker = multiprocessing.get_context("spawn").Process(
                    target=_skeleton_worker, args=(address, queue, str(sends)), daemon=True
                )
                worker.start()
                try:
                    for rate in rates:
                        step = await skeleton_step(env.client, queue, sends, rate, args.duration, args.scale)
                        print(step.line("skeleton"), flush=True)
                        results["skeleton"].append(step)
                        if not step.sustained:
                            break
                    # the service gets the server quiet: every skeleton journey ends first (its
                    # attribution timer), rather than leaving a backlog to compete with the service
                    await _drained(env.client, 'WorkflowType="SkeletonJourney"', ATTRIBUTION_S / args.scale + 600)
                finally:
                    worker.terminate()
            if args.only in (None, "service"):
                results["service"] = await run_service(args, address, rates)
        finally:
            await env.shutdown()
    best = {name: max((s.rate for s in steps if s.sustained), default=0.0) for name, steps in results.items()}
    print(f"highest sustained rate: service {best['service']:.1f} carts/s, skeleton {best['skeleton']:.1f} carts/s")
    if best["skeleton"]:
        print(f"service / skeleton: {best['service'] / best['skeleton']:.2f}")


async def run_service(args: argparse.Namespace, address: str, rates: list[float]) -> list[Step]:
    steps = []
    async with running_service(args, address) as (api, database, _sink):
        for rate in rates:
            step = await service_step(api, database, rate, args.duration, args.scale)
            print(step.line("service"), flush=True)
            steps.append(step)
            if not step.sustained:
                break
    return steps


@asynccontextmanager
async def running_service(
    args: argparse.Namespace, address: str
) -> AsyncIterator[tuple[httpx.AsyncClient, str, HttpSink]]:
    """The service (`args.service_command` in `args.service_cwd`) on the bench's Temporal server,
    with SMS and push sent to a loopback sink: (an API client, its database URL, the sink)."""
    with tempfile.TemporaryDirectory() as data, HttpSink() as sink:
        port = free_port()
        settings = {
            "CR_TEMPORAL_ADDRESS": address,
            "CR_DATA_DIR": data,
            "CR_API_PORT": str(port),
            "CR_ADMIN_API_KEY": ADMIN,
            "CR_WEBHOOK_SECRET": SECRET,
            "CR_TIME_SCALE": str(args.scale),
            "CR_HOLDOUT_PERCENT": "0",
            "CR_POLICY": "rules",
            "CR_SMS_URL": sink.url("sms?:to={to}"),
            "CR_PUSH_URL": sink.url("push?:to={to}"),
            "CR_SMS_CAP_HOURS": "0",
            "CR_PUSH_CAP_HOURS": "0",
            "CR_TASK_QUEUE": f"bench-{uuid.uuid4().hex[:6]}",
        } | dict(pair.split("=", 1) for pair in args.env)
        log = open(Path(data) / "service.log", "wb")
        service = subprocess.Popen(
            shlex.split(args.service_command),
            cwd=args.service_cwd or ROOT,
            env={k: v for k, v in os.environ.items() if not k.startswith("CR_")} | settings,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as api:
                await _healthy(api)
                yield api, settings.get("CR_DATABASE_URL") or f"sqlite:///{data}/cartrecovery.db", sink
        finally:
            service.send_signal(signal.SIGTERM)
            try:
                service.wait(timeout=30)
            except subprocess.TimeoutExpired:
                service.kill()
            log.close()
            if args.service_log:
                shutil.copy(Path(data) / "service.log", args.service_log)


async def _drained(client: Client, query: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while (await client.count_workflows(f'{query} AND ExecutionStatus="Running"')).count:
        if time.monotonic() > deadline:
            raise SystemExit(f"journeys ({query}) still running after {timeout:.0f} s")
        await asyncio.sleep(5)


async def _healthy(api: httpx.AsyncClient) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if (await api.get("/healthz")).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.5)
    raise SystemExit("the service did not become healthy within 120 s")


def service_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that say which service to run and how (shared with bench/burst.py)."""
    parser.add_argument("--scale", type=float, default=3600.0, help="CR_TIME_SCALE")
    parser.add_argument(
        "--service-command",
        default=f"{sys.executable} -c 'from services.entrypoints.cli import app; app()' up",
        help="how to start the service (it gets CR_* settings in its environment)",
    )
    parser.add_argument("--service-cwd", default="", help="where to run it (default: this checkout)")
    parser.add_argument("--env", action="append", default=[], help="more CR_*=value settings for the service")
    parser.add_argument("--service-log", default="", help="keep the service's log (stdout and stderr) at this path")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="1,2,4,8")
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of arrivals per rate")
    parser.add_argument("--only", choices=("service", "skeleton"))
    service_arguments(parser)
    asyncio.run(main(parser.parse_args()))
