"""Tracked cart links: messages link to `{public_url}/c/{token}`, which records the click and
redirects to the cart's recovery URL (services/api/routes/clicks.py).

The token names a message by (cart key, touch) - the cart key is already an opaque hash - and is
signed with HMAC-SHA256 under the service's signing key, so it carries no personal data, cannot
be forged or pointed at another cart, and stays short for SMS:
base64url(touch as 2 bytes + the 16-byte cart key) + "." + base64url(first 16 bytes of the MAC).
It does not expire: the shop's recovery URL decides how long a checkout can be reopened.
"""

from __future__ import annotations

from services.core.signing import b64url, b64url_decode, same_signature, token_signature

_PURPOSE = b"click|"  # a MAC made for an unsubscribe link or a cookie never validates here
MAX_TOKEN_LENGTH = 100


def make_click_token(key: bytes, cart_id: str, touch: int) -> str:
    """`cart_id`: the cart's key (32 hex digits, services.store.carts.cart_key)."""
    try:
        raw_id = bytes.fromhex(cart_id)
    except ValueError:
        raw_id = b""
    if len(raw_id) != 16:
        raise ValueError(f"not a cart key: {cart_id!r}")
    payload = b64url(touch.to_bytes(2, "big") + raw_id)
    return f"{payload}.{_sign(key, payload)}"


def read_click_token(key: bytes, token: str) -> tuple[str, int] | None:
    """(cart key, touch) of a token this service signed, or None when it is malformed or forged."""
    if len(token) > MAX_TOKEN_LENGTH:
        return None
    payload, _, signature = token.partition(".")
    if not payload or not same_signature(signature, _sign(key, payload)):
        return None
    raw = b64url_decode(payload)
    if raw is None or len(raw) != 18:
        return None
    return raw[2:].hex(), int.from_bytes(raw[:2], "big")


def click_url(public_url: str, key: bytes, cart_id: str, touch: int) -> str:
    return f"{public_url}/c/{make_click_token(key, cart_id, touch)}"


def _sign(key: bytes, payload: str) -> str:
    return token_signature(key, _PURPOSE + payload.encode(), 16)
