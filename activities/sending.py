"""send_touch: re-check permission, render, deliver through apprise, record - once per touch.

The message row keyed by `{workflow id}/{touch}` is written before the provider call and marked
sent after it, so a retried activity whose first attempt reached "sent" never sends again.

An attempt is not always over when the next one starts: an overloaded worker's local activity can
time out, or its workflow task can, while the first attempt is still running, and the next attempt
may run in the same process or another. So a touch is sent by one attempt at a time: an attempt
takes the row by raising its attempt count from the value it read (two attempts that read the same
row cannot both take it) and writes it only while the count is still its own, and a row left
"sending" less than `HANDOVER_LEASE` ago is taken to be still inside a live attempt's provider
call; the attempt that finds either fails for a retry. Only a row older than that (its worker died
mid-call) or one whose call ended in an error that leaves open whether the provider took it
("unconfirmed") is sent again, counted in `uncertain_resends`.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.planning import PlanningActivities
from channel_models.compliance.send_window import send_now_problem
from channel_models.vocabulary import CONTACTS_FOR
from message_templates import RenderedMessage, TemplateError, TemplateRenderer
from services.core.clock import from_ts, utc
from services.core.contacts import audience_hash
from services.core.lateness import BehindWarning, seconds_late
from services.core.settings import Settings
from services.messaging.delivery import Delivery, DeliveryError
from services.messaging.message_context import build_message_context
from services.messaging.stored_templates import StoredTemplates
from services.messaging.templates_store import ensure_seeded
from services.messaging.unsubscribe import make_token
from services.model_ops.plan_context import build_plan_context
from services.store.customers import contacts_of
from services.store.tables import Cart, Contact, Customer, Decision, Message, MessageTemplate, saved_id
from workflows import contracts
from workflows.types import INVALID_RECIPIENT, RENDER_FAILED, SendRequest, SendResult, TouchPlan

log = logging.getLogger(__name__)

# How long a live attempt can take from handing a message over to recording it sent: apprise's
# socket timeouts (4 s to connect, 4 s to read by default) bound the provider call, and the commit
# after it waits for a database lock at most WORKER_LOCK_WAIT_S (30 s).
HANDOVER_LEASE = timedelta(seconds=60)
STILL_SENDING = "StillSending"  # retryable: another attempt may be inside the provider call


class SendingActivities(contracts.SendingActivities):
    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        delivery: Delivery | None = None,
        renderer: TemplateRenderer | None = None,
        planning: PlanningActivities | None = None,
    ):
        """`planning`: plans a request's `then_plan` once its touch is sent (without it, never)."""
        self._engine = engine
        self._planning = planning
        self._settings = settings
        self._delivery = delivery or Delivery(settings)
        self._templates = StoredTemplates(renderer or TemplateRenderer(settings.sms_max_segments))
        self._behind = BehindWarning(settings.time_scale)

    @activity.defn
    def send_touch(self, req: SendRequest) -> SendResult:
        result = self._send(req)
        if result.status in ("sent", "already_sent"):
            result.next_plan = self._plan_next(req)
        return result

    def _plan_next(self, req: SendRequest) -> TouchPlan | None:
        """The request's then_plan (if any) planned as of now (the send may have been retried long after it was
        scheduled), in a transaction of its own after the send's; None when it cannot be made
        here - the journey then plans it in a step of its own, so the send itself never fails for it."""
        if self._planning is None or req.then_plan is None:
            return None
        try:
            return self._planning.plan(replace(req.then_plan, now=_left_at(req)))
        except Exception as err:  # noqa: BLE001 - any failure: the journey's own plan step retries it
            log.warning(
                "touch %s sent; planning the next one failed (%s): left to the journey", req.touch, type(err).__name__
            )
            return None

    def _send(self, req: SendRequest) -> SendResult:
        ensure_seeded(self._engine)  # before this session may hold SQLite's write lock
        # Nothing is written before the row is taken, just before the provider call (no autoflush):
        # SQLite's write lock is held for that write and its commit only, not while the message is
        # checked and rendered. Not expired on commit: the rows read here are written back only in
        # the columns this activity sets, so reloading them after a commit would be wasted queries.
        with Session(self._engine, expire_on_commit=False, autoflush=False) as session:
            decision = session.get(Decision, req.decision_id)
            cart = session.get(Cart, req.cart_key)
            if decision is None or cart is None or decision.channel is None:
                raise ApplicationError(
                    f"decision {req.decision_id} for cart {req.cart_key} not found", non_retryable=True
                )
            channel = decision.channel
            message = session.exec(select(Message).where(Message.idempotency_key == req.idempotency_key)).first()
            if message is not None and message.status == "sent":
                return SendResult("already_sent", message.channel, "accepted by the provider on an earlier attempt")
            if (
                message is not None
                and message.status == "sending"
                and message.handed_over_at is not None
                and datetime.now(UTC) - utc(message.handed_over_at) < HANDOVER_LEASE
            ):
                raise ApplicationError("another worker may still be sending this touch", type=STILL_SENDING)

            now = from_ts(_left_at(req))
            # Consent, capture, quiet hours and caps again, now: anything may have changed since planning.
            problem = send_now_problem(
                build_plan_context(
                    session,
                    self._settings,
                    cart,
                    touch=req.touch,
                    max_touches=req.touch,
                    now=now,
                    abandoned_at=utc(cart.abandoned_at) or now,
                    deadline=now,
                    compliance_only=True,
                ),
                channel,
                now,
            )
            if message is None:
                message = Message(
                    idempotency_key=req.idempotency_key,
                    cart_id=cart.id,
                    decision_id=saved_id(decision),
                    touch=req.touch,
                    channel=channel,
                    status="sending",
                    created_at=now,
                )
            earlier_attempts = message.attempts
            message.decision_id, message.channel, message.attempts = saved_id(decision), channel, message.attempts + 1
            if problem:
                message.status, message.provider_result = "skipped", f"blocked at send time: {problem}"
                message.handed_over_at = None
                self._save(session, message, earlier_attempts)
                return SendResult("skipped", channel, message.provider_result)

            customer = session.get(Customer, cart.customer_id) if cart.customer_id else None
            contacts = contacts_of(session, cart.customer_id) if cart.customer_id else {}
            unsubscribe = self._unsubscribe_url(customer, channel)  # one link for body and headers
            try:
                rendered, stored = self._render(
                    session, cart, customer, contacts, decision, channel, req.idempotency_key, unsubscribe
                )
            except TemplateError as err:  # retrying renders the same failure: record it, let the journey move on
                # The reason may quote the shopper's data: it stays in the database, out of logs and Temporal.
                message.status, message.handed_over_at = "failed", None
                message.provider_result = f"not rendered: {err.message}"[:1000]
                self._save(session, message, earlier_attempts)
                log.error("touch %s of cart %s not rendered (reason on the message)", req.touch, cart.id)
                raise ApplicationError(
                    "not rendered (reason on the message)", type=RENDER_FAILED, non_retryable=True
                ) from None
            recipient = self._recipient(channel, contacts)
            if message.handed_over_at is not None:  # an earlier attempt died in, or lost, its provider call
                message.uncertain_resends += 1
                log.warning("resending touch %s of cart %s after an interrupted attempt", req.touch, cart.id)
            message.status, message.handed_over_at = "sending", datetime.now(UTC)
            self._save(session, message, earlier_attempts)  # committed before the provider sees anything
            mine = message.attempts  # the row stays this attempt's while its count is this
            if not activity.info().is_local:  # a local activity has no heartbeat
                activity.heartbeat()
            try:
                delivered = self._delivery.send(
                    channel, recipient, rendered, self._headers(channel, unsubscribe), req.idempotency_key
                )
            except DeliveryError as err:
                message.provider_result = str(err)[:1000]
                if err.permanent:  # a refusal: the provider certainly does not have it
                    message.status, message.handed_over_at = "failed", None
                    self._save(session, message, mine)
                    raise ApplicationError(
                        f"{channel} recipient refused: {err}", type=INVALID_RECIPIENT, non_retryable=True
                    ) from err
                message.status = "unconfirmed"  # a timeout or reset may come after the provider took it
                self._save(session, message, mine)
                raise
            message.status, message.sent_at, message.template = "sent", now, rendered.template
            message.late_seconds = seconds_late(decision.send_at, now)
            self._behind.observe(message.late_seconds)
            message.template_id, message.variant = (stored.id, stored.variant) if stored else (None, None)
            message.handed_over_at = None
            message.rendered_hash = hashlib.sha256(_fingerprint(rendered).encode()).hexdigest()
            message.provider_result = f"accepted by {delivered.provider}"
            cart.journey_state = f"touch {req.touch} sent"
            session.add(cart)
            self._save(session, message, mine)
            log.info("touch sent cart=%s touch=%s channel=%s", cart.id, req.touch, channel)
            return SendResult("sent", channel)

    def _unsubscribe_url(self, customer: Customer | None, channel: str) -> str:
        if customer is None:
            return ""
        token = make_token(self._settings.signing_key(), customer.id, channel, int(time.time()))
        return f"{self._settings.public_url}/unsubscribe/{token}"

    def _render(
        self,
        session: Session,
        cart: Cart,
        customer: Customer | None,
        contacts: dict[str, Contact],
        decision: Decision,
        channel: str,
        seed: str,
        unsubscribe: str,
    ) -> tuple[RenderedMessage, MessageTemplate | None]:
        returning = (
            customer is not None
            and session.exec(select(Cart.id).where(Cart.customer_id == customer.id, Cart.status == "completed")).first()
            is not None
        )
        context = build_message_context(
            self._settings, cart, customer, contacts, decision, returning=returning, unsubscribe_url=unsubscribe
        )
        locale = customer.locale if customer is not None else None
        return self._templates.render(session, channel, decision.reason, locale, context, seed)

    @staticmethod
    def _recipient(channel: str, contacts: dict[str, Contact]) -> str:
        if channel == "retargeting":
            for kind in CONTACTS_FOR[channel]:
                if kind in contacts and (hashed := audience_hash(contacts[kind].normalized)):
                    return hashed
        elif (kind := CONTACTS_FOR[channel][0]) in contacts:
            recipient = contacts[kind].normalized if channel != "push" else contacts[kind].value
            if recipient:
                return recipient
        raise ApplicationError(f"no {channel} recipient on file", type=INVALID_RECIPIENT, non_retryable=True)

    @staticmethod
    def _headers(channel: str, unsubscribe: str) -> dict[str, str]:
        if channel != "email" or not unsubscribe:
            return {}
        return {
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }

    @staticmethod
    def _save(session: Session, message: Message, expected_attempts: int) -> None:
        """Write the row and commit, if it is still this attempt's: its attempt count is compared
        with `expected_attempts` (the count this attempt read, or set when it took the row) in the
        same statement that writes it, so an attempt that another one overtook - one that outlived
        its timeout - writes nothing and fails for a retry. A new row is written by its unique
        idempotency key instead."""
        if message.id is None:
            session.add(message)
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                if session.exec(select(Message.id).where(Message.idempotency_key == message.idempotency_key)).first():
                    raise ApplicationError("another attempt took this touch meanwhile", type=STILL_SENDING) from None
                raise
            return
        owned = session.connection().execute(
            update(Message)
            .where(col(Message.id) == message.id, col(Message.attempts) == expected_attempts)
            .values(attempts=message.attempts)
        )
        if owned.rowcount != 1:
            session.rollback()
            raise ApplicationError("another attempt took this touch meanwhile", type=STILL_SENDING)
        session.add(message)
        session.commit()


def _left_at(req: SendRequest) -> float:
    """The time (service clock) the message leaves, not when it was scheduled: a retry may run much later."""
    return req.clock.to_service(time.time()) if req.clock else req.now


def _fingerprint(message: RenderedMessage) -> str:
    return "\x00".join(str(part) for part in (message.subject, message.html, message.text, message.payload))
