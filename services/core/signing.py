"""Webhook signatures: prove a delivery came from someone holding the shared secret.

Shopify (`POST /webhooks/shopify`)
    Header `X-Shopify-Hmac-Sha256` is the base64 HMAC-SHA256 of the raw request body, keyed with
    the app's client secret (`CR_SHOPIFY_WEBHOOK_SECRET`). This is Shopify's own scheme; Shopify
    adds no timestamp, so repeats are caught by the webhook receipt dedupe (`X-Shopify-Webhook-Id`).

Generic (`POST /webhooks/generic`)
    Two headers, both required:

    - `X-Cartrecovery-Timestamp`: the time of sending, in whole unix seconds (digits only).
    - `X-Cartrecovery-Hmac-Sha256`: base64 HMAC-SHA256, keyed with `CR_WEBHOOK_SECRET`, of the
      timestamp, a dot, then the raw body bytes: `HMAC(secret, f"{timestamp}.".encode() + body)`.

    A delivery is rejected when the signature does not match or the timestamp is more than 300
    seconds away from the receiver's clock (in either direction). Signing the timestamp stops an
    attacker from replaying an old captured request with a fresh timestamp; the window bounds how
    long a captured request stays usable, and the `id` in the body (deduplicated by the receiver)
    makes a replay inside the window harmless.

    Example (Python)::

        ts = str(int(time.time()))
        mac = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).digest()
        headers = {"X-Cartrecovery-Timestamp": ts,
                   "X-Cartrecovery-Hmac-Sha256": base64.b64encode(mac).decode()}

    Example (shell)::

        ts=$(date +%s)
        sig=$(printf '%s.%s' "$ts" "$body" | openssl dgst -sha256 -hmac "$secret" -binary | base64)

Both checks compare digests with `hmac.compare_digest` (constant time) and answer False, never
raise, for a missing, empty or malformed header or an empty secret: an unconfigured secret must
never accept everything.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time

SHOPIFY_HMAC_HEADER = "X-Shopify-Hmac-Sha256"
GENERIC_HMAC_HEADER = "X-Cartrecovery-Hmac-Sha256"
GENERIC_TIMESTAMP_HEADER = "X-Cartrecovery-Timestamp"
DEFAULT_TOLERANCE_SECONDS = 300

# ASCII digits only: "+1700000000" or "1700000000.0" would be other spellings of the same instant,
# and the receiver must verify exactly the text the sender signed.
_TIMESTAMP = re.compile(r"[0-9]{1,15}")


def _mac(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()


def _header_digest(header: str | None) -> bytes | None:
    """The raw digest a base64 header carries, or None when it cannot be one."""
    if not header or not header.strip():
        return None
    try:
        return base64.b64decode(header.strip().encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None


def sign_shopify(secret: str, body: bytes) -> str:
    """The `X-Shopify-Hmac-Sha256` value Shopify would send for `body`."""
    return base64.b64encode(_mac(secret, body)).decode("ascii")


def shopify_hmac_valid(secret: str, body: bytes, header: str | None) -> bool:
    """True when `header` is Shopify's signature of exactly these body bytes under `secret`."""
    given = _header_digest(header)
    if not secret or given is None:
        return False
    return hmac.compare_digest(_mac(secret, body), given)


def sign_generic(secret: str, body: bytes, timestamp: int | float | str) -> str:
    """The `X-Cartrecovery-Hmac-Sha256` value for `body` sent at `timestamp` (unix seconds).

    Send `str(int(timestamp))` as `X-Cartrecovery-Timestamp` alongside it."""
    return base64.b64encode(_mac(secret, f"{int(timestamp)}.".encode("ascii") + body)).decode("ascii")


def generic_signature_valid(
    secret: str,
    body: bytes,
    signature_header: str | None,
    timestamp_header: str | None,
    now: float | None = None,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """True when the signature covers `timestamp.body` under `secret` and the timestamp is within
    `tolerance` seconds of `now` (default: the current time)."""
    given = _header_digest(signature_header)
    stamp = (timestamp_header or "").strip()
    if not secret or given is None or not _TIMESTAMP.fullmatch(stamp):
        return False
    current = time.time() if now is None else now
    in_window = abs(current - int(stamp)) <= tolerance
    # Sign the header text as received, not a re-formatted number, so sender and receiver agree.
    matches = hmac.compare_digest(_mac(secret, stamp.encode("ascii") + b"." + body), given)
    return matches and in_window
