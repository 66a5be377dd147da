"""Find variables across a study's files, and write a codebook (EdSurvey's ``searchSDF`` and
``showCodebook``, for a whole folder).

Only the files' headers are read (``pyreadstat`` with ``metadataonly=True``), never their data,
so a search over a folder of a few hundred country files takes about as long as opening them.
The files are the ones :mod:`lsa.io` reads: SPSS (``.sav``, ``.zsav``), Stata (``.dta``) and SAS
(``.sas7bdat``; SAS keeps value labels in a separate catalog, so a SAS file shows none).

A search matches a pattern against each variable's name and label (and, with
``in_values=True``, against the text of its value labels), case-insensitively. The pattern is a
plain substring unless ``regex=True``.

One row per matching variable and file: ``file`` (its name, or its path relative to the folder
searched), ``variable``, ``label``, ``value_labels`` (``code=label`` joined by ``"; "``),
``missing`` (the user-missing codes or ranges the file declares), ``type`` and ``matched`` (where
the pattern was found: ``name``, ``label`` or ``value label``).

Bad input raises :class:`lsa.errors.LsaError` (a pattern that is not a string or not a valid
regular expression) or :class:`lsa.errors.ReadError` (a path that does not exist, a folder with no
SPSS/Stata/SAS file, a file that cannot be read), naming the argument or file.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any, Iterable, Sequence

import pandas as pd

from .errors import LsaError, ReadError
from .io_readers import FILE_TYPES, check_data_file, read_metadata
from .io_savheader import read_sav_dictionary
from .validation import check_choice

__all__ = ["search", "codebook", "variables", "data_files"]

#: the columns of :func:`search` and :func:`variables`, in order
COLUMNS = ["file", "variable", "label", "value_labels", "missing", "type", "matched"]
CODEBOOK_FORMATS = ("html", "markdown")


# --------------------------------------------------------------------------------------------
# files and their headers
# --------------------------------------------------------------------------------------------
def data_files(source: Any) -> list[tuple[str, Path]]:
    """``(shown name, path)`` of the data files a folder, a file or a list of them designates.

    A folder contributes its SPSS/Stata/SAS files (not its subfolders), sorted by name; a file is
    taken as given (its format is checked when it is read). A path that does not exist, or a
    folder without a data file, is a :class:`~lsa.errors.ReadError` naming it.
    """
    if isinstance(source, (str, Path)):
        items = [source]
    elif isinstance(source, Iterable) and not isinstance(source, (bytes, dict)):
        items = list(source)
    else:
        raise LsaError(f"folder_or_files must be a folder, a file or a list of files; got {source!r} "
                       f"({type(source).__name__}).")
    if not items:
        raise LsaError("folder_or_files is an empty list; give a folder or at least one data file.")
    out: list[tuple[str, Path]] = []
    for item in items:
        if not isinstance(item, (str, Path)):
            raise LsaError(f"folder_or_files must hold paths (str or pathlib.Path); got {item!r} "
                           f"({type(item).__name__}).")
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in FILE_TYPES)
            if not found:
                raise ReadError(f"{path}: the folder holds no SPSS (.sav, .zsav), Stata (.dta) or SAS "
                                f"(.sas7bdat) file.")
            out += [(p.name if len(items) == 1 else str(p), p) for p in found]
        elif path.exists():
            out.append((path.name, path))
        else:
            raise ReadError(f"{path}: no such file or folder.")
    return out


def code_text(v: Any) -> str:
    """A code as shown: ``9.0`` as ``9``, anything else as ``str``."""
    return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)


def missing_text(spec: Sequence[Any]) -> str:
    """User-missing declarations as shown: ``9``, ``97-99`` (a range), ``A`` (SAS/Stata letters), comma-joined."""
    parts = []
    for r in spec or ():
        if isinstance(r, dict):
            parts.append(code_text(r["lo"]) if r["lo"] == r["hi"] else f"{code_text(r['lo'])}-{code_text(r['hi'])}")
        else:
            parts.append(code_text(r))
    return ", ".join(parts)


def _header(path: Path):
    """names, labels, value labels, missing, types of a file: SPSS dictionaries straight from the
    file (:mod:`lsa.io_savheader`), anything else (or an SPSS file it does not handle) by pyreadstat."""
    path, kind = check_data_file(path)
    sav = read_sav_dictionary(path) if kind == "spss" else None
    if sav is not None:
        return sav.names, sav.labels, sav.value_labels, sav.missing, dict(zip(sav.names, sav.types))
    meta = read_metadata(path, kind, user_missing=True)
    names = list(meta.column_names)
    labels = list(meta.column_labels or [None] * len(names))
    missing = {**(getattr(meta, "missing_user_values", None) or {}), **(getattr(meta, "missing_ranges", None) or {})}
    return (names, labels, meta.variable_value_labels or {}, missing,
            getattr(meta, "readstat_variable_types", None) or {})


def _row(shown: str, name: str, label: str | None, vls: dict, missing: dict, types: dict) -> dict:
    vl = vls.get(name) or {}
    return dict(file=shown, variable=name, label=label or "",
                value_labels="; ".join(f"{code_text(k)}={v}" for k, v in vl.items()),
                missing=missing_text(missing.get(name)), type=types.get(name, ""), matched="", codes=vl)


def _file_rows(shown: str, path: Path, keep=None) -> list[dict]:
    """One dict per variable of a file (only those where ``keep(name, label, value_labels)`` gives
    where it matched, when given): the columns of :data:`COLUMNS` plus ``codes`` (the value labels
    as a dict, for the codebook). Rows are built only for kept variables."""
    names, labels, vls, missing, types = _header(path)
    rows = []
    for name, label in zip(names, labels):
        where = keep(name, label or "", vls.get(name) or {}) if keep else ""
        if where is not None:
            rows.append(_row(shown, name, label, vls, missing, types) | {"matched": where})
    return rows


def variables(folder_or_files: Any) -> pd.DataFrame:
    """Every variable of every file: the table :func:`search` filters (columns :data:`COLUMNS`,
    ``matched`` empty).

    Examples
    --------
    >>> import lsa, tempfile, pathlib, pandas as pd, pyreadstat
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> pyreadstat.write_sav(pd.DataFrame({"IDSTUD": [1.0], "ASBGSB": [1.0]}), str(d / "asgautm7.sav"),
    ...                      column_labels=["STUDENT ID", "STUDENT BULLYING/SCL"])
    >>> lsa.io.variables(d)[["file", "variable"]].to_dict("list")
    {'file': ['asgautm7.sav', 'asgautm7.sav'], 'variable': ['IDSTUD', 'ASBGSB']}
    """
    rows = [r for shown, path in data_files(folder_or_files) for r in _file_rows(shown, path)]
    return pd.DataFrame(rows, columns=COLUMNS)


# --------------------------------------------------------------------------------------------
# search
# --------------------------------------------------------------------------------------------
def _compile(pattern: Any, regex: bool) -> re.Pattern:
    if not isinstance(pattern, str) or not pattern.strip():
        raise LsaError(f"pattern must be a non-empty string (a word of a variable's name or label); got {pattern!r}.")
    check_choice(regex, (True, False), "regex")
    try:
        return re.compile(pattern if regex else re.escape(pattern), re.IGNORECASE)
    except re.error as exc:
        raise LsaError(f"pattern {pattern!r} is not a valid regular expression ({exc}); pass regex=False to "
                       f"search for the text as written.") from None


def search(folder_or_files: Any, pattern: str, *, regex: bool = False, in_values: bool = False) -> pd.DataFrame:
    """Variables whose name or label contains ``pattern``, across the files of a folder.

    Parameters
    ----------
    folder_or_files : a folder (its SPSS/Stata/SAS files), one file, or a list of files/folders.
    pattern : the text to look for, case-insensitively (``"bully"`` finds ``STUDENT BULLYING/SCL``).
    regex : treat ``pattern`` as a Python regular expression (``r"^ASBG0[1-5]"``).
    in_values : also look in the text of the value labels (``"never"``).

    Returns
    -------
    pandas.DataFrame with the columns ``file, variable, label, value_labels, missing, type,
    matched`` (see :mod:`lsa.io_search`), one row per matching variable and file, in file order;
    empty (with those columns) when nothing matches.

    Examples
    --------
    >>> import lsa, tempfile, pathlib, pandas as pd, pyreadstat
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> pyreadstat.write_sav(pd.DataFrame({"IDSTUD": [1.0], "ASBGSB": [1.0]}), str(d / "asgautm7.sav"),
    ...                      column_labels=["STUDENT ID", "STUDENT BULLYING/SCL"],
    ...                      variable_value_labels={"ASBGSB": {1: "Never", 2: "Weekly"}})
    >>> lsa.io.search(d, "bully")[["variable", "value_labels", "matched"]].to_dict("records")
    [{'variable': 'ASBGSB', 'value_labels': '1=Never; 2=Weekly', 'matched': 'label'}]
    """
    rx = _compile(pattern, regex)
    check_choice(in_values, (True, False), "in_values")
    find = rx.search

    def where(name: str, label: str, vl: dict) -> str | None:
        if find(name):
            return "name"
        if find(label):
            return "label"
        if in_values and any(find(str(v)) for v in vl.values()):
            return "value label"
        return None

    hits = [r for shown, path in data_files(folder_or_files) for r in _file_rows(shown, path, where)]
    return pd.DataFrame(hits, columns=COLUMNS)


# --------------------------------------------------------------------------------------------
# codebook
# --------------------------------------------------------------------------------------------
_CSS = ("body{font-family:sans-serif;margin:2em;max-width:75em}table{border-collapse:collapse;width:100%}"
        "th,td{border:1px solid #ccc;padding:.25em .5em;vertical-align:top;text-align:left}"
        "th{background:#f3f3f3}td.v{font-family:monospace}input{font-size:1em;width:30em;margin:1em 0}"
        "ul.vl{margin:0;padding-left:1.2em}")
_JS = ("function f(q){q=q.toLowerCase();for(const r of document.querySelectorAll('tr.var'))"
       "{r.style.display=r.textContent.toLowerCase().includes(q)?'':'none'}}")


def _html(table: pd.DataFrame, codes: list[dict], title: str) -> str:
    esc = html.escape
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{esc(title)}</title><style>{_CSS}</style>"
             f"<script>{_JS}</script></head><body><h1>{esc(title)}</h1>",
             f"<p>{table['file'].nunique()} files, {len(table)} variables. Filter: "
             "<input type='search' oninput='f(this.value)' placeholder='a word of a name, label or value label'></p>",
             "<h2>Files</h2><ul>"]
    files = list(dict.fromkeys(table["file"]))
    parts += [f"<li><a href='#f{i}'>{esc(f)}</a> ({int((table['file'] == f).sum())} variables)</li>"
              for i, f in enumerate(files)]
    parts.append("</ul>")
    for i, f in enumerate(files):
        parts.append(f"<h2 id='f{i}'>{esc(f)}</h2><table><tr><th>variable</th><th>label</th><th>type</th>"
                     "<th>value labels</th><th>missing</th></tr>")
        for j in table.index[table["file"] == f]:
            r = table.loc[j]
            vl = "".join(f"<li>{esc(code_text(k))} = {esc(str(v))}</li>" for k, v in codes[j].items())
            parts.append(f"<tr class='var'><td class='v'>{esc(r['variable'])}</td><td>{esc(r['label'])}</td>"
                         f"<td>{esc(str(r['type']))}</td><td>{f'<ul class=vl>{vl}</ul>' if vl else ''}</td>"
                         f"<td>{esc(r['missing'])}</td></tr>")
        parts.append("</table>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _md_cell(text: Any) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _markdown(table: pd.DataFrame, title: str) -> str:
    lines = [f"# {_md_cell(title)}", "", f"{table['file'].nunique()} files, {len(table)} variables.", ""]
    for f in dict.fromkeys(table["file"]):
        lines += [f"## {_md_cell(f)}", "", "| variable | label | type | value labels | missing |",
                  "|---|---|---|---|---|"]
        for _, r in table[table["file"] == f].iterrows():
            lines.append("| " + " | ".join(_md_cell(r[c]) for c in ("variable", "label", "type", "value_labels",
                                                                    "missing")) + " |")
        lines.append("")
    return "\n".join(lines)


def codebook(folder_or_files: Any, out: Any = "codebook", *, formats: Sequence[str] = CODEBOOK_FORMATS,
             title: str | None = None) -> dict[str, Path]:
    """Write a codebook of every variable of the files: ``codebook.html`` (one table per file,
    with a filter box that hides the rows not containing a word) and/or ``codebook.md``.

    Parameters
    ----------
    folder_or_files : as in :func:`search`.
    out : the folder the codebook is written to (created if needed).
    formats : ``"html"``, ``"markdown"`` or both (a string or a list).
    title : the heading (default: ``Codebook: <folder or first file>``).

    Returns
    -------
    dict format -> path of the file written.
    """
    formats = [formats] if isinstance(formats, str) else formats
    if not isinstance(formats, (list, tuple)) or not formats:
        raise LsaError(f"formats must be 'html', 'markdown' or a list of them; got {formats!r}.")
    for f in formats:
        check_choice(f, CODEBOOK_FORMATS, "formats")
    if title is not None and not isinstance(title, str):
        raise LsaError(f"title must be a string or None; got {title!r}.")
    if not isinstance(out, (str, Path)):
        raise LsaError(f"out must be a folder path (str or pathlib.Path); got {out!r} ({type(out).__name__}).")
    files = data_files(folder_or_files)
    rows = [r for shown, path in files for r in _file_rows(shown, path)]
    table = pd.DataFrame(rows, columns=COLUMNS)
    codes = [r["codes"] for r in rows]
    if title is None:
        src = folder_or_files if isinstance(folder_or_files, (str, Path)) else files[0][1]
        title = f"Codebook: {Path(src).name}"
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ReadError(f"out: {out} is a file, not a folder; give a folder for the codebook.")
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    if "html" in formats:
        written["html"] = out / "codebook.html"
        written["html"].write_text(_html(table, codes, title), encoding="utf-8")
    if "markdown" in formats:
        written["markdown"] = out / "codebook.md"
        written["markdown"].write_text(_markdown(table, title), encoding="utf-8")
    return written
