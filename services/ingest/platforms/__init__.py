"""Platform adapters: each turns one platform's own webhook payload into canonical events
(`services.core.events`), with no I/O.

Every adapter signals a payload that is valid JSON but unusable for its topic by raising
`PayloadError`, whose `field_errors` name the offending fields in the *sender's* vocabulary
(`token`, `line_items.0.price`), so the API can answer 422 with something the sender can fix.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pydantic import ValidationError

ROOT = "body"  # the field name used when the payload as a whole is wrong (e.g. a list, not an object)


class PayloadError(ValueError):
    """A webhook payload that is well-formed JSON but invalid for its topic.

    `field_errors` is a list of `(field path, message)`; paths are dotted (`line_items.0.price`),
    `"body"` means the whole payload. Messages never repeat the submitted values, so they are safe
    to log and to return (they may be personal data)."""

    def __init__(self, field_errors: Sequence[tuple[str, str]]):
        self.field_errors: list[tuple[str, str]] = list(field_errors)
        super().__init__("; ".join(f"{field}: {message}" for field, message in self.field_errors))

    @classmethod
    def from_validation_error(
        cls, exc: ValidationError, path_of: Callable[[tuple[int | str, ...]], str] | None = None
    ) -> PayloadError:
        """Translate pydantic's errors, keeping only location and message (never the input)."""
        path_of = path_of or dotted_path
        return cls([(path_of(tuple(err["loc"])), err["msg"]) for err in exc.errors()])


def dotted_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or ROOT
