"""Published numbers against lsa's: the comparison a recipe's ``[[analysis.published]]`` entries
ask for, and how the checks are shown in the report and in the workbook.

A published number agrees when it is within ``tolerance`` (default: half a unit of the printed
``digits``); a published ``mark`` (the significance mark of a comparison or a league table) must
be equal. The report shows the published number with the decimals the recipe gives (or its
tolerance resolves) and lsa's with one more, so that a check to 4 decimals is seen at 4 decimals.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["compare", "checks_display", "decimals_given", "decimals_of_tolerance", "format_checks_sheet"]


def compare(table: pd.DataFrame, published: list[dict]) -> pd.DataFrame:
    """Published vs lsa, side by side: a row per published number with the difference and whether
    it is within tolerance (``tolerance`` or half a unit of the printed ``digits``). A published
    ``mark`` (the significance mark of a comparison: "higher", "lower", "not significant", or a
    league table's ▲/▼) must be equal. A table without a ``term`` column (a league table, an
    exhibit) is matched on ``by`` only; ``estimate_column`` / ``std_error_column`` name the columns
    compared when they are not ``estimate`` / ``std_error`` (an exhibit's ``mean`` / ``mean_se``)."""
    rows = []
    for p in published:
        sel = pd.Series(True, index=table.index)
        if "term" in table.columns:
            sel &= table["term"].astype(str) == str(p["term"])
        for k, v in (p.get("by") or {}).items():
            sel &= table[k].astype(str) == str(v) if k in table.columns else False
        if "column" in p:
            sel &= table["variable"].astype(str) == str(p["column"])
        match = table[sel]
        label = str(p["term"]) + "".join(f" [{v}]" for v in (p.get("by") or {}).values())
        for stat in ("estimate", "std_error", "mark"):
            if stat not in p:
                continue
            if stat == "mark":
                value = str(match["mark"].iloc[0]) if len(match) == 1 and "mark" in match.columns else None
                rows.append({"term": label, "statistic": stat, "published": str(p[stat]), "lsa": value,
                             "difference": np.nan, "tolerance": np.nan, "ok": value == str(p[stat]),
                             "source": p.get("source", "")})
                continue
            digits = p.get("digits" if stat == "estimate" else "std_error_digits")
            tol = p.get("tolerance" if stat == "estimate" else "std_error_tolerance")
            if tol is None:
                tol = 0.5 * 10.0 ** (-(digits if digits is not None else 2)) + 1e-9
            column = p.get(f"{stat}_column", stat)          # e.g. an exhibit's "mean" and "mean_se"
            value = float(match[column].iloc[0]) if len(match) == 1 and column in match.columns else np.nan
            rows.append({"term": label, "statistic": stat, "published": p[stat], "lsa": value,
                         "difference": value - p[stat], "tolerance": tol,
                         "ok": bool(len(match) == 1 and abs(value - p[stat]) <= tol),
                         "source": p.get("source", "")})
    return pd.DataFrame(rows)


def checks_display(checks: pd.DataFrame) -> pd.DataFrame:
    """The checks for the report: the published number with the decimals the recipe gives or its
    tolerance implies (tolerance 5e-05: 4), lsa's with one more than the tolerance's, marks as text,
    ok as yes/NO."""
    from .numbers import format_number

    def is_number(v) -> bool:
        return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)

    published, lsa = [], []
    for p, v, tol in zip(checks["published"], checks["lsa"], checks["tolerance"]):
        if not is_number(p):
            published.append(str(p))
            lsa.append("" if v is None else str(v))
            continue
        shown = decimals_of_tolerance(tol)
        published.append(format_number(p, max(decimals_given(p), shown)))
        lsa.append(format_number(v, shown + 1))
    return checks.assign(published=published, lsa=lsa, ok=checks["ok"].map({True: "yes", False: "NO"}))


def decimals_given(v) -> int:
    """Decimals of a number as written in the recipe (538 -> 0, 2.6438 -> 4)."""
    if isinstance(v, (int, np.integer)):
        return 0
    text = repr(float(v))
    return 0 if "e" in text else len(text.partition(".")[2].rstrip("0"))


def decimals_of_tolerance(tol) -> int:
    """Decimals a tolerance resolves: 0.5 -> 0, 0.005 -> 2, 0.01 -> 2, 5e-05 -> 4."""
    if not isinstance(tol, (int, float, np.floating)) or not np.isfinite(tol) or tol <= 0:
        return 2
    return int(max(0, np.ceil(-np.log10(2 * float(tol)) - 1e-9)))


def format_checks_sheet(path: Path) -> None:
    """Show the published and lsa numbers of the "Published vs lsa" sheet with the decimals of the
    report (those of the recipe or its tolerance, and one more for lsa): the workbook's default
    of two significant digits hid a check to 4 decimals (2.6438 shown as 2.64)."""
    from openpyxl import load_workbook

    wb = load_workbook(path)
    if "Published vs lsa" not in wb.sheetnames:
        return
    ws = wb["Published vs lsa"]
    header = {str(c.value): c.column for c in ws[4] if c.value is not None}
    for row in range(5, ws.max_row + 1):
        tol = ws.cell(row=row, column=header["tolerance"]).value
        pub = ws.cell(row=row, column=header["published"])
        if not isinstance(tol, (int, float)) or not isinstance(pub.value, (int, float)):
            continue
        shown = decimals_of_tolerance(tol)
        decimals = {"published": max(decimals_given(pub.value), shown), "lsa": shown + 1}
        for col, d in decimals.items():
            ws.cell(row=row, column=header[col]).number_format = "#,##0" + ("." + "0" * d if d else "")
    wb.save(path)
