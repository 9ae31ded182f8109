"""send_touch against a real SQLite database with a recording fake in place of apprise."""

from __future__ import annotations

import hashlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlmodel import Session, select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import sending
from activities.sending import HANDOVER_LEASE, STILL_SENDING, SendingActivities
from message_templates import TemplateError, TemplateRenderer
from message_templates.checks import MAX_EMAIL_HTML_BYTES
from message_templates.context_limits import MAX_CART_LINES, MAX_IMAGE_URL_CHARS, MAX_ITEM_TEXT_CHARS, MAX_ITEMS_SHOWN
from message_templates.validation import MAX_SUBJECT_CHARS
from services.core.events import CartEvent, ConsentChange, ConsentEvent, Contact, LineItem
from services.core.settings import Settings
from services.ingest.intake import store_event
from services.messaging.click_links import make_click_token
from services.messaging.delivery import DeliveryError
from services.reports.send_timing import send_timing
from services.store.carts import cart_key
from services.store.tables import Decision, Message
from tests.utils.doubles import FakeDelivery
from workflows.types import RENDER_FAILED, SendRequest

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SHOP = "send-shop"


def settings(tmp_path) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=tmp_path,
        email_url="mailto://localhost?to={to}",
        sms_url="json://localhost/sms",
        retargeting_url="json://localhost/aud",
        email_from="s@example.com",
        shop_address="1 Road",
        secret_key="k" * 32,
    )


def cart_with_decision(engine, cfg, channel="email", consents=(), first_name="Ada", items=None) -> tuple[str, int]:
    event = CartEvent(
        cart_id="c-1",
        contact=Contact(customer_id="cust-1", email="Ada@Example.com", phone="+1 201 555 0123", first_name=first_name),
        consents=list(consents),
        total_value=Decimal("42.00"),
        items=items or [LineItem(title="Teapot", quantity=1, price=Decimal("42.00"))],
        recovery_url="https://shop.example/recover/c-1",
    )
    store_event(engine, cfg, SHOP, "generic", event, NOW)
    key = cart_key(SHOP, "c-1")
    with Session(engine) as session:
        decision = Decision(
            cart_id=key,
            touch=1,
            decided_at=NOW,
            policy="test",
            channel=channel,
            send_at=NOW,
            reason="other",
            reason_confidence=0.2,
            propensity=0.3,
            bucket="Low",
        )
        session.add(decision)
        session.commit()
        return key, decision.id


def revoke_email(engine, cfg) -> None:
    """The cart's customer withdraws e-mail consent (after the touch was planned)."""
    store_event(
        engine,
        cfg,
        SHOP,
        "generic",
        ConsentEvent(contact=Contact(customer_id="cust-1"), consents=[ConsentChange(channel="email", state="revoked")]),
        NOW,
    )


def request(key: str, decision_id: int) -> SendRequest:
    return SendRequest(key, decision_id, 1, f"recovery/{SHOP}/{key}/1", NOW.timestamp())


def messages(engine) -> list[Message]:
    with Session(engine) as session:
        return list(session.exec(select(Message)))


def test_sends_once_and_a_retry_does_not_send_again(sqlite_engine, tmp_path):
    cfg = settings(tmp_path)
    key, decision = cart_with_decision(sqlite_engine, cfg)
    delivery = FakeDelivery()
    acts = SendingActivities(sqlite_engine, cfg, delivery=delivery)
    env = ActivityEnvironment()
    first = env.run(acts.send_touch, request(key, decision))
    again = env.run(acts.send_touch, request(key, decision))
    assert (first.status, again.status) == ("sent", "already_sent")
    assert len(delivery.sent) == 1
    channel, recipient, rendered, headers, idem = delivery.sent[0]
    assert (channel, recipient) == ("email", "ada@example.com")
    # the cart link is the tracked one, naming this cart's touch 1; it redirects to the recovery URL
    link = f"{cfg.public_url}/c/{make_click_token(cfg.signing_key(), key, 1)}"
    assert "Teapot" in rendered.html
    assert link in rendered.text
    assert link in rendered.html
    assert "https://shop.example/recover/c-1" not in rendered.text + rendered.html
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert idem == f"recovery/{SHOP}/{key}/1"
    [row] = messages(sqlite_engine)
    assert (row.status, row.attempts, row.handed_over_at, row.uncertain_resends) == ("sent", 1, None, 0)
    assert row.rendered_hash
    assert row.template.startswith("email/")


def test_consent_revoked_before_send_skips_without_delivery(sqlite_engine, tmp_path):
    cfg = settings(tmp_path)
    key, decision = cart_with_decision(sqlite_engine, cfg)
    revoke_email(sqlite_engine, cfg)
    delivery = FakeDelivery()
    result = ActivityEnvironment().run(
        SendingActivities(sqlite_engine, cfg, delivery=delivery).send_touch, request(key, decision)
    )
    assert result.status == "skipped"
    assert "unsubscribed" in result.detail
    assert delivery.sent == []
    assert messages(sqlite_engine)[0].status == "skipped"


def test_sms_needs_explicit_consent_even_when_planned(sqlite_engine, tmp_path):
    cfg = settings(tmp_path)
    key, decision = cart_with_decision(sqlite_engine, cfg, channel="sms")
    delivery = FakeDelivery()
    result = ActivityEnvironment().run(
        SendingActivities(sqlite_engine, cfg, delivery=delivery).send_touch, request(key, decision)
    )
    assert result.status == "skipped"
    assert delivery.sent == []


def test_transient_failure_raises_for_retry_and_the_retry_sends(sqlite_engine, tmp_path):
    cfg = settings(tmp_path)
    key, decision = cart_with_decision(sqlite_engine, cfg)
    delivery = FakeDelivery(fail=DeliveryError("connection reset", permanent=False))
    acts = SendingActivities(sqlite_engine, cfg, delivery=delivery)
    with pytest.raises(DeliveryError):
        ActivityEnvironment().run(acts.send_touch, request(key, decision))
    [row] = messages(sqlite_engine)
    # a timeout or reset may come after the provider took the message: counted as uncertain
    assert row.status == "unconfirmed"
    assert row.handed_over_at is not None
    delivery.fail = None
    assert ActivityEnvironment().run(acts.send_touch, request(key, decision)).status == "sent"
    [row] = messages(sqlite_engine)
    assert (row.attempts, row.uncertain_resends, row.handed_over_at) == (2, 1, None)


def test_permanent_failure_is_non_retryable_invalid_recipient(sqlite_engine, tmp_path):
    cfg = settings(tmp_path)
    key, decision = cart_with_decision(sqlite_engine, cfg)
    acts = SendingActivities(
        sqlite_engine, cfg, delivery=FakeDelivery(fail=DeliveryError("550 no such user", permanent=True))
    )
    with pytest.raises(ApplicationError) as raised:
        ActivityEnvironment().run(acts.send_touch, request(key, decision))
    assert raised.value.type == "InvalidRecipient"
    assert raised.value.non_retryable
    assert messages(sqlite_engine)[0].status == "failed"


def left_sending(engine, key, decision, handed_over_at, status="sending") -> None:
    """The row an attempt leaves while it is inside its provider call (or after dying there)."""
    with Session(engine) as session:
        session.add(
            Message(
                idempotency_key=f"recovery/{SHOP}/{key}/1",
                cart_id=key,
                decision_id=decision,
                touch=1,
                channel="email",
                status=status,
                attempts=1,
                handed_over_at=handed_over_at,
                created_at=NOW,
            )
        )
        session.commit()


def test_attempt_killed_inside_the_provider_call_is_resent_with_the_same_key_and_counted(sqlite_engine, tmp_path):
    cfg = settings(tmp_path)
    key, decision = cart_with_decision(sqlite_engine, cfg)
    left_sending(sqlite_engine, key, decision, NOW)  # what a worker killed mid-call leaves behind
    delivery = FakeDelivery()
    result = ActivityEnvironment().run(
        SendingActivities(sqlite_engine, cfg, delivery=delivery).send_touch, request(key, decision)
    )
    assert result.status == "sent"
    assert delivery.sent[0][4] == f"recovery/{SHOP}/{key}/1"
    [row] = messages(sqlite_engine)
    assert (row.attempts, row.uncertain_resends, row.status) == (2, 1, "sent")


def test_a_touch_another_worker_handed_over_moments_ago_is_not_sent_again_yet(sqlite_engine, tmp_path):
    cfg = settings(tmp_path)
    key, decision = cart_with_decision(sqlite_engine, cfg)
    left_sending(sqlite_engine, key, decision, datetime.now(UTC) - HANDOVER_LEASE / 2)
    delivery = FakeDelivery()
    acts = SendingActivities(sqlite_engine, cfg, delivery=delivery)
    with pytest.raises(ApplicationError) as raised:
        ActivityEnvironment().run(acts.send_touch, request(key, decision))
    assert raised.value.type == STILL_SENDING
    assert not raised.value.non_retryable  # Temporal asks again later
    assert delivery.sent == []
    [row] = messages(sqlite_engine)
    assert (row.status, row.attempts, row.uncertain_resends) == ("sending", 1, 0)


def test_an_unconfirmed_send_is_sent_again_at_once_and_counted(sqlite_engine, tmp_path):
    cfg = settings(tmp_path)
    key, decision = cart_with_decision(sqlite_engine, cfg)
    left_sending(sqlite_engine, key, decision, datetime.now(UTC), status="unconfirmed")
    delivery = FakeDelivery()
    result = ActivityEnvironment().run(
        SendingActivities(sqlite_engine, cfg, delivery=delivery).send_touch, request(key, decision)
    )
    assert result.status == "sent"
    [row] = messages(sqlite_engine)
    assert (row.attempts, row.uncertain_resends, len(delivery.sent)) == (2, 1, 1)


class BlockingDelivery(FakeDelivery):
    """Holds every send inside the provider call until released."""

    def __init__(self):
        super().__init__()
        self.inside, self.release = threading.Event(), threading.Event()

    def send(self, *args, **kwargs):
        self.inside.set()
        assert self.release.wait(10)
        return super().send(*args, **kwargs)


def test_an_attempt_overlapping_a_live_one_sends_nothing(sqlite_engine, tmp_path):
    """A local activity that timed out while its thread still runs is attempted again meanwhile."""
    cfg = settings(tmp_path)
    key, decision = cart_with_decision(sqlite_engine, cfg)
    delivery = BlockingDelivery()
    acts = SendingActivities(sqlite_engine, cfg, delivery=delivery)
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(ActivityEnvironment().run, acts.send_touch, request(key, decision))
        assert delivery.inside.wait(10)
        with pytest.raises(ApplicationError) as raised:
            ActivityEnvironment().run(acts.send_touch, request(key, decision))
        assert raised.value.type == STILL_SENDING
        delivery.release.set()
        assert first.result(10).status == "sent"
    assert ActivityEnvironment().run(acts.send_touch, request(key, decision)).status == "already_sent"
    assert len(delivery.sent) == 1
    [row] = messages(sqlite_engine)
    assert (row.attempts, row.uncertain_resends) == (1, 0)


def test_of_two_workers_retrying_one_unconfirmed_touch_only_one_sends(sqlite_engine, tmp_path, monkeypatch):
    """Both read the row before either took it: the attempt count settles who sends."""
    cfg = settings(tmp_path)
    key, decision = cart_with_decision(sqlite_engine, cfg)
    left_sending(sqlite_engine, key, decision, datetime.now(UTC), status="unconfirmed")
    read, go_on = threading.Event(), threading.Event()
    check = sending.send_now_problem

    def paused_check(*args, **kwargs):  # runs after the row was read, before it is taken
        if threading.current_thread().name.startswith("paused"):
            read.set()
            assert go_on.wait(10)
        return check(*args, **kwargs)

    monkeypatch.setattr(sending, "send_now_problem", paused_check)
    slow_delivery, fast_delivery = FakeDelivery(), FakeDelivery()
    slow = SendingActivities(sqlite_engine, cfg, delivery=slow_delivery)
    fast = SendingActivities(sqlite_engine, cfg, delivery=fast_delivery)
    with ThreadPoolExecutor(1, thread_name_prefix="paused") as pool:
        paused = pool.submit(ActivityEnvironment().run, slow.send_touch, request(key, decision))
        assert read.wait(10)
        assert ActivityEnvironment().run(fast.send_touch, request(key, decision)).status == "sent"
        go_on.set()
        with pytest.raises(ApplicationError) as raised:
            paused.result(10)
    assert raised.value.type == STILL_SENDING
    assert (len(fast_delivery.sent), slow_delivery.sent) == (1, [])
    [row] = messages(sqlite_engine)
    assert (row.status, row.attempts, row.uncertain_resends) == ("sent", 2, 1)


def test_an_overtaken_attempt_that_finds_the_touch_held_does_not_overwrite_the_send(
    sqlite_engine, tmp_path, monkeypatch
):
    """The retry that read the row before another attempt sent it must not mark it skipped (the
    journey would then plan the touch again and send it twice)."""
    cfg = settings(tmp_path)
    key, decision = cart_with_decision(sqlite_engine, cfg)
    left_sending(sqlite_engine, key, decision, datetime.now(UTC), status="unconfirmed")
    read, go_on = threading.Event(), threading.Event()
    check = sending.send_now_problem

    def paused_check(*args, **kwargs):
        if threading.current_thread().name.startswith("paused"):
            read.set()
            assert go_on.wait(10)
            return "frequency cap: a message was sent for this cart moments ago"
        return check(*args, **kwargs)

    monkeypatch.setattr(sending, "send_now_problem", paused_check)
    delivery = FakeDelivery()
    overtaken = SendingActivities(sqlite_engine, cfg, delivery=FakeDelivery())
    with ThreadPoolExecutor(1, thread_name_prefix="paused") as pool:
        paused = pool.submit(ActivityEnvironment().run, overtaken.send_touch, request(key, decision))
        assert read.wait(10)
        fresh = SendingActivities(sqlite_engine, cfg, delivery=delivery)
        assert ActivityEnvironment().run(fresh.send_touch, request(key, decision)).status == "sent"
        go_on.set()
        with pytest.raises(ApplicationError) as raised:
            paused.result(10)
    assert raised.value.type == STILL_SENDING
    [row] = messages(sqlite_engine)
    assert (row.status, row.attempts, len(delivery.sent)) == ("sent", 2, 1)


def test_retargeting_gets_only_a_hashed_identifier(sqlite_engine, tmp_path):
    cfg = settings(tmp_path)
    key, decision = cart_with_decision(
        sqlite_engine, cfg, channel="retargeting", consents=[ConsentChange(channel="retargeting", state="granted")]
    )
    delivery = FakeDelivery()
    ActivityEnvironment().run(
        SendingActivities(sqlite_engine, cfg, delivery=delivery).send_touch, request(key, decision)
    )
    _, recipient, rendered, _, _ = delivery.sent[0]
    assert recipient == hashlib.sha256(b"ada@example.com").hexdigest()
    assert "ada@example.com" not in str(rendered.payload).lower()
    assert "2015550123" not in str(rendered.payload)


def test_a_retry_judges_quiet_hours_by_when_it_runs_not_when_it_was_scheduled(sqlite_engine, tmp_path):
    from workflows.types import ClockSpec

    cfg = settings(tmp_path)
    key, decision = cart_with_decision(
        sqlite_engine, cfg, channel="sms", consents=[ConsentChange(channel="sms", state="granted")]
    )
    scheduled = datetime(2026, 6, 1, 16, 0, tzinfo=UTC)  # noon in New York (the phone's zone)
    late = datetime(2026, 6, 2, 2, 0, tzinfo=UTC).timestamp()  # 22:00 there: the retry runs now
    clock = ClockSpec(anchor_real=time.time(), anchor_virtual=late, scale=1.0)
    req = SendRequest(key, decision, 1, f"recovery/{SHOP}/{key}/1", scheduled.timestamp(), clock)
    delivery = FakeDelivery()
    result = ActivityEnvironment().run(SendingActivities(sqlite_engine, cfg, delivery=delivery).send_touch, req)
    assert result.status == "skipped"
    assert "held" in result.detail
    assert delivery.sent == []


class BrokenRenderer(TemplateRenderer):
    """The active stored template and the packaged default both fail for this cart."""

    def render(self, channel, reason, context):
        raise TemplateError("email subject is 250 characters (max 200)")

    def bind_source(self, channel, sources, reason):
        return lambda context: self.render(channel, reason, context)


def test_a_touch_that_cannot_be_rendered_fails_at_once_with_its_reason(sqlite_engine, tmp_path):
    cfg = settings(tmp_path)
    key, decision = cart_with_decision(sqlite_engine, cfg)
    delivery = FakeDelivery()
    acts = SendingActivities(sqlite_engine, cfg, delivery=delivery, renderer=BrokenRenderer())
    with pytest.raises(ApplicationError) as raised:
        ActivityEnvironment().run(acts.send_touch, request(key, decision))
    assert (raised.value.type, raised.value.non_retryable) == (RENDER_FAILED, True)
    [row] = messages(sqlite_engine)
    assert row.status == "failed"
    assert row.provider_result == "not rendered: email subject is 250 characters (max 200)"
    assert delivery.sent == []


def test_the_longest_name_a_webhook_admits_is_left_out_not_sent_over_the_subject_limit(sqlite_engine, tmp_path):
    cfg = settings(tmp_path)
    longest = "Bartholomew" * 18  # 198 characters: Contact.first_name admits up to 200
    key, decision = cart_with_decision(sqlite_engine, cfg, first_name=longest)
    delivery = FakeDelivery()
    acts = SendingActivities(sqlite_engine, cfg, delivery=delivery)
    assert ActivityEnvironment().run(acts.send_touch, request(key, decision)).status == "sent"
    rendered = delivery.sent[0][2]
    assert "Bartholomew" not in rendered.subject + rendered.html + rendered.text
    assert len(rendered.subject) <= MAX_SUBJECT_CHARS


def test_the_biggest_cart_a_webhook_admits_is_listed_in_part_and_sent(sqlite_engine, tmp_path):
    cfg = settings(tmp_path)
    line = LineItem(
        title="T" * MAX_ITEM_TEXT_CHARS,
        variant_title="V" * MAX_ITEM_TEXT_CHARS,
        image_url="https://cdn.example/" + "i" * (MAX_IMAGE_URL_CHARS - 20),
        quantity=100_000,
        price=Decimal("9999999999.9999"),
    )
    key, decision = cart_with_decision(sqlite_engine, cfg, items=[line] * MAX_CART_LINES)
    delivery = FakeDelivery()
    acts = SendingActivities(sqlite_engine, cfg, delivery=delivery)
    assert ActivityEnvironment().run(acts.send_touch, request(key, decision)).status == "sent"
    rendered = delivery.sent[0][2]
    assert rendered.html.count("T" * MAX_ITEM_TEXT_CHARS) == MAX_ITEMS_SHOWN
    assert f"and {MAX_CART_LINES - MAX_ITEMS_SHOWN} more items" in rendered.text
    assert len(rendered.html.encode()) < MAX_EMAIL_HTML_BYTES


def test_a_send_records_how_late_it_left_against_the_plan(sqlite_engine, tmp_path):
    cfg = settings(tmp_path)
    key, decision = cart_with_decision(sqlite_engine, cfg)
    with Session(sqlite_engine) as session:
        row = session.get_one(Decision, decision)
        row.send_at = NOW - timedelta(minutes=90)  # planned an hour and a half before it ran
        session.add(row)
        session.commit()
    acts = SendingActivities(sqlite_engine, cfg, delivery=FakeDelivery())
    assert ActivityEnvironment().run(acts.send_touch, request(key, decision)).status == "sent"
    [message] = messages(sqlite_engine)
    assert message.late_seconds == 90 * 60
    with Session(sqlite_engine) as session:
        timing = send_timing(session, time_scale=60)
    assert timing == {"sends": 1, "late": 1, "p50": 90.0, "p90": 90.0, "p99": 90.0, "max": 90.0}
