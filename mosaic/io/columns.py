"""Column types of the shard tables: one declaration per stored field, read by writer and reader.

A ``Column`` says once everything the shard writer and the reader need about one field: its
name, storage kind, dtype and per-row shape, where the writer takes the value from (``get``:
an attribute of the row's record, dotted paths allowed, or a small function of it), how that
value becomes storable (``encode``), and how the reader turns the stored row back into the
field ``field`` of the table's record dataclass (``decode``). A ``Table`` groups the columns
of one HDF5 group; ``mosaic.io.schema`` declares the five tables.

Storage kinds (the HDF5 layout is in ``docs/data_format.md``, "Shard layout"):

* ``array``: numeric dataset of shape (N, *shape);
* ``str``: variable-length UTF-8 strings (ids, small vocabularies);
* ``text``: one ``uint8`` blob plus ``int64`` offsets (N + 1): long text, JSON, bytes;
* ``ragged``: numeric values of per-element shape ``shape`` plus ``int64`` offsets (N + 1).

The helpers (``number``, ``flag``, ``optional_id``, ``optional_float``, ``array``, ``box``,
``vocab``, ``text``, ``blob``, ``json_text``, ``ints``, ``link``) are the column types: each
fixes the kind and the encode/decode pair, so a declaration only names the field.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

Getter = Callable[[Any], Any]
KINDS = ("array", "str", "text", "ragged")


def json_default(value: Any) -> Any:
    """JSON encoder fallback: numpy scalars/arrays, sets, and anything else as its text."""
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    # paths and other plain objects in source metadata: their text form is what a reader needs
    return str(value)


def dumps(value: Any) -> str:
    """Canonical JSON used for every JSON text column (sorted keys, compact)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=json_default)


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Column:
    """One column of a table.

    Attributes:
        name: dataset name inside the table group (text and ragged columns add
            ``<name>_offsets``).
        kind: ``array`` | ``str`` | ``text`` | ``ragged``.
        dtype: numpy dtype of the values (``uint8`` for text blobs; unused for ``str``).
        shape: per-row (``array``) or per-element (``ragged``) trailing shape.
        optional: present only in some shards (e.g. embedded images).
        doc: one-line meaning, units and frames.
        get: record of the row -> value; None for a link, whose value the writer computes
            (a row number in another table).
        encode: value -> what is appended to the column (numbers, arrays, str or bytes).
        decode: stored row (array row, str, blob bytes or ragged values) -> field value.
        field: the field of the table's record that ``decode`` rebuilds; None when the column
            is not read back into the record (links, counts, embedded bytes).
    """

    name: str
    kind: str
    dtype: str = ""
    shape: tuple[int, ...] = ()
    optional: bool = False
    doc: str = ""
    get: Getter | None = None
    encode: Getter = _same
    decode: Getter = _same
    field: str | None = None


@dataclass(frozen=True)
class Table:
    """The columns of one HDF5 group and the dataclass its rows are read back as.

    Attributes:
        name: group name (``scenes``, ``views``, ...).
        columns: in storage order.
        record: dataclass the reader rebuilds a row as, or None when rows are read column by
            column only.
        joined: fields of ``record`` the reader fills from other tables (e.g. a question's
            ``scene_id`` through ``scene_row``).

    Construction checks that every field of ``record`` is rebuilt by exactly one column or
    listed in ``joined``: a dataclass field without a column fails at import.
    """

    name: str
    columns: tuple[Column, ...]
    record: type | None = None
    joined: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        bad_kind = [c.name for c in self.columns if c.kind not in KINDS]
        if bad_kind:
            raise ValueError(f"table {self.name}: columns {bad_kind} have no kind of {KINDS}")
        if len(set(names)) != len(names):
            raise ValueError(f"table {self.name}: a column name appears twice in {names}")
        if self.record is None:
            return
        wanted = {f.name for f in dataclasses.fields(self.record)}
        rebuilt = [c.field for c in self.read_columns] + list(self.joined)
        doubled = sorted({f for f in rebuilt if rebuilt.count(f) > 1})
        unknown = sorted(set(rebuilt) - wanted)
        missing = sorted(wanted - set(rebuilt))
        if doubled or unknown or missing:
            raise ValueError(
                f"table {self.name} does not match {self.record.__name__}: "
                f"fields without a column {missing}, columns for no field {unknown}, "
                f"fields rebuilt twice {doubled}; declare one column per field "
                "(mosaic/io/schema.py)"
            )

    @functools.cached_property
    def read_columns(self) -> tuple[Column, ...]:
        """Columns that rebuild a field of ``record``."""
        if self.record is None:
            return ()
        return tuple(c for c in self.columns if c.field is not None)

    def column(self, name: str) -> Column:
        """The column called ``name`` (KeyError naming ``table/name`` when absent)."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"{self.name}/{name}")

    def decode_row(self, stored: Callable[[Column], Any], **joined: Any) -> Any:
        """The row as ``record``: ``stored(column)`` gives a column's stored row value."""
        if self.record is None:
            raise TypeError(f"table {self.name} has no record type to rebuild rows as")
        fields = {c.field: c.decode(stored(c)) for c in self.read_columns}
        return self.record(**fields, **joined)


def _getter(name: str, get: str | Getter | None) -> Getter:
    if get is None:
        return operator.attrgetter(name)
    if isinstance(get, str):
        return operator.attrgetter(get)
    return get


def _column(kind: str, name: str, doc: str, get: str | Getter | None, field: str | None,
            encode: Getter, decode: Getter, dtype: str = "", shape: tuple[int, ...] = (),
            optional: bool = False) -> Column:
    # field "" means "the field named like the column"
    return Column(name, kind, dtype, shape, optional, doc, _getter(name, get), encode, decode,
                  name if field == "" else field)


def number(name: str, dtype: str, doc: str, get: str | Getter | None = None,
           field: str | None = "") -> Column:
    """A scalar int or float; read back as ``int`` or ``float``."""
    cast = float if np.dtype(dtype).kind == "f" else int
    return _column("array", name, doc, get, field, cast, cast, dtype)


def flag(name: str, doc: str, get: str | Getter | None = None, field: str | None = "") -> Column:
    """A boolean stored as ``uint8`` 0/1."""
    return _column("array", name, doc, get, field, lambda v: int(bool(v)), bool, "uint8")


def optional_id(name: str, dtype: str, doc: str, get: str | Getter | None = None,
                field: str | None = "") -> Column:
    """An integer id or None, stored with -1 for None."""
    return _column("array", name, doc, get, field,
                   lambda v: -1 if v is None else int(v),
                   lambda v: None if int(v) == -1 else int(v), dtype)


def _nan_none(value: float) -> float | None:
    return None if math.isnan(value) else value


def optional_float(name: str, doc: str, get: str | Getter | None = None,
                   field: str | None = "") -> Column:
    """A float or None, stored as ``float64`` with NaN for None."""
    return _column("array", name, doc, get, field,
                   lambda v: math.nan if v is None else float(v),
                   lambda v: _nan_none(float(v)), "float64")


def array(name: str, dtype: str, shape: tuple[int, ...], doc: str,
          get: str | Getter | None = None, field: str | None = "") -> Column:
    """A fixed-shape numeric array per row; read back as the ndarray row."""
    return _column("array", name, doc, get, field, lambda v: np.asarray(v, dtype=dtype),
                   _same, dtype, shape)


def _box_decode(values: np.ndarray) -> tuple[float, ...] | None:
    if np.isnan(values).any():
        return None
    return tuple(float(v) for v in values)


def box(name: str, n: int, doc: str, get: str | Getter | None = None,
        field: str | None = "") -> Column:
    """A tuple of ``n`` floats or None, stored as ``float64`` (N, n) with NaN for None."""
    return _column("array", name, doc, get, field,
                   lambda v: [math.nan] * n if v is None else [float(x) for x in v],
                   _box_decode, "float64", (n,))


def vocab(name: str, doc: str, get: str | Getter | None = None, field: str | None = "") -> Column:
    """A short string from a small vocabulary (ids, levels, categories)."""
    return _column("str", name, doc, get, field, _same, _same)


def text(name: str, doc: str, get: str | Getter | None = None, field: str | None = "") -> Column:
    """Long text in the UTF-8 blob + offsets layout."""
    return _column("text", name, doc, get, field, _same, lambda b: b.decode("utf-8"), "uint8")


def blob(name: str, doc: str, get: str | Getter | None = None, field: str | None = "",
         optional: bool = False) -> Column:
    """Opaque bytes (e.g. an encoded image) in the blob + offsets layout."""
    return _column("text", name, doc, get, field, _same, bytes, "uint8", optional=optional)


def json_text(name: str, doc: str, get: str | Getter | None = None, field: str | None = "",
              after: Getter = _same) -> Column:
    """A JSON value as canonical text (``dumps``); read back with ``json.loads`` then
    ``after`` (e.g. ``tuple`` for a tuple field stored as a JSON list)."""
    return _column("text", name, doc, get, field, dumps,
                   lambda b: after(json.loads(b.decode("utf-8"))), "uint8")


def ints(name: str, doc: str, get: str | Getter | None = None, field: str | None = "",
         shape: tuple[int, ...] = ()) -> Column:
    """A variable-length list of ``int64`` (elements of shape ``shape``); read back as a tuple
    of ints, or of int tuples when ``shape`` is set."""
    def encode(v: Any) -> np.ndarray:
        return np.asarray(v, dtype=np.int64).reshape((-1, *shape))

    def decode(values: np.ndarray) -> tuple[Any, ...]:
        if shape:
            return tuple(tuple(int(x) for x in v) for v in values)
        return tuple(int(v) for v in values)

    return _column("ragged", name, doc, get, field, encode, decode, "int64", shape)


def link(name: str, dtype: str, doc: str, ragged: bool = False) -> Column:
    """Row number(s) in another table of the same shard, supplied by the writer; not read back
    into a record (the reader follows it)."""
    if ragged:
        return Column(name, "ragged", dtype, doc=doc,
                      encode=lambda v: np.asarray(v, dtype=dtype))
    return Column(name, "array", dtype, doc=doc)
