"""services/core/bounds.py: the body parser is total and bounded; timestamps stay inside the calendar."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.core.bounds import MAX_DEPTH, BodyError, load_json, within_calendar

json_ish = st.text(alphabet='{}[]":,0123456789.eE+-tfnrulsaN\\ud8Iy ', max_size=200)


@given(st.one_of(st.binary(max_size=300), json_ish.map(str.encode)))
def test_any_bytes_either_parse_or_raise_a_body_error(body):
    try:
        load_json(body)
    except BodyError as err:
        assert err.field and err.message


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (b'{"a": [' + b"1" * 41 + b"]}", "a.0", "number longer than 40 digits"),
        (b'{"a": 1e999}', "a", "out of range"),
        (b'{"a": {"b": NaN}}', "a.b", "NaN"),
        (b'{"a": "x\\u0000"}', "a", "NUL"),
        (b'{"a\\ud800": 1}', "body", "surrogate"),
        (b"[" * 33 + b"]" * 33, "0." * 31 + "0", "nested deeper"),
        (b"[" * 100_000 + b"]" * 100_000, "body", "nested deeper"),
    ],
)
def test_each_bound_names_its_field(body, field, message):
    with pytest.raises(BodyError) as raised:
        load_json(body)
    assert raised.value.field == field
    assert message in raised.value.message
    assert not raised.value.malformed


def test_what_is_within_the_bounds_parses_as_json_does():
    body = json.dumps({"deep": [[[[1]]]], "id": 2**63, "price": "1.50", "name": "Zoë \U0001f600", "x": 0.1}).encode()
    assert load_json(body) == json.loads(body)
    assert load_json(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH) == json.loads(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH)


def test_malformed_json_is_told_apart():
    with pytest.raises(BodyError) as raised:
        load_json(b'{"a": }')
    assert raised.value.malformed


@pytest.mark.parametrize(
    "moment",
    [
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))),
        datetime(9999, 12, 31, 23, 59, tzinfo=timezone(-timedelta(hours=12))),
        datetime(1969, 12, 31, 23, 59, tzinfo=UTC),
        datetime(2200, 1, 1),
    ],
)
def test_moments_outside_the_calendar_are_refused(moment):
    with pytest.raises(ValueError, match="must lie between"):
        within_calendar(moment)


def test_a_moment_inside_is_returned_in_utc():
    local = datetime(2026, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    assert within_calendar(local) == datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
    assert within_calendar(datetime(2026, 6, 1, 12, 0)) == datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
