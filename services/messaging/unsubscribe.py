"""Signed one-click unsubscribe links: no login, honoured at once, valid for 400 days.

Token = base64url(customer id | channel | issued-at) + "." + HMAC-SHA256 of it with the signing key.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from services.core.signing import b64url, b64url_decode, same_signature, token_signature

VALIDITY_SECONDS = 400 * 24 * 3600


@dataclass(frozen=True)
class UnsubscribeRequest:
    customer_id: str
    channel: str
    issued_at: int


def make_token(key: bytes, customer_id: str, channel: str, issued_at: int | None = None) -> str:
    issued = int(issued_at if issued_at is not None else time.time())
    payload = b64url(f"{customer_id}|{channel}|{issued}".encode())
    return f"{payload}.{_sign(key, payload)}"


def read_token(key: bytes, token: str, now: float | None = None) -> UnsubscribeRequest | None:
    """The request a token carries, or None if it is forged, malformed or expired."""
    payload, _, signature = token.partition(".")
    if not payload or not same_signature(signature, _sign(key, payload)):
        return None
    raw = b64url_decode(payload)
    try:
        customer_id, channel, issued = (raw or b"").decode().split("|")
        issued_at = int(issued)
    except ValueError:
        return None
    if (now if now is not None else time.time()) - issued_at > VALIDITY_SECONDS:
        return None
    return UnsubscribeRequest(customer_id, channel, issued_at)


def _sign(key: bytes, payload: str) -> str:
    return token_signature(key, payload.encode(), 20)
