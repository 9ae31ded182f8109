"""CartRecoveryWorkflow on the time-skipping test server, with scripted activities."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from channel_models.holdout import in_holdout
from workflows.cart_recovery import CartRecoveryWorkflow
from workflows.types import (
    INVALID_RECIPIENT,
    RENDER_FAILED,
    AbandonmentRecord,
    CartUpdated,
    ClockSpec,
    ConsentChanged,
    OrderPlaced,
    OutcomeRecord,
    PlanRequest,
    RecoveryInput,
    SendRequest,
    SendResult,
    TouchPlan,
)

HOUR = 3600.0
NOT_HOLDOUT = 0.0


@dataclass
class Script:
    """Fake activities: plans touch k at `delays[k-1]` after abandonment on `channels`."""

    delays: list[float] = field(default_factory=lambda: [HOUR, 24 * HOUR, 72 * HOUR])
    fail_channels: dict[str, str] = field(default_factory=dict)  # channel -> ApplicationError type (non-retryable)
    send_attempts: dict[str, int] = field(default_factory=dict)
    channels: list[str] = field(default_factory=lambda: ["email", "sms", "push"])
    plans: list[PlanRequest] = field(default_factory=list)
    sends: list[SendRequest] = field(default_factory=list)
    abandonments: list[AbandonmentRecord] = field(default_factory=list)
    outcomes: list[OutcomeRecord] = field(default_factory=list)
    decisions: dict[int, str] = field(default_factory=dict)
    plans_next: bool = True  # send_touch plans its request's then_plan, as the real one does

    def plan(self, req: PlanRequest) -> TouchPlan:
        self.plans.append(req)
        if req.abandonment is not None:
            self.abandonments.append(req.abandonment)
        choices = [c for c in self.channels if c not in req.excluded]
        if req.touch > len(self.delays) or not choices:
            return TouchPlan(decision_id=len(self.plans), stop=True, stop_reason="nothing allowed")
        self.decisions[len(self.plans)] = choices[0]
        return TouchPlan(
            decision_id=len(self.plans),
            stop=False,
            channel=choices[0],
            send_at=max(req.now, req.abandoned_at + self.delays[req.touch - 1]),
        )

    def activities(self):
        @activity.defn(name="plan_touch")
        async def plan_touch(req: PlanRequest) -> TouchPlan:
            return self.plan(req)

        @activity.defn(name="send_touch")
        async def send_touch(req: SendRequest) -> SendResult:
            channel = self.decisions[req.decision_id]
            self.send_attempts[channel] = self.send_attempts.get(channel, 0) + 1
            if channel in self.fail_channels:
                raise ApplicationError("refused", type=self.fail_channels[channel], non_retryable=True)
            self.sends.append(req)
            planned = self.plan(req.then_plan) if self.plans_next and req.then_plan is not None else None
            return SendResult("sent", channel, next_plan=planned)

        @activity.defn(name="record_abandonment")
        async def record_abandonment(rec: AbandonmentRecord) -> None:
            self.abandonments.append(rec)

        @activity.defn(name="record_outcome")
        async def record_outcome(rec: OutcomeRecord) -> None:
            self.outcomes.append(rec)

        return [plan_touch, send_touch, record_abandonment, record_outcome]


def journey_input(holdout: float = NOT_HOLDOUT, max_touches: int = 3, scale: float = 1.0) -> RecoveryInput:
    return RecoveryInput(
        shop="s",
        cart_key=uuid.uuid4().hex,
        clock=ClockSpec(0, 0, scale),
        abandon_after_s=1800,
        max_touches=max_touches,
        attribution_window_s=120 * HOUR,
        holdout_percent=holdout,
    )


async def start(env, task_queue, inp):
    return await env.client.start_workflow(
        CartRecoveryWorkflow.run,
        inp,
        id=f"recovery/s/{inp.cart_key}",
        task_queue=task_queue,
        start_signal=CartRecoveryWorkflow.cart_updated.__name__,
        start_signal_args=[CartUpdated(1)],
    )


def worker(env, task_queue, script):
    return Worker(env.client, task_queue=task_queue, workflows=[CartRecoveryWorkflow], activities=script.activities())


async def test_three_touches_then_not_recovered(time_skipping_env, task_queue):
    script = Script()
    async with worker(time_skipping_env, task_queue, script):
        inp = journey_input()
        result = await (await start(time_skipping_env, task_queue, inp)).result()
    assert result.status == "not_recovered"
    assert result.touches_sent == 3
    assert [s.touch for s in script.sends] == [1, 2, 3]
    assert [s.idempotency_key for s in script.sends] == [f"recovery/s/{inp.cart_key}/{k}" for k in (1, 2, 3)]
    abandoned = script.abandonments[0].at
    # sends happen at the planned service times, in order
    assert [round(s.now - abandoned) for s in script.sends] == [3600, 86400, 259200]
    outcome = script.outcomes[0]
    assert outcome.status == "not_recovered"
    assert outcome.touches_sent == 3
    assert round(outcome.at - abandoned) == 120 * 3600  # waited out the attribution window


async def test_order_before_abandonment_is_completed_not_recovered(time_skipping_env, task_queue):
    script = Script()
    async with worker(time_skipping_env, task_queue, script):
        handle = await start(time_skipping_env, task_queue, journey_input())
        await time_skipping_env.sleep(600)
        await handle.signal(CartRecoveryWorkflow.order_placed, OrderPlaced(7))
        result = await handle.result()
    assert result.status == "completed"
    assert script.abandonments == []
    assert script.plans == []
    assert script.sends == []
    assert script.outcomes[0].order_key == 7
    assert script.outcomes[0].abandoned_at is None


async def test_cart_updates_restart_the_idle_timer(time_skipping_env, task_queue):
    script = Script(delays=[HOUR])
    async with worker(time_skipping_env, task_queue, script):
        handle = await start(time_skipping_env, task_queue, journey_input(max_touches=1))
        started = (await handle.describe()).start_time.timestamp()
        await time_skipping_env.sleep(20 * 60)
        await handle.signal(CartRecoveryWorkflow.cart_updated, CartUpdated(2))
        await time_skipping_env.sleep(20 * 60)
        await handle.signal(CartRecoveryWorkflow.cart_updated, CartUpdated(1))  # stale: ignored
        await handle.result()
    idle_for = script.abandonments[0].at - started
    assert 50 * 60 - 5 <= idle_for <= 50 * 60 + 5  # 20 min + a full 30 min after the last real update


async def test_order_after_second_touch_is_recovered_and_attributed(time_skipping_env, task_queue):
    script = Script()
    async with worker(time_skipping_env, task_queue, script):
        handle = await start(time_skipping_env, task_queue, journey_input())
        await time_skipping_env.sleep(1800 + 30 * HOUR)  # after touch 2 (24 h), before touch 3 (72 h)
        await handle.signal(CartRecoveryWorkflow.order_placed, OrderPlaced(42))
        result = await handle.result()
    assert result.status == "recovered"
    assert result.attributed_touch == 2
    assert [s.touch for s in script.sends] == [1, 2]  # the order stopped touch 3
    assert script.outcomes[0].order_key == 42


async def test_holdout_gets_no_message(time_skipping_env, task_queue):
    script = Script()
    async with worker(time_skipping_env, task_queue, script):
        inp = journey_input(holdout=100.0)
        result = await (await start(time_skipping_env, task_queue, inp)).result()
    assert result.status == "not_recovered"
    assert script.plans == []
    assert script.sends == []
    assert script.abandonments[0].holdout is True
    assert script.outcomes[0].holdout is True


async def test_permanent_failure_falls_back_to_next_channel(time_skipping_env, task_queue):
    script = Script(delays=[HOUR], fail_channels={"email": INVALID_RECIPIENT})
    async with worker(time_skipping_env, task_queue, script):
        result = await (await start(time_skipping_env, task_queue, journey_input(max_touches=1))).result()
    assert result.touches_sent == 1
    assert [p.excluded for p in script.plans] == [[], ["email"]]
    assert script.decisions[script.sends[0].decision_id] == "sms"


async def test_an_unrenderable_touch_fails_at_once_and_the_journey_goes_on(time_skipping_env, task_queue):
    script = Script(delays=[HOUR, 24 * HOUR], fail_channels={"email": RENDER_FAILED})
    async with worker(time_skipping_env, task_queue, script):
        result = await (await start(time_skipping_env, task_queue, journey_input(max_touches=2))).result()
    assert script.send_attempts["email"] == 2  # one attempt per touch: never retried
    assert [script.decisions[s.decision_id] for s in script.sends] == ["sms", "sms"]
    assert result.status == "not_recovered"
    assert len(script.outcomes) == 1


async def test_a_send_failing_for_good_for_any_reason_fails_the_touch_not_the_journey(time_skipping_env, task_queue):
    """Any failure that ends the send activity - here one of a type the workflow does not know, as
    when its hour of retries runs out - fails the touch; the journey still ends and records its outcome."""
    script = Script(delays=[HOUR], fail_channels={"email": "Timeout", "sms": "Timeout", "push": "Timeout"})
    async with worker(time_skipping_env, task_queue, script):
        result = await (await start(time_skipping_env, task_queue, journey_input(max_touches=1))).result()
    assert all(script.send_attempts[c] == 1 for c in ("email", "sms", "push"))
    assert [p.excluded for p in script.plans] == [[], ["email"], ["email", "sms"], ["email", "sms", "push"]]
    assert result.status == "not_recovered"
    assert result.touches_sent == 0
    assert [o.status for o in script.outcomes] == ["not_recovered"]


async def test_consent_change_while_waiting_replans_the_touch(time_skipping_env, task_queue):
    script = Script(delays=[HOUR])
    async with worker(time_skipping_env, task_queue, script):
        handle = await start(time_skipping_env, task_queue, journey_input(max_touches=1))
        await time_skipping_env.sleep(1800 + 600)
        await handle.signal(CartRecoveryWorkflow.consent_changed, ConsentChanged(1))
        await handle.result()
    assert [p.touch for p in script.plans] == [1, 1]
    assert len(script.sends) == 1


async def test_erase_cancels_the_journey_before_any_send(time_skipping_env, task_queue):
    script = Script()
    async with worker(time_skipping_env, task_queue, script):
        handle = await start(time_skipping_env, task_queue, journey_input())
        await time_skipping_env.sleep(1800 + 600)
        await handle.signal(CartRecoveryWorkflow.erase)
        result = await handle.result()
    assert result.status == "cancelled"
    assert result.reason == "erased"
    assert script.sends == []


async def test_time_scale_shortens_real_waits(time_skipping_env, task_queue):
    script = Script()
    async with worker(time_skipping_env, task_queue, script):
        inp = journey_input(scale=3600.0)
        handle = await start(time_skipping_env, task_queue, inp)
        started = (await handle.describe()).start_time.timestamp()
        await handle.result()
        closed = (await handle.describe()).close_time.timestamp()
    # 30 min idle + 120 h window on the service clock = 120.5 real seconds at 3600x
    assert closed - started == pytest.approx(120.5, abs=2)
    # one real millisecond is 3.6 service seconds: timers land within a minute of service time
    assert script.outcomes[0].at - script.abandonments[0].at == pytest.approx(120 * 3600, abs=60)


def test_holdout_assignment_is_deterministic_and_near_its_share():
    keys = [uuid.UUID(int=i).hex for i in range(20_000)]
    share = sum(in_holdout(k, 5.0) for k in keys) / len(keys)
    assert 0.045 < share < 0.055
    assert all(in_holdout(k, 5.0) == in_holdout(k, 5.0) for k in keys[:100])
    assert not any(in_holdout(k, 0.0) for k in keys[:1000])


async def test_activity_failure_surfaces(time_skipping_env, task_queue):
    """A non-retryable failure other than a refused recipient fails the run loudly (not silently)."""
    script = Script()

    @activity.defn(name="plan_touch")
    async def broken(req: PlanRequest) -> TouchPlan:
        raise ApplicationError("cart vanished", non_retryable=True)

    acts = [a for a in script.activities() if a.__name__ != "plan_touch"] + [broken]
    async with Worker(
        time_skipping_env.client, task_queue=task_queue, workflows=[CartRecoveryWorkflow], activities=acts
    ):
        handle = await start(time_skipping_env, task_queue, journey_input())
        with pytest.raises(WorkflowFailureError):
            await handle.result()


async def test_every_step_of_a_journey_is_a_local_activity(time_skipping_env, task_queue):
    """A journey's history holds no activity task: abandonment, plans, sends and the outcome are
    local-activity markers (the cheaper journey of bench/journeys.py)."""
    script = Script()
    async with worker(time_skipping_env, task_queue, script):
        handle = await start(time_skipping_env, task_queue, journey_input())
        await time_skipping_env.sleep(1800 + 30 * HOUR)
        await handle.signal(CartRecoveryWorkflow.order_placed, OrderPlaced(42))
        await handle.result()
        history = await handle.fetch_history()
    kinds = [e.event_type for e in history.events]
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED not in kinds
    # two patch markers, plan_touch (which records the abandonment), send_touch x2 (each planning
    # the next touch; the order stopped the third send), record_outcome
    assert kinds.count(EventType.EVENT_TYPE_MARKER_RECORDED) == 2 + 1 + 2 + 1
    assert [s.touch for s in script.sends] == [1, 2] and len(script.outcomes) == 1
    assert [p.touch for p in script.plans] == [1, 2, 3] and len(script.abandonments) == 1


@pytest.mark.parametrize("plans_next", [True, False], ids=["send plans the next touch", "send does not"])
async def test_a_sent_touch_plans_the_next_as_of_its_send_else_the_journey_does(
    time_skipping_env, task_queue, plans_next
):
    """The step that sends touch k plans touch k+1 (no plan step of its own); a send step that
    returns no plan (it failed to plan, or an older worker ran it) leaves it to a plan step."""
    script = Script(plans_next=plans_next)
    async with worker(time_skipping_env, task_queue, script):
        handle = await start(time_skipping_env, task_queue, journey_input())
        result = await handle.result()
    assert result.status == "not_recovered" and result.touches_sent == 3
    assert [p.touch for p in script.plans] == [1, 2, 3]
    assert [s.then_plan.touch if s.then_plan else None for s in script.sends] == [2, 3, None]
    assert script.plans[0].abandonment is not None and all(p.abandonment is None for p in script.plans[1:])
    assert len(script.abandonments) == 1 and not script.abandonments[0].holdout
    history = await handle.fetch_history()
    markers = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED]
    assert len(markers) == 2 + 1 + 3 + (0 if plans_next else 2) + 1
