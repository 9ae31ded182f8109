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

from services.core.clock import utc

SHOP_PATTERN = r"^[A-Za-z0-9._-]{1,255}$"  # a shop's name: generic webhooks' `shop`, Shopify domains
SHOP_FILTER_PATTERN = r"^[A-Za-z0-9._-]{0,255}$"  # a report's shop filter: empty means every shop
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


class _Parse:
    """One body's parse: the number hooks note whether they refused anything, so the walk after it
    looks at numbers only then, and at strings only when the body has \\u escapes (the only way to
    write a NUL or a lone surrogate in JSON; raw control characters fail the parse itself)."""

    def __init__(self) -> None:
        self.refused = False

    def integer(self, text: str) -> int | _Refused:
        if len(text.lstrip("-")) > MAX_NUMBER_CHARS:
            self.refused = True
            return _Refused(f"number longer than {MAX_NUMBER_CHARS} digits")
        return int(text)

    def decimal(self, text: str) -> float | _Refused:
        value = float(text)
        if len(text) > MAX_NUMBER_CHARS or value in (float("inf"), float("-inf")):
            self.refused = True
            return _Refused(f"number longer than {MAX_NUMBER_CHARS} characters or out of range")
        return value

    def constant(self, _text: str) -> _Refused:
        self.refused = True
        return _Refused("NaN and Infinity are not JSON numbers")


def load_json(body: bytes) -> Any:
    """Parse a request body or raise `BodyError` naming the first offending field."""
    try:
        text = body.decode("utf-8-sig")  # a leading byte-order mark is allowed, as json.loads(bytes) does
    except UnicodeDecodeError:
        raise BodyError("body", "malformed JSON: body is not UTF-8", malformed=True) from None
    parse = _Parse()
    try:
        value = json.loads(text, parse_int=parse.integer, parse_float=parse.decimal, parse_constant=parse.constant)
    except RecursionError:
        raise BodyError("body", f"nested deeper than {MAX_DEPTH} levels") from None
    except json.JSONDecodeError as err:
        raise BodyError(
            "body", f"malformed JSON: {err.msg} at line {err.lineno} column {err.colno}", malformed=True
        ) from None
    _check(value, numbers=parse.refused, strings="\\u" in text)
    return value


def _check(root: Any, *, numbers: bool, strings: bool) -> None:
    """Walk the parsed value without recursion (the depth is what is being checked)."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(root, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            children: Any = value.items()
        elif isinstance(value, list):
            children = enumerate(value)
        else:
            if (numbers and isinstance(value, _Refused)) or (strings and isinstance(value, str)):
                _check_leaf(value, path)
            continue
        if len(path) >= MAX_DEPTH:
            raise BodyError(_where(path), f"nested deeper than {MAX_DEPTH} levels")
        for key, child in children:
            if strings and isinstance(key, str):
                _check_leaf(key, path)
            if isinstance(child, (dict, list)) or numbers or strings:
                stack.append((child, (*path, str(key)[:60])))


def _where(path: tuple[str, ...]) -> str:
    return ".".join(path) or "body"


def _check_leaf(value: Any, path: tuple[str, ...]) -> None:
    if isinstance(value, _Refused):
        raise BodyError(_where(path), value.message)
    if "\x00" in value:
        raise BodyError(_where(path), "contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BodyError(_where(path), "contains an unpaired UTF-16 surrogate") from None


def within_calendar(moment: datetime) -> datetime:
    """The moment in UTC (naive means UTC), if it lies in [EARLIEST, LATEST); ValueError otherwise."""
    message = f"must lie between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}"
    try:
        moment = utc(moment)
    except OverflowError:  # the offset pushed it past year 1 or 9999
        raise ValueError(message) from None
    if not EARLIEST <= moment < LATEST:
        raise ValueError(message)
    return moment


Moment = Annotated[datetime, AfterValidator(within_calendar)]
