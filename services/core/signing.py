"""Signatures: webhooks prove they come from someone holding the shared secret, and the tokens
this service issues itself (unsubscribe and click links, session cookies, CSRF) prove they are ours.

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


def mac(key: bytes, message: bytes) -> bytes:
    """HMAC-SHA256: the one MAC every signature here is made of."""
    return hmac.new(key, message, hashlib.sha256).digest()


def _mac(secret: str, message: bytes) -> bytes:
    return mac(secret.encode("utf-8"), message)


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


# --- Tokens the service issues and reads back itself ----------------------------------------------
# Each kind keeps its own message layout and length (links already sent must keep working); the
# key is Settings.signing_key() and each message starts with its purpose where the kind has one, so
# a MAC made for one purpose never validates as another.


def b64url(raw: bytes) -> str:
    """URL-safe base64 without padding: short, and safe in a path, a query or a cookie."""
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def b64url_decode(text: str) -> bytes | None:
    """The bytes of b64url text, or None when it is not such text."""
    try:
        return base64.urlsafe_b64decode(text.encode("ascii") + b"=" * (-len(text) % 4))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None


def token_signature(key: bytes, message: bytes, size: int) -> str:
    """The first `size` bytes of the MAC of `message`, as b64url."""
    return b64url(mac(key, message)[:size])


def same_signature(given: str, expected: str) -> bool:
    """Constant-time comparison that answers False, never raises, for any text a client sends
    (hmac.compare_digest refuses non-ASCII str)."""
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8"))
