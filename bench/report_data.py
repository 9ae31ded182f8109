"""Synthetic journeys for bench/reports.py: carts with their decisions, messages and outcomes in
realistic proportions, generated with numpy and bulk-loaded (executemany on SQLite, COPY on
PostgreSQL) so a million carts take well under two minutes.

Proportions (per abandoned cart unless said otherwise):
- 4 shops (40/30/20/10%), three on Shopify and one on the generic platform; 3% of all carts are
  bought without abandoning; abandonment spread over 180 days;
- 5% holdout (no decisions, no messages); treated carts get 1 touch 40%, 2 touches 30%, 3 touches
  25%, none 5% (journey stopped), plus a logged stop decision after the last touch half of the time;
- channel by touch (e-mail first, then SMS / push / retargeting), one template per channel and
  reason, half of them already in the editor's "channel/reason@vN/variant" form;
- 97% of journeys finished: 14% of treated and 9% of holdout carts recovered, 85% of treated
  recoveries after a touch (attributed to one of the touches sent); order values ~ log-normal
  around $80; time to recovery ~ exponential, mean 20 h, within the 120 h window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from channel_models import vocabulary

START = np.datetime64("2025-06-01T00:00:00", "us")
SHOPS = np.array(["shop-1", "shop-2", "shop-3", "shop-4"])
SHOP_PLATFORM = np.array(["shopify", "shopify", "generic", "shopify"])
REASONS = np.array(vocabulary.REASONS)
BUCKETS = np.array(vocabulary.BUCKETS)
CHANNELS = np.array(vocabulary.CHANNELS)
CHANNEL_BY_TOUCH = {1: [0.85, 0.05, 0.10, 0.0], 2: [0.60, 0.20, 0.10, 0.10], 3: [0.40, 0.15, 0.10, 0.35]}


@dataclass
class Tables:
    carts: list[tuple]
    decisions: list[tuple]
    messages: list[tuple]
    outcomes: list[tuple]


def stamps(offsets_s: np.ndarray) -> np.ndarray:
    """ISO timestamps as SQLAlchemy stores them on SQLite (and PostgreSQL parses)."""
    return np.char.replace(np.datetime_as_string(START + (offsets_s * 1e6).astype("timedelta64[us]")), "T", " ")


def generate(n: int, seed: int = 7, chunk: int = 100_000):
    """Tables of n carts, yielded in chunks (a million carts at once would hold ~6 GB of tuples)."""
    rng = np.random.default_rng(seed)
    first_decision = first_message = 1
    for start in range(0, n, chunk):
        tables = generate_chunk(rng, start, min(chunk, n - start), n, first_decision, first_message)
        first_decision += len(tables.decisions)
        first_message += len(tables.messages)
        yield tables


def generate_chunk(rng, start: int, n: int, total: int, first_decision: int, first_message: int) -> Tables:
    # opaque 32-hex keys like services.store.carts.cart_key, rows arriving in abandonment order
    halves = rng.integers(0, 2**63, (n, 2))
    ids = np.array([f"{a:016x}{b:016x}" for a, b in halves.tolist()])
    shop_ix = rng.choice(4, n, p=[0.4, 0.3, 0.2, 0.1])
    value = np.round(rng.lognormal(np.log(80 * 100), 0.6, n)).astype(np.int64)
    abandoned = rng.random(n) >= 0.03
    holdout = abandoned & (rng.random(n) < 0.05)
    treated = abandoned & ~holdout
    abandon_s = (start + np.arange(n) + rng.random(n)) / total * 180 * 86400
    finished = abandoned & (rng.random(n) < 0.97)

    # touches sent per treated cart, and the carts' reason and bucket as the planner inferred them
    sent = np.where(treated, rng.choice(4, n, p=[0.05, 0.40, 0.30, 0.25]), 0)
    stop_logged = treated & (sent < 3) & (rng.random(n) < 0.5)
    reason_ix = rng.choice(5, n, p=[0.25, 0.25, 0.2, 0.1, 0.2])
    bucket_ix = rng.choice(5, n)
    recovered = finished & (rng.random(n) < np.where(holdout, 0.09, 0.14))
    attributed_touch = np.where(
        recovered & treated & (sent > 0) & (rng.random(n) < 0.85), np.minimum(sent, rng.integers(1, 4, n)), 0
    )
    ttr = np.minimum(rng.exponential(20 * 3600, n), 119 * 3600)

    # decisions: sent touches 1..k, then maybe a stop decision numbered k+1
    per_cart = sent + stop_logged
    d_cart = np.repeat(np.arange(n), per_cart)
    d_touch = np.arange(len(d_cart)) - np.repeat(np.cumsum(per_cart) - per_cart, per_cart) + 1
    d_stop = d_touch > sent[d_cart]
    d_reason = np.where(
        rng.random(len(d_cart)) < 0.1, rng.choice(5, len(d_cart)), reason_ix[d_cart]
    )  # re-inferred later
    d_channel = np.full(len(d_cart), -1)
    for touch, p in CHANNEL_BY_TOUCH.items():
        at = (d_touch == touch) & ~d_stop
        d_channel[at] = rng.choice(4, at.sum(), p=p)
    names = CHANNELS.tolist()
    d_ids = np.arange(first_decision, first_decision + len(d_cart))
    d_at = abandon_s[d_cart] + np.where(d_touch == 1, 3600, (d_touch - 1) * 86400)
    d_at_s = stamps(d_at)
    propensity = (bucket_ix[d_cart] * 0.2 + 0.1).round(3)

    decisions = list(
        zip(
            d_ids.tolist(),
            ids[d_cart].tolist(),
            d_touch.tolist(),
            d_at_s.tolist(),
            ["rules-v1"] * len(d_cart),
            d_stop.tolist(),
            [names[c] if c >= 0 else None for c in d_channel.tolist()],
            REASONS[d_reason].tolist(),
            [0.7] * len(d_cart),
            propensity.tolist(),
            BUCKETS[bucket_ix[d_cart]].tolist(),
            [1.0] * len(d_cart),
            ["{}"] * len(d_cart),
            ["{}"] * len(d_cart),
            ["[]"] * len(d_cart),
            ["{}"] * len(d_cart),
        )
    )

    m = ~d_stop
    m_cart, m_touch, m_channel = d_cart[m], d_touch[m], CHANNELS[d_channel[m]]
    variant_form = rng.random(len(m_cart)) < 0.5
    base = np.char.add(np.char.add(m_channel, "/"), REASONS[d_reason[m]])
    suffix = np.char.add(
        np.char.add("@v", rng.integers(1, 3, len(m_cart)).astype(str)),
        np.char.add("/", np.where(rng.random(len(m_cart)) < 0.5, "A", "B")),
    )
    template = np.where(variant_form, np.char.add(base, suffix), base)
    keys = np.char.add(
        np.char.add(np.char.add("recovery/", SHOPS[shop_ix[m_cart]]), np.char.add("/", ids[m_cart])),
        np.char.add("/", m_touch.astype(str)),
    )
    messages = list(
        zip(
            range(first_message, first_message + len(m_cart)),
            keys.tolist(),
            ids[m_cart].tolist(),
            d_ids[m].tolist(),
            m_touch.tolist(),
            m_channel.tolist(),
            template.tolist(),
            ["sent"] * len(m_cart),
            [1] * len(m_cart),
            [0] * len(m_cart),
            d_at_s[m].tolist(),
            d_at_s[m].tolist(),
        )
    )

    # outcomes of the finished journeys; an attributed recovery names the channel of its touch
    touch1_message = np.cumsum(np.concatenate([[0], sent]))[:-1]  # row of each cart's touch-1 message
    attr_channel = np.where(
        attributed_touch > 0, m_channel[np.minimum(touch1_message + attributed_touch - 1, len(m_channel) - 1)], ""
    )
    # a fifth of the attributed recoveries came through a touch with a code
    code = np.where(attributed_touch > 0, rng.choice(["", "discount", "free_shipping"], n, p=[0.8, 0.15, 0.05]), "")
    o = np.flatnonzero(finished)
    status = np.where(recovered, "recovered", "not_recovered")
    outcomes = list(
        zip(
            ids[o].tolist(),
            status[o].tolist(),
            holdout[o].tolist(),
            [f"o-{c}" if r else None for c, r in zip(ids[o].tolist(), recovered[o].tolist())],
            np.where(recovered, value, 0)[o].tolist(),
            ["USD"] * len(o),
            [t or None for t in attributed_touch[o].tolist()],
            [c or None for c in attr_channel[o].tolist()],
            [c or None for c in code[o].tolist()],
            sent[o].tolist(),
            [t if r else None for t, r in zip(ttr[o].tolist(), recovered[o].tolist())],
            stamps(abandon_s[o] + 120 * 3600)[:].tolist(),
        )
    )

    # the cart's report reason / bucket: its attributed touch's decision, else its first decision
    touch1_decision = np.cumsum(np.concatenate([[0], per_cart]))[:-1]
    chosen = np.where(attributed_touch > 0, touch1_decision + attributed_touch - 1, touch1_decision)
    planned = per_cart > 0
    cart_reason = np.where(planned, REASONS[d_reason[np.minimum(chosen, len(d_reason) - 1)]], "")
    cart_bucket = np.where(planned, BUCKETS[bucket_ix], "")
    cart_status = np.where(~abandoned, "completed", np.where(finished, status, "open"))
    created = stamps(abandon_s - 1800)
    carts = list(
        zip(
            ids.tolist(),
            SHOPS[shop_ix].tolist(),
            np.char.add("tok-", ids).tolist(),
            SHOP_PLATFORM[shop_ix].tolist(),
            ["USD"] * n,
            value.tolist(),
            ["[]"] * n,
            ["checkout"] * n,
            [1] * n,
            cart_status.tolist(),
            np.where(finished, "done", "attribution").tolist(),
            [h if a else None for h, a in zip(holdout.tolist(), abandoned.tolist())],
            [r or None for r in cart_reason.tolist()],
            [b or None for b in cart_bucket.tolist()],
            created.tolist(),
            created.tolist(),
            [s if a else None for s, a in zip(stamps(abandon_s).tolist(), abandoned.tolist())],
            [None] * n,
        )
    )
    return Tables(carts, decisions, messages, outcomes)
