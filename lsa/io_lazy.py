"""Frames that read further columns of their study's files when a name asks for them.

:func:`lsa.io.read_study` reads, by default, only the columns a design needs (ids, weights,
replicate weights, jackknife zones, the plausible values of the dictionary's domains) and returns
a :class:`StudyFrame`: a pandas DataFrame that knows where it came from. A column it does not
hold yet is read from the files the first time it is named, by ``df["ESCS"]``, ``df[[...]]``,
:func:`load_columns`, or an lsa analysis of a design built on the frame (formula terms,
``variables=``, ``by=``; :func:`lsa.validation.ensure_columns` is the hook those entry points call). EdSurvey's
``edsurvey.data.frame`` works the same way (its ``getData`` reads what a call names).

A read of new columns returns them for every row of the study read, with the key columns
(country, school and student ids); they are placed by the frame's index labels (``read_study``
numbers the rows 0..n-1, and row subsets keep their labels), after checking that the keys at
those labels equal the frame's own. A frame whose rows were renumbered or re-sorted, or whose keys
were recoded, no longer matches its files and gets a :class:`~lsa.errors.StudyError` that says so.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd

from .errors import LsaError, StudyError
from .io_readers import ColumnNotFoundError, SharedMapping, nearest_names
from .validation import study_source

__all__ = ["ColumnSource", "StudyFrame", "study_frame", "load_columns"]


class ColumnSource:
    """Where a study frame's further columns come from.

    ``read(names)``: a frame of every row of the study read (index 0..n-1), holding the key columns
    and the columns ``names`` stand for; ``readable()``: the column names the files hold and the
    PV roots with their columns (``{root: [columns]}``), read once and kept; ``keys``: the id
    columns that identify a row."""

    def __init__(self, read: Callable[[list[str]], pd.DataFrame],
                 readable: Callable[[], tuple[Iterable[str], dict[str, list[str]]]], keys: Iterable[str], label: str):
        self.read, self._readable, self.keys, self.label = read, readable, list(keys), label
        self._names: dict[str, str] | None = None
        self._pvs: dict[str, list[str]] = {}

    def match(self, names: Iterable[str], exact: bool = False) -> tuple[list[str], list[str]]:
        """(the file columns behind ``names``, as spelled there, a PV root standing for its PV
        columns; names the files do not hold). Case-insensitive unless ``exact``."""
        if self._names is None:
            columns, pvs = self._readable()
            self._names = {str(n).upper(): str(n) for n in columns}
            self._pvs = {str(r).upper(): list(c) for r, c in pvs.items()}
        found, absent = [], []
        for n in names:
            key = str(n).upper()
            if key in self._names and (not exact or self._names[key] == n):
                found.append(self._names[key])
            elif key in self._pvs and (not exact or key == n):
                found += self._pvs[key]
            else:
                absent.append(n)
        return found, absent

    def all_names(self) -> list[str]:
        self.match(())
        return [*self._names.values(), *self._pvs]

    def load(self, frame: pd.DataFrame, names: list[str], missing_ok: bool = False, exact: bool = False) -> list[str]:
        """Read ``names`` that ``frame`` lacks into it, in place (see :func:`load_columns`);
        ``exact``: only names spelled as in the files (the automatic reads of analyses and of
        ``df[...]``, which then find them under the names they asked for)."""
        found, absent = self.match((n for n in dict.fromkeys(names) if n not in frame.columns), exact)
        found = [c for c in dict.fromkeys(found) if c not in frame.columns]
        if absent and not missing_ok:
            raise ColumnNotFoundError(f"{self.label}: columns not found in the files: {absent}."
                                      f"{nearest_names(absent, self.all_names())}")
        if not found:
            return []
        new = self.read(found)
        rows = _rows_of(frame, new, self)
        added = [c for c in new.columns if c not in frame.columns]
        with warnings.catch_warnings():                  # one insert per column; fragmentation is harmless here
            warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
            for c in added:
                frame[c] = new[c].iloc[rows].set_axis(frame.index)
        _merge_attrs(frame, new.attrs, added)
        return added


class StudyFrame(pd.DataFrame):
    """A DataFrame read by :func:`lsa.io.read_study` that reads a named column it lacks from the
    study's files (``df["ESCS"]``, ``df[["ESCS", "ST004D01T"]]``), then holds it like any other.
    Everything else is pandas; frames derived from it (copies, row subsets) keep the source."""

    _metadata = ["_lsa_source"]
    _lsa_source: ColumnSource | None = None

    @property
    def _constructor(self):
        return StudyFrame

    def __getitem__(self, key):
        if self._lsa_source is not None:
            names = _names_in(key)
            if names and any(n not in self.columns for n in names):
                self._lsa_source.load(self, names, missing_ok=True, exact=True)
        return super().__getitem__(key)


def _names_in(key: Any) -> list[str]:
    if isinstance(key, str):
        return [key]
    if isinstance(key, (list, pd.Index)) and len(key) and all(isinstance(k, str) for k in key):
        return list(key)
    return []


def study_frame(data: pd.DataFrame, source: ColumnSource) -> StudyFrame:
    """``data`` as a :class:`StudyFrame` reading further columns from ``source``."""
    out = StudyFrame(data)
    out.attrs = data.attrs
    out._lsa_source = source
    return out


def load_columns(data, names: Iterable[str] | str, *, missing_ok: bool = False) -> list[str]:
    """Read the columns ``names`` (a PV root stands for its PV columns) of a frame returned by
    :func:`lsa.io.read_study`, or of a design built on one, from the study's files into that frame,
    in place; returns the columns added. Names the frame holds already are skipped; a name the
    files do not hold raises :class:`~lsa.io.ColumnNotFoundError` with the nearest names (or is
    skipped with ``missing_ok=True``)."""
    names = [names] if isinstance(names, str) else list(names)
    source = study_source(data)
    if source is None:
        raise LsaError("load_columns needs a frame read by lsa.io.read_study (or a design built on one); "
                       f"got {type(data).__name__}. Read the columns with read_study(..., columns=[...]).")
    return source.load(data if isinstance(data, pd.DataFrame) else data.data, names, missing_ok=missing_ok)


def _rows_of(frame: pd.DataFrame, new: pd.DataFrame, source: ColumnSource) -> np.ndarray:
    """Positions in ``new`` of the frame's rows (its index labels), checked on the key columns."""
    stale = StudyError(f"{source.label}: the frame's rows no longer match the files it was read from (renumbered, "
                       "re-sorted or recoded ids), so further columns cannot be placed; read them with "
                       "read_study(..., columns=[...]) or lsa.io.load_columns before changing the rows.")
    index = frame.index
    if not pd.api.types.is_integer_dtype(index.dtype) or len(index) == 0:
        raise stale
    rows = index.to_numpy(dtype=np.int64)
    if rows.min() < 0 or rows.max() >= len(new):
        raise stale
    keys = [k for k in source.keys if k in frame.columns and k in new.columns]
    if not keys:
        raise StudyError(f"{source.label}: the frame holds none of the id columns {source.keys} that identify its "
                         "rows in the files, so further columns cannot be placed; read them with "
                         "read_study(..., columns=[...]).")
    for k in keys:
        ours, theirs = frame[k].to_numpy(), new[k].to_numpy()[rows]
        if ours.dtype.kind in "fiu" and theirs.dtype.kind in "fiu":      # numeric ids: one vectorised test
            same = np.array_equal(ours, theirs, equal_nan=ours.dtype.kind == "f" and theirs.dtype.kind == "f")
        else:
            same = pd.Series(ours, dtype=object).equals(pd.Series(theirs, dtype=object))
        if not same:
            raise stale
    return rows


def _merge_attrs(frame: pd.DataFrame, attrs: dict, added: list[str]) -> None:
    """The new columns' labels, value labels and missing codes, added to the frame's metadata."""
    out = dict(frame.attrs)
    labels_of = set(added)
    for key in ("labels", "value_labels", "missing_declared"):
        extra = {c: v for c, v in (attrs.get(key) or {}).items() if c in labels_of}
        if extra or key in out:
            out[key] = SharedMapping({**(out.get(key) or {}), **extra})
    codes = dict(out.get("missing_codes") or {})
    for c, s in (attrs.get("missing_codes") or {}).items():
        if c in labels_of:
            codes[c] = s[s.index.isin(frame.index)]
    out["missing_codes"] = SharedMapping(codes)
    frame.attrs = out
