"""Memory a read needs, estimated from the file's header and checked before any data are read.

A read of n rows and the columns C builds a frame of

    bytes = n · Σ_{c ∈ C} b_c,     b_c = 8 for a number (float64), w_c + 49 for a string of
                                   storage width w_c (a Python ``str`` object and its pointer)

and, while it is built, holds the reader's own buffers as well: the peak is about ``peak`` × bytes
(2 for pyreadstat and for Parquet: the columns as read plus the frame assembled from them; measured
by ``benchmarks/bench_reading.py``). When that exceeds the memory available (``MemAvailable`` of
``/proc/meminfo``, else ``os.sysconf``), :func:`check_memory` raises :class:`NotEnoughMemoryError`
with the estimate and the advice to select fewer columns or read from Parquet — before the read
starts, so that the machine never swaps or the process is never killed half way.

The figure of available memory can be set with the environment variable ``LSA_AVAILABLE_MEMORY``
(bytes, or with a K/M/G/T suffix: ``"8G"``): a limit for a process that shares the machine, and the
way the tests inject a small figure.
"""

from __future__ import annotations

import os
import re
from typing import Mapping, Sequence

from .errors import LsaError, NotEnoughMemoryError

__all__ = ["MEMORY_ENV", "NotEnoughMemoryError", "available_memory", "row_bytes", "header_row_bytes", "check_memory", "format_bytes"]

MEMORY_ENV = "LSA_AVAILABLE_MEMORY"
#: bytes of a Python ``str`` object beyond its characters, plus the 8-byte pointer of the column
STRING_OVERHEAD = 49 + 8
_UNITS = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}


def format_bytes(n: float) -> str:
    """``1.2 GB`` style (powers of 1024)."""
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"  # pragma: no cover


def _parse(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)B?\s*", text.upper())
    if not m:
        raise LsaError(f"{MEMORY_ENV} must be a number of bytes, optionally with K, M, G or T (e.g. '8G'); "
                       f"got {text!r}.")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation: ``LSA_AVAILABLE_MEMORY`` when set, else
    ``MemAvailable`` of ``/proc/meminfo``, else ``os.sysconf`` available pages × page size; None
    when none of these is known (then nothing is checked)."""
    env = os.environ.get(MEMORY_ENV)
    if env:
        return _parse(env)
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def row_bytes(columns: Sequence[str], types: Mapping[str, str] | None = None,
              widths: Mapping[str, int] | None = None) -> int:
    """Bytes per row of ``columns`` in memory: 8 for a number, storage width + 57 for a string
    (``types``: column -> readstat type, ``"string"`` for text; ``widths``: column -> storage width)."""
    types, widths = types or {}, widths or {}
    total = 0
    for c in columns:
        if str(types.get(c, "double")).lower() in ("string", "str", "large_string", "large_utf8", "utf8"):
            total += int(widths.get(c) or 8) + STRING_OVERHEAD
        else:
            total += 8
    return total


def header_row_bytes(columns: Sequence[str], meta) -> int:
    """:func:`row_bytes` of ``columns`` with the types and storage widths a file's header reports
    (pyreadstat metadata or :func:`lsa.io_parquet.parquet_header`)."""
    return row_bytes(columns, getattr(meta, "readstat_variable_types", None), getattr(meta, "variable_storage_width", None))


def check_memory(n_rows: int, bytes_per_row: int, what: str, *, n_columns: int | None = None,
                 peak: float = 2.0, available: int | None = None, advice: str | None = None) -> int:
    """The bytes a step needs (``peak`` × rows × bytes per row); :class:`NotEnoughMemoryError`
    naming ``what``, the estimate and the memory available when it does not fit.

    ``available`` defaults to :func:`available_memory`; a figure can be injected for tests."""
    frame = int(n_rows) * int(bytes_per_row)
    need = int(frame * peak)
    avail = available_memory() if available is None else int(available)
    if avail is not None and need > avail:
        cols = f" x {n_columns:,} columns" if n_columns is not None else ""
        raise NotEnoughMemoryError(
            f"{what}: not enough memory. The frame of {int(n_rows):,} rows{cols} takes about "
            f"{format_bytes(frame)} ({bytes_per_row:,} bytes per row), and reading it needs about "
            f"{format_bytes(need)} at its peak; {format_bytes(avail)} are available. "
            + (advice or "Select fewer columns (columns=[...]; the design columns are added for you), or "
               "convert the file to Parquet once (lsa.io.to_parquet or `lsa convert`) and read the "
               "columns you need from it."))
    return need
