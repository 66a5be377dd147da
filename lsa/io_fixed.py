"""Read the fixed-width text files of PISA 2000-2012 with their OECD SPSS or SAS read-in syntax.

:func:`read_fixed` gives the frame :func:`lsa.io.read_spss` gives for the ``.sav`` file that the
SPSS syntax would write: the same columns (in the syntax's order, or the requested one), float64
numbers, text as strings without trailing blanks, value labels as categoricals by the same rule,
user-missing codes set to NaN with their codes kept in ``df.attrs["missing_codes"]`` (the metadata
rules are those of :mod:`lsa.io_readers`, applied by the same function).

Reading is column-selective: the file is memory-mapped as an ``n x record`` byte matrix (every
line must have the same length) and only the byte ranges of the requested columns are copied and
converted (numpy's bytes-to-float cast; implied decimals divide fields without a decimal point by
10^d, the SPSS and SAS rule, see :mod:`lsa.io_syntax`).
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Sequence

import numpy as np
import pandas as pd

from .errors import ReadError
from .io_readers import ColumnNotFoundError, finish_frame
from .io_syntax import Field, Layout, parse_syntax
from .validation import check_choice

__all__ = ["read_fixed", "find_syntax", "syntax_names", "syntax_columns", "fixed_width_file"]

_SYNTAX_EXT = (".sps", ".sas", ".txt")


def syntax_names(data_name: str) -> tuple[str, list[str]]:
    """(file role, syntax file names) that the PISA dictionary gives for a text file's name
    (``files.syntax.<role>`` of the cycle whose ``files.<role>`` is that name); ("", []) if none."""
    from .dictionaries import study_doc, study_info

    for cyc in study_doc("pisa")["cycles"]:
        files = study_info("pisa", cyc).files
        for role, name in files.items():
            if isinstance(name, str) and name.lower() == data_name.lower():
                return role, list((files.get("syntax") or {}).get(role) or [])
    return "", []


def find_syntax(data_path, candidates: Sequence[str] | None = None) -> Path:
    """The read-in syntax of a PISA text file in its folder (or a sub-folder).

    First the names in ``candidates`` (default: the dictionary's ``files.syntax`` names for the
    file, :func:`syntax_names`; case-insensitive), then any ``.sps``/``.sas``/``.txt`` file under
    5 MB whose text names the data file (its ``DATA LIST FILE=``, ``FILENAME`` or ``INFILE``).
    :class:`~lsa.errors.ReadError` when there is none.
    """
    data_path = Path(data_path)
    if candidates is None:
        candidates = syntax_names(data_path.name)[1]
    folder = data_path.parent
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p != data_path)
    by_name = {p.name.lower(): p for p in files}
    for c in candidates:
        if c.lower() in by_name:
            return by_name[c.lower()]
    stem = data_path.stem.lower()
    for p in files:
        if p.suffix.lower() in _SYNTAX_EXT and p.stat().st_size < 5_000_000:
            head = p.read_bytes()[:200_000].decode("latin-1").lower()
            if stem in head and re.search(r"data\s+list|\binput\b", head):
                return p
    raise ReadError(f"{data_path}: no SPSS or SAS read-in syntax found beside it (looked for "
                    f"{list(candidates) or 'a .sps/.sas/.txt file naming it'}); download the OECD syntax file "
                    f"for {data_path.name} into {folder}, or pass syntax_path= to lsa.io.read_fixed.")


def fixed_width_file(folder, name: str) -> dict[str, Path]:
    """``{"": path}`` of a PISA text file named ``name`` under ``folder`` when its read-in syntax is
    there too; ``{}`` when there is no such text file; :class:`~lsa.errors.StudyError` naming the
    file and the syntax names looked for when the text file has no syntax beside it."""
    from .errors import StudyError

    hits = sorted(p for p in Path(folder).rglob("*") if p.is_file() and p.name.lower() == name.lower())
    if not hits:
        return {}
    role, names = syntax_names(name)
    try:
        find_syntax(hits[0], names)
    except ReadError:
        raise StudyError(f"no {role or 'data'} file lsa can read in {folder}: {hits[0].name} is fixed-width text and "
                         f"needs its OECD read-in syntax ({', '.join(names) or 'the SPSS or SAS syntax file'}, or a "
                         "syntax file naming it) in the same folder.") from None
    return {"": hits[0]}


def syntax_columns(syntax_path) -> list[str]:
    """The variable names a read-in syntax declares, in file order."""
    return parse_syntax(syntax_path).names


def _select(layout: Layout, columns, syntax_path) -> list[Field]:
    if columns is None:
        return list(layout.fields)
    if isinstance(columns, str):
        columns = [columns]
    upper = {f.name.upper(): f for f in layout.fields}
    out, missing = [], []
    for c in columns:
        f = upper.get(str(c).upper())
        (missing if f is None else out).append(c if f is None else f)
    if missing:
        names = layout.names
        hints = {m: difflib.get_close_matches(str(m).upper(), [n.upper() for n in names], n=3, cutoff=0.6)
                 for m in missing}
        near = {m: [upper[h].name for h in hs] for m, hs in hints.items() if hs}
        hint = "; ".join(f"{m!r}: nearest {v}" for m, v in near.items())
        raise ColumnNotFoundError(
            f"{Path(syntax_path).name}: columns not in the syntax: {missing}" + (f" ({hint})" if hint else "")
            + f". The syntax declares {len(names)} variables: {', '.join(names[:30])}"
            + (", ..." if len(names) > 30 else "") + ".")
    return list({f.name: f for f in out}.values())


# --------------------------------------------------------------------------------------------
# the record matrix
# --------------------------------------------------------------------------------------------
def _first_line(path: Path) -> tuple[int, bytes]:
    with open(path, "rb") as fh:
        line = fh.readline(10_000_000)
    nl = b"\r\n" if line.endswith(b"\r\n") else (b"\n" if line.endswith(b"\n") else b"")
    return len(line) - len(nl), nl


def _bad_line(path: Path, length: int, nl: bytes) -> tuple[int, int]:
    """(line number, its length) of the first line whose length differs from ``length``."""
    with open(path, "rb") as fh:
        for i, line in enumerate(fh, start=1):
            n = len(line.rstrip(b"\n").rstrip(b"\r")) if line.endswith(b"\n") else len(line)
            if n != length:
                return i, n
    return 0, length  # pragma: no cover - only called when a line differs


def _records(path: Path, layout: Layout) -> list[np.ndarray]:
    """The file as blocks of an ``n x length`` uint8 matrix (a memory map, plus a last line without
    a line break), after checking that every line has the length the syntax describes."""
    size = path.stat().st_size
    if size == 0:
        raise ReadError(f"{path} is empty (0 bytes); download it again.")
    length, nl = _first_line(path)
    last = layout.last_column
    fixed = layout.record_length
    if length < last:
        beyond = [f.name for f in layout.fields if f.end > length]
        raise ReadError(f"{path}, line 1: {length:,} characters, but {Path(layout.source).name} places "
                        f"{beyond[:5]}{' ...' if len(beyond) > 5 else ''} up to column {last:,}: the syntax "
                        "does not describe this file (or the file is cut).")
    if length != (fixed or last):
        raise ReadError(f"{path}, line 1: {length:,} characters, but {Path(layout.source).name} describes "
                        f"records of {fixed or last:,} columns (last variable {layout.fields[-1].name}): the "
                        "syntax does not describe this file.")
    rec = length + len(nl)
    n_full, rest = divmod(size, rec)
    blocks = []
    if n_full:
        mm = np.memmap(path, dtype=np.uint8, mode="r", shape=(n_full, rec))
        if nl and not (mm[:, length:] == np.frombuffer(nl, np.uint8)).all():
            line, n = _bad_line(path, length, nl)
            raise ReadError(f"{path}, line {line:,}: {n:,} characters where line 1 has {length:,}; a fixed-width "
                            f"file has lines of one length ({Path(layout.source).name} describes {last:,} "
                            "columns).")
        blocks.append(mm[:, :length])
    if rest:
        with open(path, "rb") as fh:
            fh.seek(n_full * rec)
            tail = fh.read()
        body = tail[:-len(nl)] if nl and tail.endswith(nl) else tail
        if b"\n" in body:   # a short line before the last one shifted the records
            line, n = _bad_line(path, length, nl)
            raise ReadError(f"{path}, line {line:,}: {n:,} characters where line 1 has {length:,}; a fixed-width "
                            "file has lines of one length.")
        if body and len(body) != length:
            raise ReadError(f"{path}, line {n_full + 1:,}: {len(body):,} characters where line 1 has {length:,}; "
                            "a fixed-width file has lines of one length (the file may be cut).")
        tail = body
        if tail:
            blocks.append(np.frombuffer(tail, np.uint8).reshape(1, length))
    return blocks


def _column(blocks: list[np.ndarray], f: Field) -> np.ndarray:
    parts = [np.ascontiguousarray(b[:, f.start - 1:f.end]) for b in blocks]
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _text(raw: np.ndarray) -> np.ndarray:
    s = raw.view(f"S{raw.shape[1]}").ravel()
    try:
        out = np.char.decode(s, "utf-8")
    except UnicodeDecodeError:
        out = np.char.decode(s, "cp1252", errors="replace")
    return np.char.rstrip(out).astype(object)


def _number(raw: np.ndarray, f: Field, path: Path) -> np.ndarray:
    """The values of a numeric field: blank -> NaN, implied decimals where no decimal point is coded."""
    blank = (raw == 32).all(axis=1)
    out = np.full(raw.shape[0], np.nan)
    keep = ~blank
    s = raw[keep].view(f"S{raw.shape[1]}").ravel()
    try:
        vals = s.astype(np.float64)
    except ValueError:
        bad = next(i for i, x in enumerate(s) if not _is_number(x))
        row = int(np.flatnonzero(keep)[bad]) + 1
        raise ReadError(f"{path}, line {row:,}: {f.name} (columns {f.start}-{f.end}, numeric) holds "
                        f"{s[bad].decode('latin-1')!r}, not a number; the syntax does not describe this file "
                        "(variable positions shifted?).") from None
    if f.decimals:
        implied = ~(raw[keep] == 46).any(axis=1)
        vals[implied] /= 10.0 ** f.decimals
    out[keep] = vals
    return out


def _is_number(x: bytes) -> bool:
    try:
        float(x)
        return True
    except ValueError:
        return False


def read_fixed(data_path, syntax_path=None, columns: Sequence[str] | None = None, labels: str = "categorical",
               user_missing: bool = True) -> pd.DataFrame:
    """Read a PISA 2000-2012 fixed-width text file with its OECD SPSS or SAS read-in syntax.

    Parameters
    ----------
    data_path : the text file (e.g. ``INT_STQ09_DEC11.txt``).
    syntax_path : its SPSS (``DATA LIST``) or SAS (``INPUT``) syntax; default: found beside the
        data file (:func:`find_syntax`).
    columns : read only these variables (case-insensitive; the syntax's spelling is kept).
    labels, user_missing : as in :func:`lsa.io.read_spss`.

    Returns
    -------
    The frame :func:`lsa.io.read_spss` returns for the equivalent ``.sav`` file, with the same
    ``df.attrs`` (labels, value labels, missing declarations and codes, source).

    Errors name the file and line: a line shorter or longer than the syntax's record, lines of
    different lengths, a non-number in a numeric field; a missing syntax file; requested columns
    that the syntax does not declare (with the nearest names).
    """
    check_choice(labels, ("categorical", "codes", "strings"), "labels")
    data_path = Path(data_path)
    if not data_path.exists():
        from .io_readers import check_data_file  # the message lists the nearest names in the folder
        check_data_file(data_path, "spss")
    if data_path.is_dir():
        raise ReadError(f"{data_path} is a folder, not a fixed-width text file.")
    syntax_path = find_syntax(data_path) if syntax_path is None else Path(syntax_path)
    if not syntax_path.exists():
        raise ReadError(f"{syntax_path}: no such syntax file (the read-in syntax of {data_path.name}).")
    layout = parse_syntax(syntax_path)
    fields = _select(layout, columns, syntax_path)
    blocks = _records(data_path, layout)
    data = {}
    for f in fields:
        raw = _column(blocks, f)
        data[f.name] = _text(raw) if f.text else _number(raw, f, data_path)
    df = pd.DataFrame(data, index=pd.RangeIndex(sum(len(b) for b in blocks)))
    names = [f.name for f in fields]
    meta = SimpleNamespace(column_names=names, column_labels=[layout.labels.get(n) for n in names],
                           variable_value_labels={n: v for n, v in layout.value_labels.items() if n in data},
                           missing_ranges={n: v for n, v in layout.missing.items() if n in data},
                           missing_user_values={})
    return finish_frame(df, meta, labels, bool(user_missing), f"{data_path}; {syntax_path}")
