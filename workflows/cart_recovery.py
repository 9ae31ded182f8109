"""CartRecoveryWorkflow: one durable journey per cart.

WATCHING -> (idle for abandon_after) -> ABANDONED -> HOLDOUT or TOUCH 1..max -> ATTRIBUTION -> DONE.

An order before abandonment ends the journey as "completed" (it was never abandoned, so it is not a
recovery). An order after abandonment and before the attribution deadline (abandonment + window)
is a recovery, attributed to the last touch sent before it. A cart update while a touch waits means
the shopper is back: the journey watches for idleness again and then re-plans that touch.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError, is_cancelled_exception

# Plain dataclasses and pure functions, no state: shared with the sandbox instead of re-imported for every journey
# the worker (re)loads - that re-import was a sixth of the worker's CPU under load.
with workflow.unsafe.imports_passed_through():
    from channel_models.holdout import in_holdout
    from workflows.contracts import PlanningActivities, RecordingActivities, SendingActivities
    from workflows.types import (
        INVALID_RECIPIENT,
        RENDER_FAILED,
        AbandonmentRecord,
        CartUpdated,
        ConsentChanged,
        OrderPlaced,
        OutcomeRecord,
        PlanRequest,
        RecoveryInput,
        RecoveryResult,
        SendRequest,
        TouchPlan,
    )

PLAN_OPTIONS: dict[str, Any] = dict(
    start_to_close_timeout=timedelta(seconds=30),
    retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
)
SEND_OPTIONS: dict[str, Any] = dict(
    start_to_close_timeout=timedelta(seconds=60),
    schedule_to_close_timeout=timedelta(hours=1),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=2),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=2),
        non_retryable_error_types=[INVALID_RECIPIENT],
    ),
)
RECORD_OPTIONS: dict[str, Any] = dict(
    start_to_close_timeout=timedelta(seconds=30),
    retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
)
# A journey's steps - record, plan, send - are short database and provider calls: run as local
# activities they cost one marker event each instead of an activity task and a workflow task of
# their own (75 history events -> 36 for a two-touch recovery; the server's CPU per journey was
# the limit, bench/journeys.py, docs/PERFORMANCE.md). A worker that dies in a step is noticed when
# the workflow task times out (10 s) and another worker runs the step again; send_touch is safe to
# run again (its idempotency key and "sending" row). Journeys begun before this replay their
# recorded activity tasks (tests/workflows/histories).
LOCAL_STEPS = "local-steps"
# A sent touch's step plans the next touch too, and the first plan marks the cart abandoned: two
# local activities (and two database round trips) fewer per two-touch journey - the plan came
# right after the send in the same workflow task anyway. A journey begun before this keeps its
# separate steps to the end; the separate steps also remain where the folded one could not plan.
FOLDED_STEPS = "folded-steps"
TASK_SEND_OPTIONS = SEND_OPTIONS | dict(
    heartbeat_timeout=timedelta(seconds=30)
)  # the activity-task send of older journeys
MAX_PLANS_PER_TOUCH = 5  # fallbacks after a permanent failure or a consent change
T = TypeVar("T")


@workflow.defn
class CartRecoveryWorkflow:
    @workflow.init
    def __init__(self, inp: RecoveryInput) -> None:
        self._inp = inp
        self._abandoned_at: float | None = None
        self._holdout = False
        self._version = 0
        self._order: OrderPlaced | None = None
        self._order_at: float | None = None
        self._consent_changes = 0
        self._stop_reason: str | None = None
        self._state = "watching"
        self._touches_sent: list[tuple[int, float]] = []  # (touch, sent_at)
        self._folded = False

    # --- signals: only record what happened; stale or repeated events change nothing ---
    @workflow.signal
    def cart_updated(self, update: CartUpdated) -> None:
        self._version = max(self._version, update.version)

    @workflow.signal
    def order_placed(self, order: OrderPlaced) -> None:
        if self._order is None:
            self._order = order
            self._order_at = self._now()

    @workflow.signal
    def consent_changed(self, change: ConsentChanged) -> None:
        self._consent_changes += 1

    @workflow.signal
    def erase(self) -> None:
        self._stop_reason = self._stop_reason or "erased"

    @workflow.signal
    def superseded(self) -> None:
        self._stop_reason = self._stop_reason or "superseded"

    @workflow.query
    def state(self) -> str:
        return self._state

    # --- the journey ---
    @workflow.run
    async def run(self, inp: RecoveryInput) -> RecoveryResult:
        if not await self._watch():
            return await self._finish()
        abandoned_at = self._abandoned_at = self._now()
        holdout = self._holdout = in_holdout(inp.cart_key, inp.holdout_percent)
        self._state = "holdout" if holdout else "abandoned"
        self._folded = workflow.patched(FOLDED_STEPS)
        abandonment = AbandonmentRecord(inp.cart_key, abandoned_at, holdout)
        # folded: the first plan records it - when there is a first plan (no await in between)
        first_plan_records = self._folded and not holdout and inp.max_touches >= 1 and not self._ended()
        if not first_plan_records:
            await self._step(RecordingActivities.record_abandonment, abandonment, RECORD_OPTIONS)
        deadline = abandoned_at + inp.attribution_window_s
        if not holdout:
            await self._touches(abandoned_at, deadline, abandonment if first_plan_records else None)
            self._state = "attribution"
        await self._wait_until(deadline, lambda: self._ended())
        return await self._finish()

    async def _watch(self) -> bool:
        """Wait for the cart to go idle. True when abandoned; False when ordered or stopped first."""
        self._state = "watching"
        while True:
            seen = self._version
            changed = await self._wait_for(
                self._inp.abandon_after_s,
                lambda: self._ended() or self._version != seen,  # noqa: B023 - awaited in this iteration
            )
            if self._ended():
                return False
            if not changed:
                return True

    async def _touches(self, abandoned_at: float, deadline: float, abandonment: AbandonmentRecord | None) -> None:
        """`abandonment`: for the first plan to record (folded steps); None when already recorded."""
        touch, plans = 1, 0
        excluded: list[str] = []
        planned: TouchPlan | None = None  # the next touch, planned by the step that sent this one

        def request(touch: int, excluded: list[str]) -> PlanRequest:
            return PlanRequest(
                self._inp.cart_key, touch, self._inp.max_touches, self._now(), abandoned_at, deadline, excluded
            )

        while touch <= self._inp.max_touches and not self._ended():
            self._state = f"touch {touch}"
            plans += 1
            plan = planned
            if plan is None:
                req = request(touch, excluded)
                req.abandonment, abandonment = abandonment, None
                plan = await self._step(PlanningActivities.plan_touch, req, PLAN_OPTIONS)
            planned = None
            if plan.stop:
                return
            version, consents = self._version, self._consent_changes
            interrupted = await self._wait_until(
                plan.send_at,
                lambda: self._ended() or self._version != version or self._consent_changes != consents,  # noqa: B023
            )
            if self._ended():
                return
            if interrupted:
                if self._version != version and not await self._watch():
                    return
                if plans >= MAX_PLANS_PER_TOUCH * self._inp.max_touches:
                    return
                continue  # re-plan this touch with what changed
            then_plan = request(touch + 1, []) if self._folded and touch < self._inp.max_touches else None
            outcome, planned = await self._send(touch, plan, then_plan)
            if outcome == "sent":
                touch, excluded = touch + 1, []
            elif outcome == "failed":
                excluded = [*excluded, plan.channel] if plan.channel else excluded
            if plans >= MAX_PLANS_PER_TOUCH * self._inp.max_touches:
                return

    async def _send(self, touch: int, plan: TouchPlan, then_plan: PlanRequest | None) -> tuple[str, TouchPlan | None]:
        """("sent" / "skipped" / "failed", the next touch's plan if the step made it)."""
        key = f"{workflow.info().workflow_id}/{touch}"
        try:
            result = await self._step(
                SendingActivities.send_touch,
                SendRequest(self._inp.cart_key, plan.decision_id, touch, key, self._now(), self._inp.clock, then_plan),
                SEND_OPTIONS,
                task_options=TASK_SEND_OPTIONS,
            )
        except FailureError as err:  # an activity task's failure comes wrapped, a local activity's may not
            if is_cancelled_exception(err):  # the journey itself was cancelled: stop, do not re-plan
                raise
            # Refused, unrenderable, or still failing when its hour of retries ran out: this touch
            # failed, and the journey goes on to re-plan it and, in the end, record its outcome.
            cause = err.cause if isinstance(err, ActivityError) else err
            kind = cause.type if isinstance(cause, ApplicationError) else type(cause).__name__
            if kind not in (INVALID_RECIPIENT, RENDER_FAILED):
                workflow.logger.warning("touch %s failed after its retries: %s", touch, kind)
            return "failed", None
        if result.status in ("sent", "already_sent"):
            self._touches_sent.append((touch, self._now()))
            return "sent", result.next_plan
        return "skipped", None

    async def _finish(self) -> RecoveryResult:
        inp, abandoned_at = self._inp, self._abandoned_at
        attributed = None
        if self._order is not None and abandoned_at is None:
            status = "completed"
        elif self._order is not None:
            status = "recovered"
            before = [t for t, at in self._touches_sent if at <= (self._order_at or 0)]
            attributed = before[-1] if before else None
        elif self._stop_reason:
            status = "cancelled"
        else:
            status = "not_recovered"
        self._state = "done"
        await self._step(
            RecordingActivities.record_outcome,
            OutcomeRecord(
                cart_key=inp.cart_key,
                status=status,
                at=self._now(),
                holdout=self._holdout,
                order_key=self._order.order_key if self._order else None,
                attributed_touch=attributed,
                touches_sent=len(self._touches_sent),
                abandoned_at=abandoned_at,
                reason=self._stop_reason,
            ),
            RECORD_OPTIONS,
        )
        return RecoveryResult(status, len(self._touches_sent), attributed, self._stop_reason)

    def _step(
        self,
        method: Callable[[Any, Any], T],
        arg: Any,
        options: dict[str, Any],
        task_options: dict[str, Any] | None = None,
    ) -> Awaitable[T]:
        """One step as a local activity (see LOCAL_STEPS), or as an activity task in a journey
        begun before that, with `task_options` if they differ."""
        if workflow.patched(LOCAL_STEPS):
            return workflow.execute_local_activity_method(method, arg, **options)
        return workflow.execute_activity_method(method, arg, **(task_options or options))

    # --- time on the service clock ---
    def _ended(self) -> bool:
        return self._order is not None or self._stop_reason is not None

    def _now(self) -> float:
        return self._inp.clock.to_service(workflow.now().timestamp())

    async def _wait_until(self, service_time: float, condition: Callable[[], bool]) -> bool:
        return await self._wait_for(service_time - self._now(), condition)

    async def _wait_for(self, service_seconds: float, condition: Callable[[], bool]) -> bool:
        """Durable timer raced against a condition. True if the condition won."""
        if condition():
            return True
        real = self._inp.clock.real_seconds(service_seconds)
        if real <= 0:
            return False
        try:
            await workflow.wait_condition(condition, timeout=timedelta(seconds=real))
            return True
        except TimeoutError:
            return False
