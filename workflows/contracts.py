"""The activities the workflows call, by signature only: the Temporal contract between the two.

A workflow calls ``workflow.execute_local_activity_method(PlanningActivities.plan_touch, ...)`` on these
classes, so the activity's name, argument and result type are checked by mypy and cannot be
misspelt. The implementations in ``activities/`` subclass them: mypy holds each implementation
to the signature declared here, and ``@activity.defn`` names both after the method.

Kept in ``workflows/`` because workflows import nothing of ours but their own package: the
implementations need the database, the models and apprise, none of which belongs in a sandbox.
"""

from __future__ import annotations

from temporalio import activity

from workflows.types import (
    AbandonmentRecord,
    OutcomeRecord,
    PlanRequest,
    RetrainRequest,
    SendRequest,
    SendResult,
    TouchPlan,
    TrainingFailure,
    TrainingReport,
)


class PlanningActivities:
    @activity.defn
    def plan_touch(self, req: PlanRequest) -> TouchPlan:
        """Decide the next touch and log the decision."""
        raise TypeError("a contract: the worker runs activities.planning.PlanningActivities")


class SendingActivities:
    @activity.defn
    def send_touch(self, req: SendRequest) -> SendResult:
        """Re-check permission, render, deliver and record one touch, at most once."""
        raise TypeError("a contract: the worker runs activities.sending.SendingActivities")


class RecordingActivities:
    @activity.defn
    def record_abandonment(self, record: AbandonmentRecord) -> None:
        """Mark the cart abandoned (and in the holdout or not)."""
        raise TypeError("a contract: the worker runs activities.recording.RecordingActivities")

    @activity.defn
    def record_outcome(self, record: OutcomeRecord) -> None:
        """Record how the journey ended."""
        raise TypeError("a contract: the worker runs activities.recording.RecordingActivities")


class TrainingActivities:
    @activity.defn
    async def retrain_models(self, req: RetrainRequest) -> TrainingReport:
        """Fit, evaluate and store a candidate of every model kind."""
        raise TypeError("a contract: the worker runs activities.training.TrainingActivities")

    @activity.defn
    def record_training_failure(self, failure: TrainingFailure) -> None:
        """Put every model in Alert after a retraining failed for good."""
        raise TypeError("a contract: the worker runs activities.training.TrainingActivities")
