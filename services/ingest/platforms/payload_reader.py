"""Reading a platform's webhook payload: lenient about absence, strict about shape.

Adapters read every field through a `PayloadReader`, which returns None for an absent or null field
and records a `(field path, message)` for a present field of the wrong shape, in the platform's own
vocabulary (`line_items.0.price`). The adapter then raises one `PayloadError` listing them all.
Limits mirror `services.core.events`, so the canonical models accept whatever the reader lets through.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from services.core.bounds import Moment
from services.core.events import Money

Built = tuple[type[BaseModel], dict[str, Any]]  # which canonical model, and the values for it

_MONEY: TypeAdapter = TypeAdapter(Money)
_MOMENT: TypeAdapter = TypeAdapter(Moment)


def join(where: str, key: str | int) -> str:
    """`join("line_items", 0)` -> `"line_items.0"`; `join("", "token")` -> `"token"`."""
    return f"{where}.{key}" if where else str(key)


def compact(values: dict[str, Any]) -> dict[str, Any]:
    """Drop unknowns so the canonical model's defaults apply."""
    return {key: value for key, value in values.items() if value is not None}


class PayloadReader:
    """Collects every problem of one payload, so a single 422 lists them all."""

    def __init__(self) -> None:
        self.errors: list[tuple[str, str]] = []

    def fail(self, path: str, message: str) -> None:
        self.errors.append((path, message))

    def obj(self, data: dict, key: str, where: str = "") -> dict:
        value = data.get(key)
        if value is not None and not isinstance(value, dict):
            self.fail(join(where, key), "must be an object")
        return value if isinstance(value, dict) else {}

    def array(self, data: dict, key: str, where: str = "") -> list:
        value = data.get(key)
        if value is not None and not isinstance(value, list):
            self.fail(join(where, key), "must be a list")
        return value if isinstance(value, list) else []

    def ident(self, data: dict, key: str, where: str = "", required: bool = False) -> str | None:
        """Ids arrive as integers, tokens as strings; both become strings."""
        value, path = data.get(key), join(where, key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (str, int))):
            self.fail(path, "must be a string or an integer")
            return None
        text = "" if value is None else str(value).strip()
        if not text:
            if required:
                self.fail(path, "field required")
            return None
        if len(text) > 255:  # cutting an id would merge different carts or customers
            self.fail(path, "must be at most 255 characters")
            return None
        return text

    def text(self, data: dict, key: str, where: str = "", limit: int = 500, drop_if_long: bool = False) -> str | None:
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            self.fail(join(where, key), "must be a string")
            return None
        value = (value or "").strip()
        if not value or (drop_if_long and len(value) > limit):
            return None
        return value[:limit]

    def flag(self, data: dict, key: str, where: str = "") -> bool | None:
        value = data.get(key)
        if value is not None and not isinstance(value, bool):
            self.fail(join(where, key), "must be true or false")
            return None
        return value

    def money(self, data: dict, key: str, where: str = "") -> Decimal | None:
        value = data.get(key)
        if value is None or value == "":
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            self.fail(join(where, key), "must be a decimal number")
            return None
        try:  # str() first: Shopify sends "421.88"; a float must not gain binary noise digits
            return _MONEY.validate_python(str(value).strip())
        except ValidationError as exc:
            self.fail(join(where, key), exc.errors()[0]["msg"])
            return None

    def count(self, data: dict, key: str, where: str = "", maximum: int = 100_000) -> int | None:
        value = data.get(key)
        if value is None:
            return None
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
            self.fail(join(where, key), f"must be a whole number from 0 to {maximum}")
            return None
        return value

    def moment(self, data: dict, key: str, where: str = "") -> datetime | None:
        value = data.get(key)
        if value is None or value == "":
            return None
        try:
            return _MOMENT.validate_python(value)
        except ValidationError as exc:
            self.fail(join(where, key), _moment_message(exc))
            return None

    def currency(self, data: dict, key: str, where: str = "") -> str | None:
        value = self.text(data, key, where, limit=50)
        if value is not None and not (len(value) == 3 and value.isascii() and value.isalpha()):
            self.fail(join(where, key), "must be a 3-letter ISO 4217 code")
            return None
        return value


def _moment_message(exc: ValidationError) -> str:
    error = exc.errors()[0]
    if error["type"] == "value_error":  # parsed, but outside the calendar bounds
        return str(error["ctx"]["error"])
    return "must be an ISO 8601 date-time"
