"""Reading a big query into typed column arrays: each row comes back as one CSV line (built by the
database: its own columns, then the feature row of services/store/frames/feature_rows.py), and pandas'
C parser turns a chunk of lines into columns - no Python object per value, no JSON parsing.
Chunks become numpy arrays at once and are joined column by column, so the peak is about the
finished frame plus one chunk.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from services.store.frames.feature_rows import FEATURES, NO_FEATURES

CHUNK_ROWS = 50_000
_SHARED_LISTS = 100_000  # distinct lists kept (shared by the rows that hold them); then one each
KINDS = ("int", "float", "bool", "text", "time")


def csv_line_sql(fields: list[tuple[str, str]], features: str, pg: bool) -> str:
    """SQL for one CSV line: `fields` ((expression, kind): never NULL for int) and then the
    feature row SQL `features` (NULL: the cart has no snapshot)."""
    parts = []
    for expr, kind in fields:
        if kind not in KINDS:
            raise ValueError(f"unknown column kind {kind!r}")
        if kind == "text":
            parts.append(f"""COALESCE('"' || replace({expr}, '"', '""') || '"', '')""")
        elif kind == "bool":
            parts.append(f"(CASE WHEN {expr} THEN '1' WHEN NOT ({expr}) THEN '0' ELSE '' END)")
        else:
            parts.append(f"COALESCE(CAST({expr} AS TEXT), '')")
    parts.append(f"COALESCE({features}, '{FEATURES.empty_row()}')")
    return " || ',' || ".join(parts)


@contextlib.contextmanager
def _collector_paused():
    """Millions of new objects would start a full garbage collection over everything already
    loaded again and again; reference counting frees what this code drops."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class ColumnReader:
    """Columns `fields` ("name:kind") then every feature (FEATURES.names, a name in `fields`
    wins: the decision's own `touch`) from the line, and `json_lists` (raw JSON-list columns
    selected after the line) - one numpy array per name. Rows without a snapshot are dropped,
    or kept and told apart by the bool column `has_features`."""

    def __init__(self, fields: list[str], json_lists: tuple[str, ...] = (), keep_without_features: bool = False):
        self.fields = [tuple(f.split(":")) for f in fields]
        self.json_lists = json_lists
        self.keep_all = keep_without_features
        self._lists: dict = {}
        taken = {name for name, _ in self.fields}
        self.features = [
            (f"f{i}", name, kind)
            for i, (name, kind) in enumerate(zip(FEATURES.names, FEATURES.kinds))
            if name not in taken
        ]
        self._csv_names = [name for name, _ in self.fields] + ["layout"] + [f"f{i}" for i in range(len(FEATURES.names))]
        self._csv_types = (
            {name: _CSV_TYPES[kind] for name, kind in self.fields}
            | {"layout": object}
            | {f"f{i}": _CSV_TYPES[kind] for i, kind in enumerate(FEATURES.kinds)}
        )

    def read(self, engine: Engine, statement, params: dict) -> dict[str, np.ndarray]:
        names = [name for name, _ in self.fields] + [name for _, name, _ in self.features] + list(self.json_lists)
        names += ["has_features"] if self.keep_all else []
        chunks: dict[str, list[np.ndarray]] = {name: [] for name in names}
        with _collector_paused(), engine.connect() as connection:
            result = connection.execution_options(stream_results=True).execute(statement, params)
            for rows in result.partitions(CHUNK_ROWS):
                for name, values in self._chunk(rows).items():
                    chunks[name].append(values)
            out = {}
            for name in names:  # joined and freed one column at a time
                parts = chunks.pop(name)
                out[name] = np.concatenate(parts) if parts else self._empty(name)
        return out

    def _chunk(self, rows) -> dict[str, np.ndarray]:
        text = "\n".join([row[0] for row in rows])
        frame = pd.read_csv(
            io.StringIO(text),
            header=None,
            names=self._csv_names,
            dtype=self._csv_types,
            keep_default_na=False,
            na_values=[""],
            engine="c",
        )
        known = (frame["layout"] != NO_FEATURES).to_numpy()
        every = self.keep_all or bool(known.all())
        keep = slice(None) if every else known
        out = {name: _typed(kind, frame[name].to_numpy()[keep]) for name, kind in self.fields}
        for column, name, kind in self.features:
            values = frame[column].to_numpy()[keep]
            out[name] = (
                self._parsed([v if isinstance(v, str) else "" for v in values])
                if kind == "list"
                else _typed(kind, values)
            )
        for i, name in enumerate(self.json_lists, start=1):
            out[name] = self._parsed(
                [row[i] for row in rows] if every else [row[i] for row, k in zip(rows, known) if k]
            )
        if self.keep_all:
            out["has_features"] = known
        return out

    def _parsed(self, texts: list) -> np.ndarray:
        """JSON lists: the chunk's new texts parsed in one call, each distinct list shared by the
        rows that hold it (up to _SHARED_LISTS distinct ones across chunks)."""
        shared = self._lists
        new = [text for text in dict.fromkeys(texts) if text not in shared]
        if not new:
            return np.fromiter((shared[text] for text in texts), dtype=object, count=len(texts))
        parsed = json.loads("[" + ",".join(t or "[]" for t in new) + "]")
        local = {text: [] if value is None else value for text, value in zip(new, parsed)}
        if len(shared) + len(local) <= _SHARED_LISTS:
            shared.update(local)
        return np.fromiter((local[t] if t in local else shared[t] for t in texts), dtype=object, count=len(texts))

    def _empty(self, name: str) -> np.ndarray:
        kinds = dict(self.fields) | {n: k for _, n, k in self.features} | {n: "list" for n in self.json_lists}
        kind = kinds.get(name, "bool")  # has_features
        return np.empty(0, dtype=object) if kind == "list" else _typed(kind, np.empty(0, dtype=_CSV_TYPES[kind]))


_CSV_TYPES = {
    "int": np.int64,
    "count": np.float64,
    "float": np.float64,
    "bool": np.float64,
    "text": object,
    "list": object,
    "time": object,
}


def _typed(kind: str, values: np.ndarray) -> np.ndarray:
    """A parsed CSV column as its frame dtype. Counts and booleans missing from an older
    snapshot are 0 / False; floats stay NaN; text stays None."""
    if kind == "time":
        return timestamps(values)
    if kind == "text":
        return np.where(pd.isna(values), None, values).astype(object)
    if kind == "count":
        return np.nan_to_num(values, nan=0.0).astype(np.int32)
    if kind == "bool":
        return np.nan_to_num(values, nan=0.0).astype(bool)
    return values


def timestamps(values: np.ndarray) -> np.ndarray:
    """Stored timestamps (UTC text in either database's format, or missing) as naive
    datetime64[ns] in UTC."""
    if not len(values):
        return np.array([], dtype="datetime64[ns]")
    parsed = pd.to_datetime(pd.Series(values, dtype=object), format="ISO8601", utc=True)
    return parsed.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
