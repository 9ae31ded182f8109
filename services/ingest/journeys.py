"""Starting and signalling journeys. Ids and arguments carry opaque keys only."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from services.core.settings import Settings
from workflows.cart_recovery import CartRecoveryWorkflow
from workflows.types import CartUpdated, ClockSpec, RecoveryInput

log = logging.getLogger(__name__)


# The signals the API sends a running journey. Receipts store them by name (a repeated delivery
# re-sends them), so this is also how a stored name becomes a signal again.
SIGNALS: dict[str, Callable[..., None]] = {
    signal.__name__: signal
    for signal in (
        CartRecoveryWorkflow.order_placed,
        CartRecoveryWorkflow.consent_changed,
        CartRecoveryWorkflow.erase,
        CartRecoveryWorkflow.superseded,
    )
}


def workflow_id(shop: str, cart_key: str) -> str:
    return f"recovery/{shop}/{cart_key}"


class Journeys:
    def __init__(self, client: Client, settings: Settings, clock: ClockSpec):
        self.client = client
        self._settings = settings
        self._clock = clock

    def recovery_input(self, shop: str, cart_key: str) -> RecoveryInput:
        s = self._settings
        return RecoveryInput(
            shop=shop,
            cart_key=cart_key,
            clock=self._clock,
            abandon_after_s=s.abandon_after_minutes * 60,
            max_touches=s.max_touches,
            attribution_window_s=s.attribution_window_hours * 3600,
            holdout_percent=s.holdout_percent,
        )

    async def start_or_update(self, shop: str, cart_key: str, version: int) -> str:
        """Signal-with-start: a new cart starts its journey, a known one restarts its idle timer.
        A cart's journey runs once: after it ended, updates are stored but start nothing."""
        try:
            await self.client.start_workflow(
                CartRecoveryWorkflow.run,
                self.recovery_input(shop, cart_key),
                id=workflow_id(shop, cart_key),
                task_queue=self._settings.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                start_signal=CartRecoveryWorkflow.cart_updated.__name__,  # the SDK takes a name here
                start_signal_args=[CartUpdated(version)],
            )
        except WorkflowAlreadyStartedError:
            return "ended"
        return "started"

    async def signal(self, shop: str, cart_key: str, signal: Callable[..., None], *args: Any) -> bool:
        """Deliver ``signal`` (a CartRecoveryWorkflow signal method) to a running journey; False when
        it has already ended."""
        handle = self.client.get_workflow_handle(workflow_id(shop, cart_key))
        try:
            await handle.signal(signal, *args)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return True
