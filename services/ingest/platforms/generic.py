"""The generic webhook adapter: the body already is a canonical event in its envelope.

`POST /webhooks/generic` receives `services.core.events.GenericWebhook` as JSON; this only validates it
and reports problems the same way every other adapter does (`PayloadError`).
"""

from __future__ import annotations

from typing import Any, get_args

from pydantic import ValidationError

from services.core.events import CanonicalEvent, GenericWebhook
from services.ingest.platforms import PayloadError, dotted_path

# pydantic puts the discriminator value in error locations (`event.cart.cart_id`); the sender wrote
# `event.cart_id`, so that segment is dropped.
_EVENT_TYPES = {model.model_fields["type"].default for model in get_args(CanonicalEvent)}


def _sender_path(loc: tuple[int | str, ...]) -> str:
    if len(loc) > 2 and loc[0] == "event" and loc[1] in _EVENT_TYPES:
        loc = (loc[0], *loc[2:])
    return dotted_path(loc)


def parse(payload: Any) -> GenericWebhook:
    """Validate a decoded JSON body; raise `PayloadError` naming each invalid field."""
    try:
        return GenericWebhook.model_validate(payload)
    except ValidationError as exc:
        raise PayloadError.from_validation_error(exc, _sender_path) from exc
