"""Resource limits for templates written by people who are not developers.

Jinja2's sandbox keeps templates away from Python internals, but not from exhausting the worker
that renders them: ``'x' * 10**9``, a string doubled in a loop, a huge ``center()`` width or a
macro that calls itself are all legal sandboxed code. So every render runs under a
``RenderBudget`` (wall clock, operations, characters built, call depth), which the environment in
sandbox.py charges for every loop step, call, operator and piece of output. Operations that can
multiply their input (repeat, power, replace, join, %-formatting, indent...) are refused *before*
the big value is built; everything else is measured right after, when it is still at most a small
constant factor larger than its inputs.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from jinja2.sandbox import SecurityError

MAX_OUTPUT_CHARS = 200_000  # one rendered part; a real email body is 5-30 KB
MAX_VALUE_CHARS = MAX_OUTPUT_CHARS  # any single string or list a template builds
MAX_TOTAL_CHARS = 10 * MAX_OUTPUT_CHARS  # everything built during one render, freed or not
MAX_OPERATIONS = 100_000  # loop steps + calls + operators + filters; real templates use < 2,000
MAX_CALL_DEPTH = 40  # nested macro / block / caller() / loop() calls
MAX_RANGE = 1_000  # carts hold a handful of items; nothing legitimate loops further
MAX_INT_ARGUMENT = 10_000  # widths and counts passed to calls and filters
MAX_INT_BITS = 256  # integers built with * and ** (2**10**9 would take minutes)
MAX_TEMPLATE_LOADS = 200  # extends + includes per render; a self-include would recurse ~1,000 deep
MAX_SECONDS = 2.0

_PERCENT_FIELD = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


class RenderBudget:
    """What one render may still spend; shared by all parts of one message."""

    __slots__ = ("deadline", "operations", "chars", "depth", "loads")

    def __init__(self, seconds: float = MAX_SECONDS):
        self.deadline = time.monotonic() + seconds
        self.operations = MAX_OPERATIONS
        self.chars = MAX_TOTAL_CHARS
        self.depth = 0
        self.loads = 0

    def tick(self) -> None:
        self.operations -= 1
        if self.operations < 0:
            raise SecurityError(f"template does too much work (over {MAX_OPERATIONS} steps)")
        if time.monotonic() > self.deadline:
            raise SecurityError("template takes too long to render")

    def allocate(self, chars: int) -> None:
        self.chars -= chars
        if self.chars < 0:
            raise SecurityError(f"template builds too much text (over {MAX_TOTAL_CHARS} characters)")

    def enter_call(self) -> None:
        self.depth += 1
        if self.depth > MAX_CALL_DEPTH:
            raise SecurityError(f"macro/block calls nested deeper than {MAX_CALL_DEPTH}")

    def leave_call(self) -> None:
        self.depth -= 1

    def load_template(self) -> None:
        self.tick()
        self.loads += 1
        if self.loads > MAX_TEMPLATE_LOADS:
            raise SecurityError(f"more than {MAX_TEMPLATE_LOADS} includes/extends in one message")


# A context variable rather than an attribute of the environment: one cached environment serves
# many renders, possibly on several activity threads at once.
_active: ContextVar[RenderBudget | None] = ContextVar("message_templates_budget", default=None)


@contextmanager
def render_budget(seconds: float = MAX_SECONDS) -> Iterator[RenderBudget]:
    budget = RenderBudget(seconds)
    token = _active.set(budget)
    try:
        yield budget
    finally:
        _active.reset(token)


def current_budget() -> RenderBudget | None:
    """None outside a render (e.g. Jinja constant-folding at compile time): static checks only."""
    return _active.get()


def tick() -> None:
    budget = _active.get()
    if budget is not None:
        budget.tick()


def measure(value: Any, limit: int = MAX_VALUE_CHARS) -> int:
    """Roughly how many characters ``str(value)`` would take, giving up once above ``limit``.

    Walks containers without building their text, so a list holding one big string a million
    times is caught without ever producing that text. Every visit adds at least one, so even a
    self-referencing structure ends.
    """
    total, stack = 0, [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, (str, bytes, bytearray)):
            total += len(item) + 1
        elif isinstance(item, bool) or item is None:
            total += 5
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 2
        elif isinstance(item, Mapping):
            total += 4 * len(item) + 2
            if total <= limit:
                stack.extend(item.keys())
                stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            total += 2 * len(item) + 2
            if total <= limit:
                stack.extend(item)
        else:  # numbers, helpers (cycler, macro, undefined), lazy iterators: small reprs
            total += 16
    return total


def check_value(value: Any) -> Any:
    """Refuse a value that is too big to keep, and charge what was built to the budget."""
    size = measure(value)
    if size > MAX_VALUE_CHARS:
        raise SecurityError(f"template builds a value larger than {MAX_VALUE_CHARS} characters")
    budget = _active.get()
    if budget is not None:
        budget.allocate(size)
    return value


def check_int_arguments(args: tuple, kwargs: Mapping[str, Any]) -> None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT_ARGUMENT:
            raise SecurityError(f"number {value} is larger than templates allow ({MAX_INT_ARGUMENT})")


def bounded_range(*args: int) -> range:
    check_int_arguments(args, {})
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise SecurityError(f"range() is limited to {MAX_RANGE} items in templates")
    return numbers


def _is_sequence(value: Any) -> bool:
    return isinstance(value, (str, list, tuple))


def check_repeat(left: Any, right: Any) -> None:
    """``a * b``: string/list repetition and integer products."""
    if isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise SecurityError(f"numbers larger than {MAX_INT_BITS} bits are not allowed")
        return
    for sequence, times in ((left, right), (right, left)):
        if _is_sequence(sequence) and isinstance(times, int) and times > 0:
            if measure(sequence) * times > MAX_VALUE_CHARS:
                raise SecurityError(f"repetition would exceed {MAX_VALUE_CHARS} characters")


def check_power(base: Any, exponent: Any) -> None:
    if isinstance(base, int) and isinstance(exponent, int) and abs(base) > 1 and exponent > 0:
        if exponent * math.log2(abs(base)) > MAX_INT_BITS:
            raise SecurityError(f"numbers larger than {MAX_INT_BITS} bits are not allowed")


def check_concat(left: Any, right: Any) -> None:
    if _is_sequence(left) and _is_sequence(right):
        if measure(left) + measure(right) > MAX_VALUE_CHARS:
            raise SecurityError(f"joined value would exceed {MAX_VALUE_CHARS} characters")


def format_values(values: Any) -> list:
    """The values a %-format consumes: a tuple, a mapping's values, or one value."""
    if isinstance(values, tuple):
        return list(values)
    if isinstance(values, Mapping):
        return list(values.values())
    return [values]


def check_format(template: str, values: list) -> None:
    """``'%s' % x`` and ``|format``: every field may repeat the widest value or width."""
    widest = 0
    fields = 0
    for match in _PERCENT_FIELD.finditer(template):
        fields += 1
        for number in match.groups():
            if number == "*":
                check_int_arguments(tuple(values), {})
                widest = max(widest, MAX_INT_ARGUMENT)
            elif number:
                if len(number) > len(str(MAX_INT_ARGUMENT)):
                    raise SecurityError(f"format width {number} is too large")
                widest = max(widest, int(number))
    biggest = max((measure(value) for value in values), default=0)
    if len(template) + fields * (widest + biggest) > MAX_VALUE_CHARS:
        raise SecurityError(f"formatted text would exceed {MAX_VALUE_CHARS} characters")


def check_replace(text: Any, old: Any, new: Any, count: Any = None) -> None:
    length = measure(text)
    old_text, new_text = str(old), str(new)
    if isinstance(text, str) and old_text:
        hits = text.count(old_text)
    else:  # replacing "" inserts between every character
        hits = length + 1
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    if length + hits * max(0, len(new_text) - len(old_text)) > MAX_VALUE_CHARS:
        raise SecurityError(f"replace() would exceed {MAX_VALUE_CHARS} characters")


def check_per_line(text: Any, lines: int, added_per_line: int) -> None:
    """indent / wordwrap add a prefix or a separator to every line of the result."""
    if measure(text) + lines * added_per_line > MAX_VALUE_CHARS:
        raise SecurityError(f"result would exceed {MAX_VALUE_CHARS} characters")


def bounded_items(iterable: Any, separator: Any) -> list:
    """Materialise what ``join`` will glue together, stopping as soon as it is too big."""
    sep_size = measure(separator) if separator is not None else 0
    items, total = [], 0
    for item in iterable:
        tick()
        total += measure(item) + sep_size
        if total > MAX_VALUE_CHARS:
            raise SecurityError(f"joined text would exceed {MAX_VALUE_CHARS} characters")
        items.append(item)
    return items
