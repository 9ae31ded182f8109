"""A Black-Friday burst: the service at a steady rate of new carts, then twice that rate for a
minute, then the steady rate again - does it catch up, answer every webhook, and lose or repeat
no touch?

    python bench/burst.py --rate 6 [--steady 300] [--burst 60] [--after 300] [--scale 3600]
                          [--service-command ...] [--service-cwd DIR] [--env CR_X=value ...]

The service and the carts are those of bench/journeys.py (its `up`, fed over HTTP by its
CartFeeder, SMS and push to a loopback sink). After the arrivals the bench waits until every
journey has ended (abandonment + the 120 h attribution window, service clock) and prints:
- webhooks: every final answer by status code ("error" = never answered), and answer times;
- lateness of the touches due in each 30 s window (real time) from the start of the burst, and how
  long after the burst ended the p99 was back under 60 s for good;
- touches: due, sent, held (skipped at send time) or failed, overtaken (not sent yet when the
  shopper's order ended the journey - late, and counted in the lateness windows up to the order),
  lost (due before its journey ended, never attempted or left "sending", with no order to explain
  it), duplicates (deliveries the sink got beyond the messages recorded as sent, per recipient), and
  how many touches took more than one attempt and how many were resent after a provider call whose
  outcome was unknown (the only resends send_touch makes);
- journeys: carts, outcomes recorded, workflows still running and failed on the server.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.journeys import (  # noqa: E402
    ATTRIBUTION_S,
    ON_TIME_S,
    TOUCH_HOURS,
    CartFeeder,
    _ts,
    paced,
    quantile,
    running_service,
    service_arguments,
)
from bench.service_db import reading, rows, value  # noqa: E402
from bench.service_processes import embedded_dev_server  # noqa: E402

WINDOW_S = 30.0


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = await embedded_dev_server(Path(tmp))
        address = env.client.service_client.config.target_host
        try:
            async with running_service(args, address) as (api, database, sink):
                feeder = CartFeeder(api, args.scale)
                phases = [(args.rate, args.steady), (2 * args.rate, args.burst), (args.rate, args.after)]
                marks, feeding = [], []
                for rate, seconds in phases:
                    marks.append(time.time())
                    print(f"{time.strftime('%H:%M:%S')} {rate:.1f} carts/s for {seconds:.0f} s", flush=True)
                    feeding.append(asyncio.create_task(paced(rate, seconds, feeder.cart)))
                    await asyncio.sleep(seconds)
                carts = sum(await asyncio.gather(*feeding))
                burst_start, burst_end = marks[1], marks[2]
                drained = await _drain(database, feeder.shop, carts, args.scale)
                report = _report(database, feeder.shop, args.scale, burst_start, burst_end)
                sink_counts = Counter(
                    (path.split("?")[0].strip("/"), body.get("to")) for path, _, body in sink.requests
                )
                running = (await env.client.count_workflows('ExecutionStatus="Running"')).count
                failed = (await env.client.count_workflows('ExecutionStatus="Failed"')).count
        finally:
            await env.shutdown()
    answers = feeder.answers
    print(f"webhooks: {sum(answers.values())} answered {dict(sorted(answers.items()))}")
    print(
        f"  answer time p50 {quantile(feeder.answer_seconds, 0.5):.3f} s, p99 "
        f"{quantile(feeder.answer_seconds, 0.99):.3f} s, max {max(feeder.answer_seconds):.3f} s"
    )
    print("touches due per 30 s window from the burst's start (real time): count, p99 lateness")
    for start, values in sorted(report["windows"].items()):
        flag = "" if quantile(values, 0.99) < ON_TIME_S else "  LATE"
        print(f"  {start:+6.0f} s  {len(values):5d}  p99 {quantile(values, 0.99):6.1f} s{flag}")
    late_windows = [s for s, v in report["windows"].items() if s >= 0 and quantile(v, 0.99) >= ON_TIME_S]
    caught_up = max(0.0, max(late_windows) + WINDOW_S - (burst_end - burst_start)) if late_windows else 0.0
    print(f"caught up {caught_up:.0f} s after the burst ended (p99 under {ON_TIME_S:.0f} s in every later window)")
    duplicates = sum(max(0, sink_counts[key] - n) for key, n in report["sent_to"].items())
    missing = sum(max(0, n - sink_counts[key]) for key, n in report["sent_to"].items())
    t = report["touches"]
    print(
        f"touches: due {t['due']}, sent {t['sent']}, held or failed {t['held']}, "
        f"overtaken by an order {t['overtaken']}, lost {t['lost']}, "
        f"duplicates {duplicates}, recorded as sent but not delivered {missing}; "
        f"touches attempted more than once {t['retried']}, resent after an unconfirmed provider call {t['uncertain_resends']}"
    )
    print(
        f"journeys: {report['carts']} carts, {report['outcomes']} outcomes recorded "
        f"(all ended within {drained:.0f} s of the last arrival), {running} still running, {failed} failed"
    )


async def _drain(database: str, shop: str, carts: int, scale: float) -> float:
    """Wait until every cart of the shop has its outcome (at most the attribution window plus 10 min)."""
    begun = time.time()
    while time.time() - begun < ATTRIBUTION_S / scale + 600:
        with reading(database) as db:
            done = value(
                db, "SELECT count(*) FROM outcomes o JOIN carts c ON c.id = o.cart_id WHERE c.shop = :shop", shop=shop
            )
        if done >= carts:
            break
        await asyncio.sleep(5)
    return time.time() - begun


def _report(database: str, shop: str, scale: float, burst_start: float, burst_end: float) -> dict:
    with reading(database) as db:
        anchor_real, anchor_virtual, _ = rows(db, "SELECT anchor_real, anchor_virtual, scale FROM service_clock")[0]
        carts = value(db, "SELECT count(*) FROM carts WHERE shop = :shop", shop=shop)
        outcomes = value(
            db, "SELECT count(*) FROM outcomes o JOIN carts c ON c.id = o.cart_id WHERE c.shop = :shop", shop=shop
        )
        decisions = rows(
            db,
            """SELECT d.cart_id, d.touch, d.id, d.send_at, c.closed_at, d.decided_at, c.abandoned_at, o.status
               FROM decisions d JOIN carts c ON c.id = d.cart_id LEFT JOIN outcomes o ON o.cart_id = c.id
               WHERE c.shop = :shop AND NOT d.stop AND d.send_at IS NOT NULL""",
            shop=shop,
        )
        messages = {
            (cart, touch): (status, sent_at, channel)
            for cart, touch, status, sent_at, channel in rows(
                db,
                """SELECT m.cart_id, m.touch, m.status, m.sent_at, m.channel FROM messages m
                   JOIN carts c ON c.id = m.cart_id WHERE c.shop = :shop""",
                shop=shop,
            )
        }
        resent, retried = rows(
            db,
            """SELECT coalesce(sum(m.uncertain_resends), 0), coalesce(sum(CASE WHEN m.attempts > 1 THEN 1 ELSE 0 END), 0)
               FROM messages m JOIN carts c ON c.id = m.cart_id WHERE c.shop = :shop""",
            shop=shop,
        )[0]
        recipients = {
            (customer, kind): normalized
            for customer, kind, normalized in rows(
                db,
                """SELECT t.customer_id, t.kind, t.normalized FROM contacts t
                   JOIN customers u ON u.id = t.customer_id WHERE u.shop = :shop""",
                shop=shop,
            )
        }
        customer_of = dict(rows(db, "SELECT id, customer_id FROM carts WHERE shop = :shop", shop=shop))
    latest: dict[tuple[str, int], tuple] = {}
    for row in decisions:
        if (row[0], row[1]) not in latest or row[2] > latest[(row[0], row[1])][2]:
            latest[(row[0], row[1])] = row
    windows: dict[float, list[float]] = defaultdict(list)
    touches = Counter(due=0, sent=0, held=0, overtaken=0, lost=0)
    sent_to: Counter[tuple[str, str | None]] = Counter()
    for (cart, touch), (_c, _t, _id, send_at, closed_at, decided_at, abandoned_at, ending) in latest.items():
        # measured from its plan when planned in time (quiet hours may hold it), else from its hour
        intended = _ts(abandoned_at) + TOUCH_HOURS[min(touch, len(TOUCH_HOURS)) - 1] * 3600
        planned = _ts(send_at) if _ts(decided_at) <= intended else intended
        if closed_at is not None and _ts(closed_at) <= planned:
            continue  # the journey ended (an order) before this touch was due
        touches["due"] += 1
        status, sent_at, channel = messages.get((cart, touch), (None, None, None))
        window = windows[(anchor_real + (planned - anchor_virtual) / scale - burst_start) // WINDOW_S * WINDOW_S]
        if status == "sent":
            touches["sent"] += 1
            window.append(max(0.0, _ts(sent_at) - planned) / scale)
            kind = "phone" if channel == "sms" else "push_token"
            sent_to[(channel, recipients.get((customer_of[cart], kind)))] += 1
        elif status in ("skipped", "failed"):
            touches["held"] += 1
        elif status is None and ending not in (None, "not_recovered"):
            touches["overtaken"] += 1  # an order ended the journey while this touch was late
            window.append((_ts(closed_at) - planned) / scale)
        else:
            touches["lost"] += 1
    touches["uncertain_resends"], touches["retried"] = resent, retried
    return {"carts": carts, "outcomes": outcomes, "windows": windows, "touches": touches, "sent_to": sent_to}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, required=True, help="the steady rate of new carts a second")
    parser.add_argument("--steady", type=float, default=300.0, help="seconds at the rate before the burst")
    parser.add_argument("--burst", type=float, default=60.0, help="seconds at twice the rate")
    parser.add_argument("--after", type=float, default=300.0, help="seconds at the rate after the burst")
    service_arguments(parser)
    asyncio.run(main(parser.parse_args()))
