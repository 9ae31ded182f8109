"""A feature snapshot as one CSV row, so a million of them load without parsing JSON.

Decisions and carts keep their snapshot twice: `features` (JSON, what the contract and the
journey view show) and `feature_row` (this module's flat text, what training reads). Parsing JSON
is what made loading slow - a dict of 43 keys per row in Python, or 43 key lookups per row in
SQLite's json_extract - while pandas' C CSV parser turns a chunk of flat rows into typed columns
directly (measured in docs/PERFORMANCE.md).

Row layout: the layout id, then every key of `features.snapshot` in its order (FEATURES):
numbers as written, booleans 1/0, text and lists (as JSON) in double quotes with quotes doubled,
empty when missing. The layout id changes whenever the snapshot's keys or kinds change; a row of
another layout (or none: written before this column, or by a bulk loader) is rebuilt from its
JSON by `feature_row_sql`, in the database, the same way - slower, never wrong.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from channel_models.context import PlanContext
from channel_models.learning.features import snapshot

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
NO_FEATURES = "none"  # layout field of a row whose cart has no snapshot at all


@dataclass(frozen=True)
class FeatureSpec:
    names: tuple[str, ...]
    kinds: tuple[str, ...]  # count, float, bool, text or list: the snapshot's own value types

    @property
    def layout(self) -> str:
        return hashlib.sha256(repr((self.names, self.kinds)).encode()).hexdigest()[:8]

    def flatten(self, record: Mapping[str, Any]) -> str:
        """The snapshot as a feature row (the layout id first)."""
        fields = [self.layout]
        for name, kind in zip(self.names, self.kinds):
            fields.append(_field(kind, record.get(name)))
        return ",".join(fields)

    def empty_row(self) -> str:
        return NO_FEATURES + "," * len(self.names)


def _field(kind: str, value: Any) -> str:
    if value is None:
        return ""
    if kind == "bool":
        return "1" if value else "0"
    if kind == "count":
        return str(int(value))
    if kind == "float":
        number = float(value)
        return repr(number) if math.isfinite(number) else ""
    text = json.dumps(list(value)) if kind == "list" else str(value)
    return '"' + text.replace('"', '""') + '"'


def _spec() -> FeatureSpec:
    """Every key `features.snapshot` writes, in its order, with the kind of value it holds."""
    moment = datetime(2024, 1, 1, tzinfo=UTC)
    sample = snapshot(
        PlanContext(
            touch=1,
            max_touches=1,
            now=moment,
            abandoned_at=moment,
            deadline=moment,
            cart_value=0.0,
            item_count=0,
            stage="cart",
        )
    )
    kinds = []
    for name, value in sample.items():
        if not _NAME.match(name):
            raise ValueError(f"feature name {name!r} cannot be used as a JSON path")
        if isinstance(value, bool):
            kinds.append("bool")
        elif isinstance(value, int):
            kinds.append("count")
        else:
            kinds.append("float" if isinstance(value, float) else "list" if isinstance(value, list) else "text")
    return FeatureSpec(tuple(sample), tuple(kinds))


FEATURES = _spec()


def feature_row(record: Mapping[str, Any] | None) -> str | None:
    """What `decisions.feature_row` / `carts.feature_row` keep for a snapshot."""
    return None if record is None else FEATURES.flatten(record)


def feature_row_sql(row: str, document: str, pg: bool) -> str:
    """SQL for the feature row of a stored snapshot: the `row` column when it has the current
    layout, else the row rebuilt from the JSON `document` column, else NULL."""
    current = f"CASE WHEN substr({row}, 1, {len(FEATURES.layout) + 1}) = '{FEATURES.layout},' THEN {row} END"
    return f"COALESCE({current}, CASE WHEN {document} IS NOT NULL THEN {_rebuild_sql(document, pg)} END)"


def _rebuild_sql(document: str, pg: bool) -> str:
    parts = [f"'{FEATURES.layout}'"]
    for name, kind in zip(FEATURES.names, FEATURES.kinds):
        if pg:
            value = f"(({document})->>'{name}')"
            raw = f"CAST(({document})->'{name}' AS TEXT)" if kind == "list" else value
        else:
            value = raw = f"json_extract({document}, '$.{name}')"
        if kind == "bool" and pg:
            parts.append(f"(CASE {value} WHEN 'true' THEN '1' WHEN 'false' THEN '0' ELSE '' END)")
        elif kind in ("count", "float", "bool"):
            parts.append(f"COALESCE(CAST({value} AS TEXT), '')")
        else:  # quoted like _field: NULL stays empty
            parts.append(f"""COALESCE('"' || replace({raw}, '"', '""') || '"', '')""")
    return " || ',' || ".join(parts)
