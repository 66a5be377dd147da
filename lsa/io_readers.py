"""Read one SPSS, SAS or Stata file, with labels and user-defined missing values (``lsa.io`` re-exports
these readers and adds whole study folders and :func:`~lsa.io.describe`).

Metadata design (one rule for every reader)
-------------------------------------------
Each reader returns a plain :class:`pandas.DataFrame`; its ``df.attrs`` carry

``attrs["labels"]``
    column -> variable label (``"1ST PLAUSIBLE VALUE MATHEMATICS"``).
``attrs["value_labels"]``
    column -> {code: label}, as in the file (also for columns that stay numeric).
``attrs["missing_declared"]``
    column -> the user-missing declaration (``[{"lo": 9.0, "hi": 9.0}]`` or a list of values).
``attrs["missing_codes"]``
    column -> :class:`pandas.Series` of the **original codes** of the cells that were set to NaN
    because they were user-missing, indexed by the row labels of the frame as read. With
    :func:`restore_missing` the codes can be put back.
``attrs["source"]``
    the file(s) read.

These mappings are read-only and shared (not deep-copied) when pandas propagates ``attrs`` to
derived frames, so they cost nothing on later operations; after row subsetting the row labels
in ``missing_codes`` still refer to the rows as read.

Value labels (``labels=``): ``"categorical"`` (default) turns a labelled column into a pandas
Categorical (categories in code order) when every valid value has a label; columns whose labels
only name missing codes (``IDSCHOOL``, ``BSMMAT01``…) stay numeric. ``"codes"`` keeps the
numbers; ``"strings"`` gives the label text (same coverage rule).

Errors (one rule for every reader)
----------------------------------
A file that cannot be read raises :class:`lsa.errors.ReadError` (an ``OSError`` too) naming the
file and what is wrong: it does not exist, is a folder, is empty (0 bytes), is not an SPSS/Stata/SAS
file (its first bytes are not the format's signature), is truncated or damaged (the header is
readable but the data end early: the header's row count is checked against the rows read), or has
an extension lsa does not read. No pyreadstat exception reaches the user.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from .errors import LsaError, ReadError

__all__ = ["read_spss", "read_sas", "read_stata", "read_any", "restore_missing", "ColumnNotFoundError",
           "SharedMapping", "resolve_columns", "FILE_TYPES", "check_data_file", "read_metadata", "check_complete",
           "finish_frame", "read_chunks", "check_n_jobs", "header_memory", "nearest_names", "in_daemon"]

_LABEL_MODES = ("categorical", "codes", "strings")


class ColumnNotFoundError(LsaError, KeyError):
    """Requested columns are not in the file."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class SharedMapping(dict):
    """A read-only mapping that pandas shares instead of deep-copying when it propagates attrs."""

    def __deepcopy__(self, memo):
        return self

    def __copy__(self):
        return self

    def __reduce__(self):  # pickle (joblib and Dask workers) rebuilds it whole, not item by item
        return SharedMapping, (dict(self),)

    def __eq__(self, other):  # pd.concat compares attrs; Series values cannot be compared with ==
        if self is other:
            return True
        try:
            return dict.__eq__(self, other)
        except (ValueError, TypeError):
            return False

    def __ne__(self, other):
        return not self.__eq__(other)

    __hash__ = object.__hash__

    def _ro(self, *a, **k):
        raise TypeError("lsa file metadata is read-only; copy it with dict(...) to change it.")

    __setitem__ = __delitem__ = update = pop = popitem = clear = setdefault = _ro  # type: ignore[assignment]


# --------------------------------------------------------------------------------------------
# single files
# --------------------------------------------------------------------------------------------
def _pyreadstat():
    import pyreadstat

    return pyreadstat


#: extension -> reader kind
FILE_TYPES = {".sav": "spss", ".zsav": "spss", ".dta": "stata", ".sas7bdat": "sas"}
_NAMES = {"spss": "SPSS", "stata": "Stata", "sas": "SAS"}
_SIGNATURES = {"spss": "'$FL2' or '$FL3'", "stata": "'<stata_dta>' or a release byte 102-115",
               "sas": "the 32-byte SAS7BDAT magic number"}
_SAS_MAGIC = bytes.fromhex("000000000000000000000000c2ea8160b31411cfbd92080009c7318c181f1011")


def _signature_ok(kind: str, head: bytes) -> bool:
    """Whether the first bytes are the format's signature (SPSS: ``$FL2``/``$FL3``; Stata 13+:
    ``<stata_dta>``, older: release byte and byte-order flag; SAS: the SAS7BDAT magic number)."""
    if kind == "spss":
        return head[:4] in (b"$FL2", b"$FL3")
    if kind == "stata":
        return head.startswith(b"<stata_dta>") or (len(head) > 1 and 102 <= head[0] <= 115 and head[1] in (1, 2))
    return head[:32] == _SAS_MAGIC


def _missing_hint(path: Path) -> str:
    import difflib

    if not path.parent.is_dir():
        return f" (the folder {path.parent} does not exist either)"
    near = difflib.get_close_matches(path.name, [p.name for p in path.parent.iterdir()], n=3)
    return f" (did you mean {near}?)" if near else ""


def check_data_file(path, kind: str | None = None) -> tuple[Path, str]:
    """``(path, kind)`` of a data file that exists, is not empty and starts with the signature of
    its format; otherwise :class:`~lsa.errors.ReadError` naming the file and what is wrong.
    ``kind`` ("spss", "stata", "sas") defaults to the one its extension (:data:`FILE_TYPES`) says."""
    path = Path(path)
    if not path.exists():
        raise ReadError(f"{path}: no such file{_missing_hint(path)}.")
    if path.is_dir():
        raise ReadError(f"{path} is a folder, not a data file; give a .sav, .zsav, .dta or .sas7bdat file "
                        "(lsa.io.read_study reads a folder of study files).")
    if kind is None:
        kind = FILE_TYPES.get(path.suffix.lower())
        if kind is None:
            extra = {".csv": " (read CSV files with pandas.read_csv)",
                     ".parquet": " (read Parquet copies with lsa.io.read_parquet)",
                     ".txt": " (convert fixed-width PISA text files to .sav with the OECD read-in syntax first)"}
            raise ReadError(f"{path}: lsa reads SPSS (.sav, .zsav), Stata (.dta) and SAS (.sas7bdat) files; "
                            f"got the extension {path.suffix or '(none)'!r}{extra.get(path.suffix.lower(), '')}.")
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(32)
    except OSError as exc:
        raise ReadError(f"{path}: cannot be opened ({exc.strerror or exc}).") from exc
    if size == 0:
        raise ReadError(f"{path} is empty (0 bytes); download or export it again.")
    if not _signature_ok(kind, head):
        raise ReadError(f"{path} is not an {_NAMES[kind]} file: it starts with {head[:12]!r}, not with "
                        f"{_SIGNATURES[kind]} (a file of another format renamed to {path.suffix}?).")
    return path, kind


def _call(kind: str, path: Path, what: str, **kw):
    """The pyreadstat reader of ``kind`` on ``path``; its errors become a ReadError naming the file."""
    prs = _pyreadstat()
    fn = {"spss": prs.read_sav, "sas": prs.read_sas7bdat, "stata": prs.read_dta}[kind]
    try:
        if "num_processes" in kw:  # rows split among processes, each reads its own slice of the file
            return prs.read_file_multiprocessing(fn, str(path), **kw)
        return fn(str(path), **kw)
    except (prs.ReadstatError, prs.PyreadstatError, OSError, UnicodeError, ValueError) as exc:
        size = path.stat().st_size if path.is_file() else 0
        raise ReadError(f"{path}: cannot read {what} of this {_NAMES[kind]} file ({size:,} bytes): {exc}. The "
                        f"file is probably truncated or damaged; download or export it again.") from exc


def read_chunks(kind: str, path, chunksize: int, **kw):
    """The (frame, metadata) of each ``chunksize`` rows of a checked data file (pyreadstat's
    ``read_file_in_chunks``); its errors become a :class:`~lsa.errors.ReadError` naming the file."""
    prs = _pyreadstat()
    fn = {"spss": prs.read_sav, "sas": prs.read_sas7bdat, "stata": prs.read_dta}[kind]
    path = Path(path)
    try:
        yield from prs.read_file_in_chunks(fn, str(path), chunksize=chunksize, **kw)
    except (prs.ReadstatError, prs.PyreadstatError, OSError, UnicodeError, ValueError) as exc:
        raise ReadError(f"{path}: cannot read the data of this {_NAMES[kind]} file ({path.stat().st_size:,} bytes): "
                        f"{exc}. The file is probably truncated or damaged; download or export it again.") from exc


def read_metadata(path, kind: str | None = None, **kw):
    """pyreadstat metadata (header only) of a checked data file (:func:`check_data_file`)."""
    path, kind = check_data_file(path, kind)
    return _call(kind, path, "the header", metadataonly=True, **kw)[1]


def _truncated(path: Path, meta, exc: ReadError) -> ReadError:
    """The error for a file whose header was read but whose data could not be."""
    n = getattr(meta, "number_rows", None)
    declared = f"{n:,} rows x " if n is not None and n >= 0 else ""
    return ReadError(f"{path} is truncated or damaged: its header declares {declared}{len(meta.column_names)} "
                     f"variables, but the data stop early ({path.stat().st_size:,} bytes; pyreadstat: "
                     f"{exc.__cause__}). Download or export it again.")


def check_complete(path, kind: str, meta, **kw) -> int:
    """The number of rows of a file whose header was read, after checking that the data hold them.

    pyreadstat reads the header of a truncated file without complaint and reports the row count
    the header declares; only reading the data fails. This reads the last declared row of the first
    variable (cheap: one value), or, when the header gives no row count, the first variable whole.
    """
    path = Path(path)
    n = getattr(meta, "number_rows", None)
    first = list(meta.column_names[:1])
    if not first or n == 0:
        return int(n or 0)
    if n is None or n < 0:
        return len(_call(kind, path, "the data", usecols=first, **kw)[0])
    try:
        last = _call(kind, path, "the data", usecols=first, row_offset=n - 1, row_limit=1, **kw)[0]
    except ReadError as exc:
        raise _truncated(path, meta, exc) from exc.__cause__
    if len(last) != 1:
        raise ReadError(f"{path} is truncated: its header declares {n:,} rows but row {n:,} is not in the file.")
    return int(n)


def resolve_columns(requested: Sequence[str] | None, available: Sequence[str], path) -> list[str] | None:
    if requested is None:
        return None
    if isinstance(requested, str):
        requested = [requested]
    upper = {}
    for c in available:
        upper.setdefault(c.upper(), c)
    out, missing = [], []
    for r in requested:
        c = r if r in available else upper.get(str(r).upper())
        (missing if c is None else out).append(r if c is None else c)
    if missing:
        raise ColumnNotFoundError(f"{Path(path).name}: columns not found: {missing}."
                                  f"{nearest_names(missing, available)} The file has {len(available)} columns: "
                                  f"{', '.join(list(available)[:30])}{', ...' if len(available) > 30 else ''}.")
    return list(dict.fromkeys(out))


def nearest_names(missing: Sequence[str], available: Sequence[str], n: int = 3) -> str:
    """`` Nearest names in the file: MATH -> ['PV1MATH', ...]; ...`` (difflib's close matches,
    case-insensitive), or an empty string when no name is close."""
    import difflib

    upper: dict[str, str] = {}
    for c in available:
        upper.setdefault(str(c).upper(), c)
    parts = []
    for m in missing:
        near = [upper[u] for u in difflib.get_close_matches(str(m).upper(), list(upper), n=n, cutoff=0.6)]
        if near:
            parts.append(f"{m} -> {near}")
    return f" Nearest names in the file: {'; '.join(parts)}." if parts else ""


def check_n_jobs(n_jobs: Any) -> int:
    """The number of processes of ``n_jobs`` (an integer; -1 = every core, -2 = all but one, as
    joblib)."""
    from .validation import check_number

    check_number(n_jobs, "n_jobs", integer=True)
    if n_jobs == 0:
        raise LsaError("n_jobs must be a positive number of processes (or negative: -1 = every core, "
                       "as joblib); got 0.")
    cores = os.cpu_count() or 1
    return int(n_jobs) if n_jobs > 0 else max(1, cores + 1 + int(n_jobs))


def in_daemon() -> bool:
    """A daemonic process (a multiprocessing pool's worker) cannot start processes: read serially."""
    import multiprocessing

    return bool(multiprocessing.current_process().daemon)


def header_memory(path: Path, meta, usecols: Sequence[str] | None, peak: float = 2.0) -> int:
    """Check that the columns ``usecols`` (None: all) of a file whose header is ``meta`` fit in
    memory (:func:`lsa.io_memory.check_memory`); returns the bytes the read needs."""
    from .io_memory import check_memory, header_row_bytes

    cols = list(meta.column_names) if usecols is None else list(usecols)
    n = getattr(meta, "number_rows", None)
    if n is None or n < 0:
        return 0
    per_row = header_row_bytes(cols, meta)
    return check_memory(n, per_row, f"reading {len(cols):,} columns of {path.name}", n_columns=len(cols), peak=peak)


def _read(kind: str, path, columns, labels, user_missing, n_jobs: Any = 1, **kw) -> pd.DataFrame:
    if labels not in _LABEL_MODES:
        raise LsaError(f"labels must be one of {_LABEL_MODES}; got {labels!r}.")
    procs = check_n_jobs(n_jobs)
    path, kind = check_data_file(path, kind)
    meta0 = _call(kind, path, "the header", metadataonly=True, **kw)[1]
    usecols = None if columns is None else resolve_columns(columns, meta0.column_names, path)
    header_memory(path, meta0, usecols)
    # SPSS: always read the codes, then decide; SAS/Stata special missings have no numeric code
    kw.update(usecols=usecols, user_missing=True if kind == "spss" else bool(user_missing))
    if procs > 1 and (getattr(meta0, "number_rows", None) or 0) > 1 and not in_daemon():
        kw.update(num_processes=procs, num_rows=meta0.number_rows)
    try:
        df, meta = _call(kind, path, "the data", **kw)
    except ReadError as exc:
        raise _truncated(path, meta0, exc) from exc.__cause__
    declared = getattr(meta, "number_rows", None)
    if declared is not None and declared >= 0 and len(df) != declared:
        raise ReadError(f"{path} is truncated or damaged: its header declares {declared:,} rows but "
                        f"{len(df):,} were read. Download or export it again.")
    if usecols is not None and list(df.columns) != usecols:
        df = df[usecols]  # the requested order
    return _finish(df, meta, labels, bool(user_missing), str(path))


def read_spss(path, columns: Sequence[str] | None = None, labels: str = "categorical",
              user_missing: bool = True, encoding: str | None = None, n_jobs: int = 1) -> pd.DataFrame:
    """Read an SPSS ``.sav``/``.zsav`` file (pyreadstat), keeping labels and missing-value codes.

    Before reading, the memory the columns need is estimated from the header and checked against
    the memory available (:mod:`lsa.io_memory`); a read that would not fit raises
    :class:`~lsa.errors.NotEnoughMemoryError` with the estimate.

    Parameters
    ----------
    path : the file.
    columns : read only these columns (matched case-insensitively; the file's spelling is kept).
    labels : ``"categorical"`` (default), ``"codes"`` or ``"strings"`` (see the module docstring).
    user_missing : True (default): values declared user-missing become NaN and their codes are
        kept in ``df.attrs["missing_codes"]``; False: they stay as ordinary values (SPSS), or
        become NaN without their codes (SAS/Stata special missing values ``.a``…``.z``).
    encoding : passed to pyreadstat for old files without an encoding record.
    n_jobs : processes that read the rows in parallel (pyreadstat's ``read_file_multiprocessing``:
        each reads its own slice of rows; the result is the same as a serial read). -1: every core.
        Pays off for files of hundreds of MB and more; for small files starting the processes
        costs more than it saves.
    """
    kw = {"encoding": encoding} if encoding else {}
    return _read("spss", path, columns, labels, user_missing, n_jobs, **kw)


def read_sas(path, columns: Sequence[str] | None = None, labels: str = "categorical",
             user_missing: bool = True, catalog: str | None = None, n_jobs: int = 1) -> pd.DataFrame:
    """Read a SAS ``.sas7bdat`` file; value labels come from a format ``catalog`` (.sas7bcat) if given.

    Special missing values (``.A``…``.Z``) are treated as user-missing (NaN, codes kept). ``n_jobs``
    as in :func:`read_spss`.
    """
    kw = {"catalog_file": str(catalog)} if catalog else {}
    return _read("sas", path, columns, labels, user_missing, n_jobs, **kw)


def read_stata(path, columns: Sequence[str] | None = None, labels: str = "categorical",
               user_missing: bool = True, n_jobs: int = 1) -> pd.DataFrame:
    """Read a Stata ``.dta`` file; extended missing values (``.a``…``.z``) are treated as user-missing.
    ``n_jobs`` as in :func:`read_spss`."""
    return _read("stata", path, columns, labels, user_missing, n_jobs)


def _missing_mask(s: pd.Series, declared) -> np.ndarray:
    mask = np.zeros(len(s), dtype=bool)
    if not declared:
        return mask
    if isinstance(declared[0], dict):  # SPSS ranges (discrete values have lo == hi)
        num = pd.api.types.is_numeric_dtype(s)
        for r in declared:
            lo, hi = r["lo"], r["hi"]
            if num and isinstance(lo, (int, float)):
                v = s.to_numpy(dtype=float, na_value=np.nan)
                mask |= (v >= lo) & (v <= hi)
            else:
                mask |= (s == lo).to_numpy(dtype=bool, na_value=False) if lo == hi else \
                    ((s >= lo) & (s <= hi)).to_numpy(dtype=bool, na_value=False)
    else:  # SAS/Stata tagged missing values, returned as strings by pyreadstat
        mask |= s.isin(list(declared)).to_numpy()
    return mask


def _finish(df: pd.DataFrame, meta, labels: str, user_missing: bool, source: str) -> pd.DataFrame:
    var_labels = {c: l for c, l in zip(meta.column_names, meta.column_labels or []) if l}
    value_labels = {c: dict(v) for c, v in (meta.variable_value_labels or {}).items() if c in df.columns}
    declared: dict[str, Any] = {}
    for c, r in (getattr(meta, "missing_ranges", None) or {}).items():
        if c in df.columns and r:
            declared[c] = [dict(x) for x in r]
    for c, v in (getattr(meta, "missing_user_values", None) or {}).items():
        if c in df.columns and v:
            declared[c] = list(v)
    codes: dict[str, pd.Series] = {}
    if user_missing:
        for c, dec in declared.items():
            mask = _missing_mask(df[c], dec)
            if mask.any():
                codes[c] = df[c][mask].copy()
                col = df[c].mask(mask)
                if col.dtype == object and not isinstance(dec[0], dict):
                    col = pd.to_numeric(col, errors="coerce")  # tagged missing made the column object
                df[c] = col
    if labels != "codes":
        for c, vl in value_labels.items():
            conv = _labelled(df[c], vl, declared.get(c) if user_missing else None, labels)
            if conv is not None:
                df[c] = conv
    df.attrs["labels"] = SharedMapping(var_labels)
    df.attrs["value_labels"] = SharedMapping(value_labels)
    df.attrs["missing_declared"] = SharedMapping(declared)
    df.attrs["missing_codes"] = SharedMapping(codes)
    df.attrs["source"] = source
    return df


#: the one rule (labels, value labels, user-missing codes -> attrs) every reader applies to its raw
#: columns; also used by :func:`lsa.io_fixed.read_fixed` for PISA fixed-width text files
finish_frame = _finish


def _is_missing_code(code, declared) -> bool:
    if not declared:
        return False
    if isinstance(declared[0], dict):
        try:
            return any(r["lo"] <= code <= r["hi"] for r in declared)
        except TypeError:
            return False
    return code in declared


def _labelled(s: pd.Series, vl: Mapping, declared, mode: str):
    """The column as categorical/strings when every valid value is labelled, else None."""
    valid = {k: v for k, v in vl.items() if not _is_missing_code(k, declared)}
    if not valid:
        return None
    try:
        order = sorted(valid)
    except TypeError:
        order = list(valid)
    try:
        codes = pd.Index(order).get_indexer(s)          # position of each value among the codes; -1: none
    except (TypeError, ValueError):
        return None
    if ((codes < 0) & s.notna().to_numpy()).any():      # a valid value without a label
        return None
    names = [str(valid[k]) for k in order]
    if len(set(names)) < len(names):  # duplicate labels: make them unique with the code
        seen = pd.Series(names).duplicated(keep=False).to_numpy()
        names = [f"{n} ({k})" if d else n for n, k, d in zip(names, order, seen)]
    if mode == "strings":
        return s.map(dict(zip(order, names)))
    # the categorical is built from the integer codes: no column of label strings in between
    return pd.Series(pd.Categorical.from_codes(codes, categories=names), index=s.index, name=s.name)


def restore_missing(df: pd.DataFrame, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """A copy of ``df`` with user-missing codes put back (numeric columns get the code, categorical
    columns the code's label, added as a category)."""
    codes = df.attrs.get("missing_codes") or {}
    vls = df.attrs.get("value_labels") or {}
    out = df.copy()
    for c in (codes if columns is None else columns):
        if c not in codes or c not in out.columns:
            continue
        s = codes[c]
        s = s[s.index.isin(out.index)]
        if isinstance(out[c].dtype, pd.CategoricalDtype):
            labs = s.map(lambda v: str(vls.get(c, {}).get(v, v)))
            new = [x for x in pd.unique(labs) if x not in out[c].cat.categories]
            col = out[c].cat.add_categories(new)
            col.loc[labs.index] = labs.to_numpy()
            out[c] = col
        else:
            out.loc[s.index, c] = s.to_numpy()
    return out


def read_any(path, columns: Sequence[str] | None = None, labels: str = "categorical",
             user_missing: bool = True, n_jobs: int = 1) -> pd.DataFrame:
    """Read an SPSS, Stata or SAS file, the reader chosen by its extension (:data:`FILE_TYPES`)."""
    path, kind = check_data_file(path)
    return _read(kind, path, columns, labels, user_missing, n_jobs)
