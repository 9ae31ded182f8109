"""Dataclasses shared by workflows and activities.

Only opaque ids, channels, numbers and times cross into Temporal: never an e-mail address, phone
number, name or cart contents. Times are POSIX seconds on the service clock (see ClockSpec).
Every field added later must have a default so histories recorded before it still replay.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ClockSpec:
    """The service clock: real time sped up `scale` times from an anchor (CR_TIME_SCALE).

    With scale 1 and equal anchors it is the wall clock. Waits are taken in service seconds and
    slept in real seconds, so abandonment, delays, quiet hours, caps and attribution all keep their
    meaning at any speed.
    """

    anchor_real: float = 0.0
    anchor_virtual: float = 0.0
    scale: float = 1.0

    def to_service(self, real: float) -> float:
        return self.anchor_virtual + (real - self.anchor_real) * self.scale

    def to_real(self, service: float) -> float:
        return self.anchor_real + (service - self.anchor_virtual) / self.scale

    def real_seconds(self, service_seconds: float) -> float:
        return service_seconds / self.scale


@dataclass
class RecoveryInput:
    shop: str
    cart_key: str
    clock: ClockSpec = field(default_factory=ClockSpec)
    abandon_after_s: float = 1800.0
    max_touches: int = 3
    attribution_window_s: float = 120 * 3600.0
    holdout_percent: float = 5.0


@dataclass
class CartUpdated:
    version: int  # the stored cart version; older or repeated versions are ignored


@dataclass
class OrderPlaced:
    order_key: int  # row id in the orders table


@dataclass
class ConsentChanged:
    changes: int = 0  # how many ledger entries changed


@dataclass
class AbandonmentRecord:
    cart_key: str
    at: float
    holdout: bool


@dataclass
class PlanRequest:
    cart_key: str
    touch: int
    max_touches: int
    now: float
    abandoned_at: float
    deadline: float
    excluded: list[str] = field(default_factory=list)
    # the first plan of a treated journey marks the cart abandoned in its own transaction
    abandonment: AbandonmentRecord | None = None


@dataclass
class TouchPlan:
    decision_id: int
    stop: bool
    stop_reason: str | None = None
    channel: str | None = None
    send_at: float = 0.0
    reason: str = "other"
    bucket: str = "Moderate"
    incentive: str | None = None


@dataclass
class SendRequest:
    cart_key: str
    decision_id: int
    touch: int
    idempotency_key: str
    now: float  # when the workflow scheduled the send
    clock: ClockSpec | None = None  # to tell the time the message really leaves (retries run later)
    # once the touch is sent, plan this (the next touch) in the same step, as of the time it left
    then_plan: PlanRequest | None = None


# ApplicationError types send_touch fails with for good (not retried): the journey records the touch
# as failed and re-plans it without that channel.
INVALID_RECIPIENT = "InvalidRecipient"  # no usable recipient, or the provider refused it
RENDER_FAILED = "RenderFailed"  # the message cannot be rendered for this cart


@dataclass
class SendResult:
    status: str  # "sent", "already_sent", "skipped"
    channel: str
    detail: str = ""
    next_plan: TouchPlan | None = None  # the request's then_plan, when it was sent and planning worked


@dataclass
class OutcomeRecord:
    cart_key: str
    status: str  # recovered, not_recovered, completed, cancelled
    at: float
    holdout: bool = False
    order_key: int | None = None
    attributed_touch: int | None = None
    touches_sent: int = 0
    abandoned_at: float | None = None
    reason: str | None = None


@dataclass
class RecoveryResult:
    status: str
    touches_sent: int = 0
    attributed_touch: int | None = None
    reason: str | None = None


# --- RetrainWorkflow (workflows/retraining.py): kinds, steps and counts only, never data ---


@dataclass
class RetrainRequest:
    trigger: str = "manual"  # "schedule" or "manual"
    requested_by: str = ""  # the requester's role name (e.g. "admin", "cli"), never a person


@dataclass
class RetrainProgress:
    """Where a retraining run is: `step` names the stage, `done` of `total` units are finished."""

    step: str = "queued"
    done: int = 0
    total: int = 1


@dataclass
class ModelOutcome:
    kind: str  # policy, propensity, reason
    outcome: str  # promoted, rejected, skipped, failed
    version: int | None = None  # the stored version (promoted or rejected)
    why: str = ""


@dataclass
class TrainingReport:
    outcomes: list[ModelOutcome] = field(default_factory=list)
    rows: int = 0  # logged decisions the candidates were built from
    open_decisions: int = 0  # of carts whose attribution window is still open (partial outcomes)


@dataclass
class TrainingFailure:
    why: str  # a short reason, e.g. the exception type and message (no data values)


@dataclass
class RetrainResult:
    status: str  # "completed" (every kind promoted, rejected or skipped) or "failed"
    trigger: str = "manual"
    outcomes: list[ModelOutcome] = field(default_factory=list)
    rows: int = 0
    open_decisions: int = 0
