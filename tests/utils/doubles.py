"""Test doubles for one module's unit tests: a delivery that records what it was handed."""

from __future__ import annotations

from services.messaging.delivery import Delivered, DeliveryError


class FakeDelivery:
    """Records (channel, recipient, message, headers, idempotency key) for every send; raises
    `fail` instead when one is given."""

    def __init__(self, fail: DeliveryError | None = None):
        self.sent: list[tuple[str, str, object, dict, str | None]] = []
        self.fail = fail

    def send(self, channel, recipient, message, headers=None, idempotency_key=None):
        if self.fail is not None:
            raise self.fail
        self.sent.append((channel, recipient, message, headers or {}, idempotency_key))
        return Delivered(provider="fake")
