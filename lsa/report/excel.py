"""Excel workbooks of results (openpyxl): one sheet per table, numbers kept as numbers.

Each sheet holds the title (row 1) and note (row 2) of the result, then from row 4 the tidy table
with a bold, frozen header row, then the footnotes of its reporting flags. Cells keep full precision; the
*display* format follows :mod:`lsa.report.numbers`: the estimate, standard error and confidence
limits of a row show the decimals of its standard error (at least two significant digits of the
SE), p-values three decimals, df one. A ``flag`` column is kept as text, with a ``mark`` column
beside it (the footnote mark of the official tables).

:func:`write_workbook` writes several sheets into one ``.xlsx`` (``lsa run``: one sheet per
analysis); ``result.to_excel(path)`` writes one result through :func:`result_to_excel`.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..errors import LsaError
from .numbers import SE_COLUMN, WITH_SE, decimals_for
from .render import OutputError
from .rules import NO_RULES, ReportingRules, footnotes, marks

__all__ = ["Sheet", "write_workbook", "result_to_excel", "sheet_name", "check_xlsx_path"]

_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")


class Sheet:
    """One worksheet: a ``title``, a ``note``, a ``table`` (DataFrame), its ``rules`` and extra lines."""

    def __init__(self, name: str, table: pd.DataFrame, title: str = "", note: str = "",
                 rules: ReportingRules | None = None, lines: Sequence[str] = ()):
        self.name, self.table, self.title, self.note = name, table, title, note
        self.rules, self.lines = rules or NO_RULES, list(lines)


def sheet_name(name: str, taken: set[str]) -> str:
    """A valid, unique sheet name: Excel forbids ``[]:*?/\\`` and more than 31 characters."""
    base = _BAD_SHEET_CHARS.sub("_", str(name)).strip("'") or "Sheet"
    base = base[:31]
    out, k = base, 2
    while out.lower() in {t.lower() for t in taken}:
        suffix = f" ({k})"
        out, k = base[: 31 - len(suffix)] + suffix, k + 1
    taken.add(out)
    return out


def check_xlsx_path(path: Any, argument: str = "path") -> Path:
    """``path`` is a str or PathLike ending in ``.xlsx`` whose folder exists and is writable."""
    if not isinstance(path, (str, os.PathLike)):
        raise LsaError(f"{argument} must be a file path ending in .xlsx; got {type(path).__name__} {path!r:.60}.")
    p = Path(path)
    if p.suffix.lower() != ".xlsx":
        raise LsaError(f"{argument} must end in .xlsx (an Excel workbook); got {str(p)!r}.")
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"cannot write the workbook {p}: its folder {folder} does not exist.")
    if p.is_dir():
        raise OutputError(f"cannot write the workbook {p}: it is a folder.")
    if not os.access(folder, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise OutputError(f"cannot write the workbook {p}: permission denied; choose another path.")
    return p


def _format(decimals: int) -> str:
    return "#,##0" if decimals <= 0 else "#,##0." + "0" * decimals


def _cell_value(v):
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        v = float(v)
    if isinstance(v, float) and math.isinf(v):
        return "∞" if v > 0 else "-∞"
    if isinstance(v, (np.bool_,)):
        return bool(v)
    if isinstance(v, (int, float, str, bool)):
        return v
    return str(v)


def _write_sheet(ws, sheet: Sheet) -> None:
    from openpyxl.styles import Alignment, Font

    if sheet.title:                                            # row 1 title, row 2 note, row 4 header
        ws.cell(row=1, column=1, value=sheet.title).font = Font(bold=True, size=12)
    if sheet.note:
        ws.cell(row=2, column=1, value=sheet.note).font = Font(italic=True, color="555555")
    table = sheet.table.reset_index(drop=True)
    flags = table["flag"].fillna("").astype(str).tolist() if "flag" in table.columns else []
    if any(flags):
        at = table.columns.get_loc("flag") + 1
        table.insert(at, "mark", marks(flags, sheet.rules))
    header = 4
    for j, col in enumerate(table.columns, start=1):
        c = ws.cell(row=header, column=j, value=str(col))
        c.font = Font(bold=True)
        c.alignment = Alignment(horizontal="center")
    se = table[SE_COLUMN].to_numpy() if SE_COLUMN in table.columns else None
    for i, record in enumerate(table.itertuples(index=False), start=header + 1):
        row_dec = None
        if se is not None and isinstance(se[i - header - 1], (float, np.floating)) and np.isfinite(se[i - header - 1]) \
                and se[i - header - 1] != 0:
            row_dec = decimals_for(se[i - header - 1])
        for j, (col, v) in enumerate(zip(table.columns, record), start=1):
            c = ws.cell(row=i, column=j, value=_cell_value(v))
            if isinstance(c.value, float):
                c.number_format = _number_format(col, c.value, row_dec)
    ws.freeze_panes = ws.cell(row=header + 1, column=1)
    last = header + len(table) + 1
    for k, line in enumerate([*footnotes(flags, sheet.rules), *sheet.lines]):
        ws.cell(row=last + 1 + k, column=1, value=line).font = Font(color="555555")
    for j, col in enumerate(table.columns, start=1):
        width = max([len(str(col))] + [len(f"{v:,.2f}") if isinstance(v, float) else len(str(v))
                                       for v in table[col].head(200)])
        ws.column_dimensions[ws.cell(row=header, column=j).column_letter].width = min(max(width + 2, 8), 40)


def _number_format(col: str, value: float, row_dec: int | None) -> str:
    if col in ("p_value", "p"):
        return "0.000"
    if col == "df":
        return "0.0"
    if col in WITH_SE and row_dec is not None:
        return _format(row_dec)
    if col == SE_COLUMN and value == 0:
        return "0"
    return _format(decimals_for(value))


def write_workbook(path: Any, sheets: Sequence[Sheet]) -> Path:
    """Write ``sheets`` into one workbook at ``path`` (``.xlsx``); errors name the path."""
    p = check_xlsx_path(path)
    try:
        from openpyxl import Workbook
    except ImportError as exc:                               # pragma: no cover - a dependency of lsa
        raise LsaError("writing Excel needs openpyxl (pip install openpyxl).") from exc
    wb = Workbook()
    wb.remove(wb.active)
    taken: set[str] = set()
    for s in sheets or [Sheet("empty", pd.DataFrame({"note": ["no results"]}))]:
        _write_sheet(wb.create_sheet(sheet_name(s.name, taken)), s)
    try:
        wb.save(p)
    except OSError as exc:
        raise OutputError(f"cannot write the workbook {p}: {exc.strerror or exc}.") from exc
    return p


def result_to_excel(result: Any, path: Any, sheet: str | None = None, *, title: str | None = None,
                    note: str | None = None) -> Path:
    """Write ``result.tidy()`` (any lsa result) to one sheet of a new workbook at ``path``, with
    the result's title and note and the footnotes of its flags. Returns the path written."""
    check_xlsx_path(path)
    title = title or str(getattr(result, "statistic", None) or type(result).__name__)
    note = note if note is not None else getattr(result, "note", "")
    table = result.tidy()
    return write_workbook(path, [Sheet(sheet or title, table, title, note if isinstance(note, str) else "",
                                       getattr(result, "rules", None))])
