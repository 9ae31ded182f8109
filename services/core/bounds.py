"""The bounds every inbound body and query is held to before anything reads it.

`load_json` is the one JSON parser for request bodies: it is total (any byte string either parses or
raises `BodyError`, never another exception) and bounded - nesting depth, the length of every
number, no NaN or Infinity, no NUL or unpaired surrogate in any string (neither can be stored or
sent). `Moment` is the one date-time type for inbound timestamps: it must lie between `EARLIEST` and
`LATEST`, so converting it to UTC or adding a journey's days to it can never overflow.

Field-level limits (string lengths, list sizes, value ranges) belong to the schemas
(`services.core.events`, the platform adapters); the body's size to the route that reads it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator

SHOP_PATTERN = r"^[A-Za-z0-9._-]{1,255}$"  # a shop's name: generic webhooks' `shop`, Shopify domains
MAX_DEPTH = 32
MAX_NUMBER_CHARS = 40  # a 20-digit platform id fits twice over; Python's int() refuses over 4,300
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


class BodyError(ValueError):
    """A body that is not acceptable JSON; `field` is the dotted path of the culprit ("body": the whole).
    `malformed`: not JSON at all (as opposed to JSON that breaks a bound)."""

    def __init__(self, field: str, message: str, malformed: bool = False):
        self.field, self.message, self.malformed = field, message, malformed
        super().__init__(f"{field}: {message}")


class _Refused:
    """Stands in for a value json.loads met but must not build; the walk reports it with its path."""

    def __init__(self, message: str):
        self.message = message


def _integer(text: str) -> int | _Refused:
    if len(text.lstrip("-")) > MAX_NUMBER_CHARS:
        return _Refused(f"number longer than {MAX_NUMBER_CHARS} digits")
    return int(text)


def _decimal(text: str) -> float | _Refused:
    value = float(text)
    if len(text) > MAX_NUMBER_CHARS or value in (float("inf"), float("-inf")):
        return _Refused(f"number longer than {MAX_NUMBER_CHARS} characters or out of range")
    return value


def _constant(_text: str) -> _Refused:
    return _Refused("NaN and Infinity are not JSON numbers")


def load_json(body: bytes) -> Any:
    """Parse a request body or raise `BodyError` naming the first offending field."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BodyError("body", "malformed JSON: body is not UTF-8", malformed=True) from None
    try:
        value = json.loads(text, parse_int=_integer, parse_float=_decimal, parse_constant=_constant)
    except RecursionError:
        raise BodyError("body", f"nested deeper than {MAX_DEPTH} levels") from None
    except json.JSONDecodeError as err:
        raise BodyError(
            "body", f"malformed JSON: {err.msg} at line {err.lineno} column {err.colno}", malformed=True
        ) from None
    _check(value)
    return value


def _check(root: Any) -> None:
    """Walk the parsed value without recursion (the depth is what is being checked)."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(root, ())]
    while stack:
        value, path = stack.pop()
        where = ".".join(path) or "body"
        if len(path) > MAX_DEPTH:
            raise BodyError(where, f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, _Refused):
            raise BodyError(where, value.message)
        if isinstance(value, str):
            _check_text(value, where)
        elif isinstance(value, dict):
            for key, child in value.items():
                _check_text(key, where)
                stack.append((child, (*path, key[:60])))
        elif isinstance(value, list):
            stack.extend((child, (*path, str(index))) for index, child in enumerate(value))


def _check_text(text: str, where: str) -> None:
    if "\x00" in text:
        raise BodyError(where, "contains a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BodyError(where, "contains an unpaired UTF-16 surrogate") from None


def within_calendar(moment: datetime) -> datetime:
    """The moment in UTC (naive means UTC), if it lies in [EARLIEST, LATEST); ValueError otherwise."""
    message = f"must lie between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}"
    try:
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:  # the offset pushed it past year 1 or 9999
        raise ValueError(message) from None
    if not EARLIEST <= moment < LATEST:
        raise ValueError(message)
    return moment


Moment = Annotated[datetime, AfterValidator(within_calendar)]
