"""Webhook ingest against plain `start_workflow`, on the same embedded dev server, in the same run.

    python bench/ingest.py [--n 2000] [--concurrency 32]

Baseline: N `client.start_workflow(CartRecoveryWorkflow.run, ...)` calls, C in flight.
Ingest:   N signed Shopify `checkouts/create` webhooks handed straight to the real FastAPI app as
          ASGI calls (so no HTTP client's CPU is counted - in production that is Shopify's):
          size limit, HMAC check, JSON + schema parsing, dedupe, one SQLite transaction (customer,
          contacts, consent, cart, receipt), signal-with-start.
No worker runs in either phase, so both leave the same number of idle journeys on the server.
The two phases alternate (baseline, ingest, baseline, ingest) and each rate is the median.
Prints both rates and ingest/baseline (target >= 0.9).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.service_processes import embedded_dev_server  # noqa: E402
from services.api.app import create_app  # noqa: E402
from services.core.settings import Settings  # noqa: E402
from services.core.signing import sign_shopify  # noqa: E402
from services.store.db import make_engine  # noqa: E402
from workflows.cart_recovery import CartRecoveryWorkflow  # noqa: E402
from workflows.types import CartUpdated, RecoveryInput  # noqa: E402

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "shopify" / "checkouts_create.json"
SECRET = "bench-secret"


async def bounded(n: int, concurrency: int, make_call) -> float:
    """Run n calls with `concurrency` in flight; return calls per second."""
    queue = iter(range(n))

    async def lane():
        for i in queue:
            await make_call(i)

    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return n / (time.perf_counter() - started)


async def baseline(client, n: int, concurrency: int, queue: str) -> float:
    run = uuid.uuid4().hex[:8]

    async def call(i: int):
        await client.start_workflow(
            CartRecoveryWorkflow.run,
            RecoveryInput(shop="bench", cart_key=f"{run}-{i}"),
            id=f"baseline/{run}/{i}",
            task_queue=queue,
            start_signal=CartRecoveryWorkflow.cart_updated.__name__,
            start_signal_args=[CartUpdated(1)],
        )

    return await bounded(n, concurrency, call)


def webhook_bodies(n: int) -> list[tuple[bytes, dict]]:
    template = json.loads(FIXTURE.read_text())
    run = uuid.uuid4().hex[:8]
    first_id = uuid.uuid4().int % 10**15  # a new shopper per webhook, in every round
    bodies = []
    for i in range(n):
        customer = dict(template["customer"], id=first_id + i, email=f"shopper{run}-{i}@example.com")
        payload = dict(template, token=f"{run}-{i}", email=customer["email"], customer=customer)
        body = json.dumps(payload).encode()
        headers = {
            "X-Shopify-Topic": "checkouts/create",
            "X-Shopify-Hmac-Sha256": sign_shopify(SECRET, body),
            "X-Shopify-Shop-Domain": "bench.myshopify.com",
            "X-Shopify-Webhook-Id": f"{run}-{i}",
            "Content-Type": "application/json",
        }
        bodies.append((body, headers))
    return bodies


async def asgi_post(app, path: str, body: bytes, headers: dict) -> int:
    """One request through the ASGI app, the way uvicorn hands it over."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        + [(b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    delivered, status = False, []

    async def receive():
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # no disconnect during the request

    async def send(message):
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    return status[0]


async def ingest(app, n: int, concurrency: int) -> float:
    bodies = webhook_bodies(n)

    async def call(i: int):
        body, headers = bodies[i]
        status = await asgi_post(app, "/webhooks/shopify", body, headers)
        if status != 200:
            raise RuntimeError(f"webhook {i}: HTTP {status}")

    return await bounded(n, concurrency, call)


async def main(n: int, concurrency: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = await embedded_dev_server(Path(tmp))  # persisted with the same SQLite pragmas as `cartrecovery up`
        try:
            settings = Settings(_env_file=None, data_dir=Path(tmp), shopify_webhook_secret=SECRET, task_queue="bench")
            engine = make_engine(settings.database_url)
            app = create_app(settings, engine=engine, client=env.client)
            async with app.router.lifespan_context(app):
                await baseline(env.client, 50, concurrency, "bench")  # warm-up
                await ingest(app, 50, concurrency)
                base_rates, ingest_rates = [], []
                for r in range(rounds):
                    base_rates.append(await baseline(env.client, n, concurrency, "bench"))
                    ingest_rates.append(await ingest(app, n, concurrency))
                    print(
                        f"round {r + 1}: start_workflow {base_rates[-1]:7.1f}/s   webhook ingest {ingest_rates[-1]:7.1f}/s"
                    )
            engine.dispose()
        finally:
            await env.shutdown()
    b, i = statistics.median(base_rates), statistics.median(ingest_rates)
    print(f"\nplain start_workflow (signal-with-start): {b:7.1f}/s (median of {rounds})")
    print(f"webhook ingest (HMAC + store + start):     {i:7.1f}/s (median of {rounds})")
    print(f"ratio ingest / start_workflow:             {i / b:5.2f}  (target >= 0.90)")
    print(f"n={n} per phase, {concurrency} in flight, SQLite app database, embedded dev server")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(main(args.n, args.concurrency, args.rounds))
