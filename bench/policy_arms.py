"""The service side of bench/policy.py: arms run as whole services, retraining through the API, arm results."""

from __future__ import annotations

import asyncio
import contextlib
import email.message
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from sqlmodel import Session, col, select

from bench.service_processes import cpu_seconds, rss_mb, worker_process
from bench.shop_loop import ShopLoop
from channel_models.simulator import SyntheticShop
from services.api.app import create_app
from services.core.settings import Settings
from services.entrypoints.worker import build_worker
from services.store.frames.training_data import load_frames
from services.store.tables import Cart, Decision, Message, Outcome
from tests.utils.e2e.sinks import HttpSink, SmtpSink, free_port

SECRET = "bench-policy-secret"
ADMIN = "bench-policy-admin-key"
CODES = {"discount": "SAVE10BENCH", "free_shipping": "FREESHIPBENCH"}


def text_of(message: email.message.Message) -> str:
    parts = message.walk() if message.is_multipart() else [message]
    return "\n".join(
        part.get_payload(decode=True).decode(errors="replace")
        for part in parts
        if part.get_content_maintype() == "text"
    )


class Sinks:
    """Hands what the SMTP and HTTP sinks received to the ShopLoop whose shopper it was sent to."""

    def __init__(self, smtp: SmtpSink, http: HttpSink):
        self.smtp, self.http, self.seen_smtp, self.seen_http = smtp, http, 0, 0

    def pump(self, loops: list[ShopLoop]) -> None:
        def deliver(channel: str, recipient: str, text: str) -> None:
            key = recipient.strip().lower()
            owner = next((loop for loop in loops if key in loop.by_recipient), loops[0])  # loops[0] counts it unmatched
            owner.delivered(channel, recipient, text)

        for rcpts, message in self.smtp.messages[self.seen_smtp :]:
            for rcpt in rcpts:
                deliver("email", rcpt, text_of(message))
        self.seen_smtp = len(self.smtp.messages)
        for path, _, payload in self.http.requests[self.seen_http :]:
            channel = {"/sms": "sms", "/push": "push", "/audience": "retargeting"}.get(path.split("?")[0])
            if channel:
                deliver(channel, str(payload.get("to", "")), str(payload.get("message", "")))
        self.seen_http = len(self.http.requests)


@dataclass
class Arm:
    name: str  # also the shop name its carts are stored under: bench-<name>
    policy: str
    exploration: float


async def run_phase(
    env, engine, base: dict, sinks: Sinks, *, shop: SyntheticShop, carts: int, arms: list[Arm], rate: float
) -> None:
    """`carts` shoppers at `rate` a second, dealt to the arms by customer (a returning customer stays
    in their arm): each arm is a whole service - its own uvicorn API and `cartrecovery worker`
    process on its own task queue - so the arms run side by side under the same load and clock."""
    async with contextlib.AsyncExitStack() as stack:
        loops = []
        for arm in arms:
            values = dict(
                base,
                policy=arm.policy,
                exploration=arm.exploration,
                api_port=free_port(),
                task_queue=f"bench-{arm.name}-{uuid.uuid4().hex[:8]}",
            )
            settings = Settings(_env_file=None, **values)
            port = await stack.enter_async_context(api_server(settings, env, engine))
            worker = stack.enter_context(
                worker_process(
                    {
                        "CR_TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
                        **{f"CR_{key.upper()}": str(value) for key, value in values.items()},
                    },
                    Path(values["data_dir"]) / f"worker-{values['task_queue']}.log",
                )
            )
            stack.callback(report_worker, values["task_queue"], worker.pid)  # before the worker stops
            client = await stack.enter_async_context(httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60))
            loops.append(
                ShopLoop(
                    shop,
                    client,
                    shop_name=f"bench-{arm.name}",
                    secret=SECRET,
                    time_scale=base["time_scale"],
                    abandon_after_hours=settings.abandon_after_minutes / 60,
                    horizon_hours=settings.attribution_window_hours,
                    incentive_codes=CODES,
                )
            )
        pump = asyncio.create_task(_pump(sinks, loops))
        started = time.monotonic()
        lanes = asyncio.Semaphore(8)  # checkouts in flight: one shopper's webhooks go in order

        async def checkout(loop, shopper):
            async with lanes:
                await loop.checkout(shopper)

        posting = []
        for n, shopper in enumerate(shop.shoppers(carts)):
            posting.append(asyncio.create_task(checkout(loops[shopper.customer.index % len(loops)], shopper)))
            await asyncio.sleep(max(0.0, started + (n + 1) / rate - time.monotonic()))
        await asyncio.gather(*posting)
        names = ", ".join(arm.name for arm in arms)
        print(
            f"  {names}: {carts} checkouts posted in {time.monotonic() - started:.0f} s; waiting for outcomes",
            flush=True,
        )
        await _wait_for_outcomes(engine, [loop.shop_name for loop in loops], carts, base)
        for loop in loops:
            await loop.drain()
        pump.cancel()
        for arm, loop in zip(arms, loops):
            print(
                f"  {arm.name}: done after {time.monotonic() - started:.0f} s; webhook statuses {loop.statuses}, "
                f"unmatched messages {loop.unmatched}; {lateness(engine, loop.shop_name)}",
                flush=True,
            )


@contextlib.asynccontextmanager
async def api_server(settings: Settings, env, engine):
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, engine=engine, client=env.client),
            host="127.0.0.1",
            port=settings.api_port,
            log_level="warning",
        )
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    try:
        yield settings.api_port
    finally:
        server.should_exit = True
        await serving


def report_worker(task_queue: str, pid: int) -> None:
    print(f"  worker {task_queue}: {cpu_seconds(pid):.0f} CPU s, peak RSS {rss_mb(pid, peak=True):.0f} MB", flush=True)


def lateness(engine, shop_name: str) -> str:
    """How late the service delivered against its own plan (sent_at - the decision's send_at, on the
    service clock): the bench is only fair while this stays small next to the shop's timing."""
    with Session(engine) as session:
        rows = session.exec(
            select(Message.sent_at, Decision.send_at)
            .join(Decision, col(Decision.id) == col(Message.decision_id))
            .join(Cart, col(Cart.id) == col(Message.cart_id))
            .where(Cart.shop == shop_name, col(Message.sent_at).is_not(None))
        ).all()
    late = sorted(max(0.0, (sent - planned).total_seconds() / 60) for sent, planned in rows if planned is not None)
    if not late:
        return "no messages"
    return (
        f"{len(late)} messages delivered late by median {late[len(late) // 2]:.0f} min, "
        f"p90 {late[int(len(late) * 0.9)]:.0f} min (service clock)"
    )


async def _pump(sinks: Sinks, loops: list[ShopLoop]) -> None:
    while True:
        sinks.pump(loops)
        await asyncio.sleep(0.05)


async def _wait_for_outcomes(engine, shop_names: list[str], carts: int, base: dict) -> None:
    window_real = Settings(_env_file=None, **base).attribution_window_hours * 3600 / base["time_scale"]
    deadline = time.monotonic() + window_real * 3 + 600
    while time.monotonic() < deadline:
        with Session(engine) as session:
            done = session.exec(
                select(Outcome.cart_id)
                .join(Cart, col(Cart.id) == col(Outcome.cart_id))
                .where(col(Cart.shop).in_(shop_names))
            ).all()
        if len(done) >= carts:
            return
        await asyncio.sleep(2)
    print(f"  warning: only {len(done)} of {carts} journeys ended in time", flush=True)


async def retrain(base: dict, env, engine) -> dict:
    settings = Settings(_env_file=None, **base, task_queue=f"bench-{uuid.uuid4().hex[:8]}", api_port=free_port())
    app = create_app(settings, engine=engine, client=env.client)
    transport = httpx.ASGITransport(app=app)
    async with build_worker(env.client, settings, engine), app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=60) as client:
            headers = {"Authorization": f"Bearer {ADMIN}"}
            started = await client.post("/v1/models/retrain", headers=headers)
            started.raise_for_status()
            workflow_id = started.json()["workflow_id"]
            while True:
                state = (await client.get(f"/v1/models/retrain/{workflow_id}", headers=headers)).json()
                if state.get("status") not in ("running", None):
                    break
                await asyncio.sleep(1)
            return (await client.get("/v1/models", headers=headers)).json() | {"retrain": state}


def arm_rates(engine, shop_name: str) -> dict:
    with Session(engine) as session:
        rows = session.exec(
            select(Outcome.holdout, Outcome.status)
            .join(Cart, col(Cart.id) == col(Outcome.cart_id))
            .where(Cart.shop == shop_name, col(Outcome.status).in_(("recovered", "not_recovered")))
        ).all()
    treated = [s == "recovered" for h, s in rows if not h]
    holdout = [s == "recovered" for h, s in rows if h]
    return {"treated_n": len(treated), "treated": sum(treated), "holdout_n": len(holdout), "holdout": sum(holdout)}


def achieved_value(engine, shop_name: str) -> tuple[float, int]:
    frames = load_frames(engine)
    with Session(engine) as session:
        ids = set(session.exec(select(Cart.id).where(Cart.shop == shop_name)).all())
    decisions = frames.decisions[frames.decisions["cart_id"].isin(ids)]
    return float(decisions["reward"].mean()), len(decisions)
