"""Parquet copies of SPSS, Stata and SAS files that keep their labels and user-missing codes.

A PISA student file holds over 1,000 columns and several GB as SPSS; an analysis needs a few dozen
of them. SPSS stores a file row by row, so every read passes over the whole file; Parquet stores it
column by column, so a read of 20 columns touches only their pages. :func:`to_parquet` converts a
file once; :func:`read_parquet` (and :func:`lsa.io.read_study` on a folder of ``.parquet`` files)
reads the columns asked for.

**What is stored.** The values as the file holds them: every user-missing code of an SPSS file is
kept as its number (pyreadstat's ``user_missing=True``), labelled variables keep their codes. The
schema metadata key ``lsa`` holds one JSON object with the metadata of the source:

``source``, ``kind`` (spss/stata/sas), ``n_rows``; ``column_labels`` (column -> variable label);
``value_labels`` (column -> list of [code, label] pairs: JSON object keys would turn numeric codes
into strings); ``missing_ranges`` (column -> [{"lo": .., "hi": ..}], SPSS); ``missing_user_values``
(column -> list, Stata/SAS); ``variable_types`` and ``storage_widths`` (for memory estimates).

**What a read returns.** :func:`read_parquet` applies the readers' one rule
(:func:`lsa.io_readers.finish_frame`: labelled codes -> categoricals, user-missing codes -> NaN with
the codes in ``attrs["missing_codes"]``) to the stored codes, so its frame and ``attrs`` equal those
of :func:`lsa.io.read_spss` on the source file with the same ``columns``, ``labels`` and
``user_missing`` — only ``attrs["source"]`` names the Parquet file.

**Memory.** The conversion reads ``chunksize`` rows at a time (pyreadstat's ``read_file_in_chunks``)
and writes each as a Parquet row group, so a file larger than memory converts with one chunk in
memory; the chunk size is chosen for about 64 MB per chunk unless given.

Stata and SAS files whose numeric columns carry tagged missing values (``.a``…``.z``) cannot be
stored (a column of numbers and letters has no Parquet type); convert them with the SPSS or text
export of the study, or read them with :func:`lsa.io.read_stata`.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Sequence

import pandas as pd

from .errors import LsaError, ReadError
from .io_memory import check_memory, header_row_bytes
from .validation import check_progress
from .io_readers import (check_data_file, check_n_jobs, finish_frame, header_memory, in_daemon, read_chunks,
                         read_metadata, resolve_columns)

__all__ = ["to_parquet", "read_parquet", "parquet_header", "is_parquet", "PARQUET_KEY"]

#: the schema metadata key of lsa's JSON
PARQUET_KEY = b"lsa"
_FORMAT = 1
CHUNK_BYTES = 64 * 1024 ** 2
_LABEL_MODES = ("categorical", "codes", "strings")


def is_parquet(path) -> bool:
    """Whether ``path`` has the extension ``.parquet`` (or ``.pq``)."""
    return Path(path).suffix.lower() in (".parquet", ".pq")


def _pairs(mapping) -> list:
    return [[k, v] for k, v in dict(mapping).items()]


def _header_json(meta, kind: str, source: Path, columns: Sequence[str]) -> dict:
    keep = set(columns)
    labels = dict(zip(meta.column_names, meta.column_labels or [None] * len(meta.column_names)))
    vls = meta.variable_value_labels or {}
    types = getattr(meta, "readstat_variable_types", None) or {}
    widths = getattr(meta, "variable_storage_width", None) or {}
    return {"format": _FORMAT, "source": str(source), "kind": kind, "n_rows": None,
            "columns": list(columns),
            "column_labels": {c: labels.get(c) for c in columns},
            "value_labels": {c: _pairs(v) for c, v in vls.items() if c in keep},
            "missing_ranges": {c: [dict(x) for x in r] for c, r in (getattr(meta, "missing_ranges", None) or {}).items()
                               if c in keep and r},
            "missing_user_values": {c: list(v) for c, v in (getattr(meta, "missing_user_values", None) or {}).items()
                                    if c in keep and v},
            "variable_types": {c: types.get(c) for c in columns},
            "storage_widths": {c: widths.get(c) for c in columns}}


def _check_target(source: Path, target) -> Path:
    target = Path(target)
    if not is_parquet(target):
        raise LsaError(f"target must be a .parquet file; got {str(target)!r}.")
    if target.resolve() == source.resolve():
        raise LsaError(f"target must differ from the source file; got {str(target)!r} for both.")
    if target.is_dir():
        raise LsaError(f"target {str(target)!r} is a folder; give the path of the .parquet file to write.")
    if not target.parent.is_dir():
        raise ReadError(f"{target.parent}: no such folder (the folder of target must exist).")
    return target


def _chunk_rows(chunksize: Any, per_row: int) -> int:
    if chunksize is None:
        return max(1_000, CHUNK_BYTES // max(per_row, 1))
    from .validation import check_number

    return int(check_number(chunksize, "chunksize", integer=True, low=1))


def to_parquet(source, target, columns: Sequence[str] | None = None, *, chunksize: int | None = None,
               n_jobs: int = 1, progress: bool | None = None, compression: str = "zstd") -> Path:
    """Convert an SPSS (.sav/.zsav), Stata (.dta) or SAS (.sas7bdat) file to Parquet, once, keeping
    variable labels, value labels and user-missing codes (module docstring); returns the target.

    Parameters
    ----------
    source : the data file.
    target : the ``.parquet`` file to write (written to a temporary name and renamed at the end,
        so a failed conversion leaves no partial file).
    columns : the columns to keep (default: all), matched case-insensitively.
    chunksize : rows per chunk read and per Parquet row group (default: about 64 MB of data).
    n_jobs : processes reading each chunk (pyreadstat's multiprocessing reader); -1: every core.
    progress : a progress bar of the chunks; None: only when there is more than one chunk.
    compression : the Parquet codec (``"zstd"``, ``"snappy"``, ``"gzip"``, ``"none"``).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .progress import progress_bar, wants_progress

    path, kind = check_data_file(source)
    target = _check_target(path, target)
    procs = check_n_jobs(n_jobs)
    check_progress(progress)
    if compression not in ("zstd", "snappy", "gzip", "brotli", "lz4", "none"):
        raise LsaError(f"compression must be one of ['zstd', 'snappy', 'gzip', 'brotli', 'lz4', 'none']; "
                       f"got {compression!r}.")
    meta = read_metadata(path, kind, user_missing=True)   # with the user-missing declarations
    usecols = resolve_columns(columns, meta.column_names, path) if columns is not None else None
    cols = [c for c in meta.column_names if usecols is None or c in set(usecols)]   # file order, as pyreadstat
    per_row = header_row_bytes(cols, meta)
    rows = _chunk_rows(chunksize, per_row)
    n_rows = meta.number_rows if (meta.number_rows or -1) >= 0 else None
    check_memory(min(rows, n_rows or rows), per_row, f"converting {path.name} to Parquet ({rows:,} rows per "
                 "chunk)", n_columns=len(cols), peak=3.0,
                 advice="Give a smaller chunksize= or fewer columns.")
    header = _header_json(meta, kind, path, cols)
    header["n_rows"] = n_rows
    blob = json.dumps(header).encode()
    n_chunks = math.ceil(n_rows / rows) if n_rows else None
    bar = progress_bar(n_chunks, wants_progress(progress, (n_chunks or 2) > 1), f"converting {path.name}",
                       unit="chunk")
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    writer, written = None, 0
    try:
        for chunk in _chunks(kind, path, rows, usecols, procs):
            table = _to_arrow(pa, chunk, path, None if writer is None else writer.schema)
            if writer is None:  # lsa's JSON goes into the Arrow schema metadata, beside pandas' own
                table = table.replace_schema_metadata({**(table.schema.metadata or {}), PARQUET_KEY: blob})
                writer = pq.ParquetWriter(str(tmp), table.schema, compression=compression)
            writer.write_table(table, row_group_size=rows)
            written += len(chunk)
            bar.update(1)
        if writer is None:  # no rows: an empty table with the columns
            writer = pq.ParquetWriter(str(tmp), pa.schema([pa.field(c, pa.float64()) for c in cols],
                                                          metadata={PARQUET_KEY: blob}))
        writer.close()
        writer = None
        if n_rows is not None and written != n_rows:
            raise ReadError(f"{path} is truncated or damaged: its header declares {n_rows:,} rows but {written:,} "
                            "were read. Download or export it again.")
        os.replace(tmp, target)
    finally:
        bar.close()
        if writer is not None:
            writer.close()
        if tmp.exists():
            tmp.unlink()
    return target


def _chunks(kind: str, path: Path, rows: int, usecols, procs: int):
    kw: dict[str, Any] = {"usecols": usecols, "user_missing": True}
    if procs > 1 and not in_daemon():
        kw.update(multiprocess=True, num_processes=procs)
    for df, _ in read_chunks(kind, path, rows, **kw):
        yield df


def _to_arrow(pa, chunk: pd.DataFrame, path: Path, schema):
    try:
        return pa.Table.from_pandas(chunk, schema=schema, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        bad = [c for c in chunk.columns if chunk[c].dtype == object
               and chunk[c].map(type).nunique() > 1]
        raise LsaError(f"{path.name}: cannot store the columns {bad or list(chunk.columns)[:10]} in Parquet "
                       f"({exc}). Columns mixing numbers and tagged missing values (.a-.z) have no Parquet "
                       "type; leave them out with columns= or read the file with lsa.io.read_stata/read_sas."
                       ) from exc


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------
def _check_parquet(path) -> Path:
    path = Path(path)
    if not path.exists():
        raise ReadError(f"{path}: no such file.")
    if path.is_dir():
        raise ReadError(f"{path} is a folder, not a Parquet file.")
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head != b"PAR1":
        raise ReadError(f"{path} is not a Parquet file: it starts with {head!r}, not with b'PAR1'.")
    return path


def _json(schema) -> dict:
    raw = (schema.metadata or {}).get(PARQUET_KEY)
    if raw is None:
        return {}
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ReadError(f"the lsa metadata of this Parquet file is not valid JSON ({exc}).") from exc


def parquet_header(path) -> SimpleNamespace:
    """The header of a Parquet file in the shape of pyreadstat's metadata (``column_names``,
    ``column_labels``, ``variable_value_labels``, ``missing_ranges``, ``missing_user_values``,
    ``number_rows``, ``readstat_variable_types``, ``variable_storage_width``), from its schema and
    lsa's JSON; a Parquet file written by other tools has names, types and rows only."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = _check_parquet(path)
    try:
        pf = pq.ParquetFile(str(path))
    except (pa.ArrowInvalid, OSError) as exc:
        raise ReadError(f"{path}: cannot read this Parquet file ({exc}); it is probably truncated or damaged.") from exc
    schema = pf.schema_arrow
    info = _json(schema)
    names = list(schema.names)
    types = {f.name: ("string" if pa.types.is_string(f.type) or pa.types.is_large_string(f.type) else "double")
             for f in schema}
    return SimpleNamespace(
        column_names=names, column_labels=[(info.get("column_labels") or {}).get(c) for c in names],
        variable_value_labels={c: {k: v for k, v in pairs} for c, pairs in (info.get("value_labels") or {}).items()},
        missing_ranges=info.get("missing_ranges") or {}, missing_user_values=info.get("missing_user_values") or {},
        number_rows=pf.metadata.num_rows, readstat_variable_types=types,
        variable_storage_width={c: w for c, w in (info.get("storage_widths") or {}).items() if w},
        source=info.get("source"), kind=info.get("kind"))


def _restrict(meta: SimpleNamespace, cols: Sequence[str]) -> SimpleNamespace:
    keep = set(cols)
    order = [c for c in meta.column_names if c in keep]   # file order, as pyreadstat reports it
    labels = dict(zip(meta.column_names, meta.column_labels))
    return SimpleNamespace(column_names=order, column_labels=[labels.get(c) for c in order],
                           variable_value_labels={c: v for c, v in meta.variable_value_labels.items() if c in keep},
                           missing_ranges={c: v for c, v in meta.missing_ranges.items() if c in keep},
                           missing_user_values={c: v for c, v in meta.missing_user_values.items() if c in keep})


def read_parquet(path, columns: Sequence[str] | None = None, labels: str = "categorical",
                 user_missing: bool = True) -> pd.DataFrame:
    """Read the columns asked for of a Parquet file written by :func:`to_parquet`, with the labels
    and missing codes of its source: the same frame and ``attrs`` as reading the source with
    :func:`lsa.io.read_spss` (``read_stata``, ``read_sas``) and the same arguments (module
    docstring). Only the pages of the requested columns are read from disk.

    ``columns`` are matched case-insensitively (a name not in the file raises
    :class:`~lsa.io.ColumnNotFoundError` listing the nearest names); the memory the columns need
    is checked before reading (:mod:`lsa.io_memory`). Parquet files written by other tools are
    read too, without labels.
    """
    import pyarrow.parquet as pq

    if labels not in _LABEL_MODES:
        raise LsaError(f"labels must be one of {_LABEL_MODES}; got {labels!r}.")
    if not isinstance(user_missing, bool):
        raise LsaError(f"user_missing must be True or False; got {user_missing!r}.")
    meta = parquet_header(path)
    path = Path(path)
    usecols = list(meta.column_names) if columns is None else resolve_columns(columns, meta.column_names, path)
    header_memory(path, meta, usecols)
    df = _frame(pq, path, usecols)
    return finish_frame(df, _restrict(meta, usecols), labels, user_missing, str(path))


def _frame(pq, path: Path, usecols: list[str]) -> pd.DataFrame:
    """The columns as a frame, its float64 columns filled row group by row group into one
    preallocated block (the frame's own memory: no Arrow table of the whole columns beside it),
    the other columns (strings, dates) converted from Arrow and inserted in place."""
    import numpy as np
    import pyarrow as pa

    pf = pq.ParquetFile(str(path))
    schema = pf.schema_arrow
    floats = [c for c in usecols if schema.field(c).type == pa.float64()]
    others = [c for c in usecols if c not in set(floats)]
    n = pf.metadata.num_rows
    block = np.empty((n, len(floats)), order="F")      # column-major: each column is contiguous
    pos = 0
    for i in range(pf.num_row_groups if floats else 0):
        part = pf.read_row_group(i, columns=floats, use_threads=False)
        for j in range(len(floats)):
            block[pos:pos + part.num_rows, j] = part.column(j).to_numpy()   # nulls -> NaN
        pos += part.num_rows
    df = pd.DataFrame(block, columns=floats, copy=False)
    if others:
        rest = pq.read_table(str(path), columns=others).to_pandas(split_blocks=True, self_destruct=True)
        for c in others:                                 # in the requested order
            df.insert(usecols.index(c), c, rest.pop(c))
    return df
