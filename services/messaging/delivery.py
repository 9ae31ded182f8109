"""Delivery through apprise: one URL template per channel, `{to}` filled with the recipient.

apprise answers with a yes/no, so the reason of a failure is read from what it logs: an HTTP 4xx
(other than 408/429) or an SMTP recipient refusal is permanent (retrying cannot help, the journey
falls back to another channel); anything else is transient and retried by Temporal.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from urllib.parse import quote

import apprise

from message_templates import RenderedMessage
from services.core.settings import Settings
from services.messaging.email_alternative import text_alternative

log = logging.getLogger(__name__)

_HTTP_ERROR = re.compile(r"error=(\d{3})")
_PERMANENT_SMTP = ("recipient", "RecipientsRefused", "550", "553", "501")


class DeliveryError(Exception):
    def __init__(self, message: str, *, permanent: bool):
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class Delivered:
    provider: str  # apprise service id, e.g. "mailto" or "json"


class Delivery:
    def __init__(self, settings: Settings):
        self._settings = settings

    def send(
        self,
        channel: str,
        recipient: str,
        message: RenderedMessage,
        headers: dict[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Delivered:
        """Deliver one message. `idempotency_key` goes out as `Idempotency-Key` (HTTP services) or
        `X-Cartrecovery-Touch` (e-mail), hashed, so a provider or gateway that deduplicates can drop
        a resend after a worker died mid-call."""
        template = self._settings.channel_url(channel)
        if not template:
            raise DeliveryError(f"channel {channel} has no delivery URL configured", permanent=True)
        url = template.replace("{to}", quote(recipient, safe=""))
        notifier = apprise.Apprise()
        if not notifier.add(url):
            raise DeliveryError(f"the {channel} delivery URL is not a valid apprise URL", permanent=True)
        service = notifier[0]
        extra = dict(headers or {})
        if idempotency_key:
            touch_id = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
            extra["X-Cartrecovery-Touch" if channel == "email" else "Idempotency-Key"] = touch_id
        if extra and hasattr(service, "headers"):
            service.headers.update(extra)
        body, title, body_format = _body(channel, message)
        alternative = message.text if channel == "email" else None
        with apprise.LogCapture(level=logging.WARNING) as captured, text_alternative(body, alternative):
            ok = notifier.notify(body=body, title=title, body_format=body_format)
            details = captured.getvalue()
        if not ok:
            raise DeliveryError(
                _redact(details, recipient) or f"{channel} provider refused the message",
                permanent=_is_permanent(details),
            )
        protocol = service.protocol
        return Delivered(provider=protocol if isinstance(protocol, str) else str((protocol or ["unknown"])[0]))


def _body(channel: str, message: RenderedMessage) -> tuple[str, str, str]:
    if channel == "email":
        return message.html or message.text or "", message.subject or "", apprise.NotifyFormat.HTML
    if channel == "retargeting":
        return json.dumps(message.payload, sort_keys=True), "cart_abandoned", apprise.NotifyFormat.TEXT
    return message.text or "", message.subject or "", apprise.NotifyFormat.TEXT


def _is_permanent(details: str) -> bool:
    for code in _HTTP_ERROR.findall(details):
        status = int(code)
        if 400 <= status < 500 and status not in (408, 425, 429):
            return True
    return any(marker in details for marker in _PERMANENT_SMTP)


def _redact(details: str, recipient: str) -> str:
    """Provider logs may quote the recipient: keep them out of our logs and database."""
    text = details.strip().replace(recipient, "<recipient>").replace(quote(recipient, safe=""), "<recipient>")
    return text[-800:]
