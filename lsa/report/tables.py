"""Tables for people: a tidy table with its reporting flags shown as footnote marks, as HTML (for
notebooks, ``_repr_html_``) and for the HTML/Markdown report.

Numbers follow :mod:`lsa.report.numbers` (an estimate to the precision of its standard error, a
standard error never printed as 0.00). A row with a ``flag`` (see :mod:`lsa.report.rules`) gets
the flag's mark after its estimate — ``"c"`` (PISA) or ``"~"`` (IEA) for too few students or
schools, ``"r"``/``"s"``/``"x"`` for low coverage, ``"‡"`` for a standard error of 0 — and the
marks are explained in footnotes under the table, as the official tables do.
"""

from __future__ import annotations

import re
from html import escape

import pandas as pd

from .numbers import format_table
from .rules import NO_RULES, ReportingRules, footnotes, marks

__all__ = ["flagged_display", "result_html", "MARK_OPEN", "MARK_CLOSE", "marks_to_html", "marks_to_text"]

#: a footnote mark inside a formatted cell is written MARK_OPEN + mark + MARK_CLOSE (private-use
#: characters that survive HTML escaping) and turned into <sup> by :func:`marks_to_html`
MARK_OPEN, MARK_CLOSE = "\ue000", "\ue001"
_MARK = re.compile(f"{MARK_OPEN}(.*?){MARK_CLOSE}")
#: the column that carries the marks (the first one present; else the first column, the row label)
MARKED_COLUMNS = ("estimate", "percent", "mean")
_CSS = ("<style>.lsa-result table{border-collapse:collapse;font-size:.9em}.lsa-result th,.lsa-result td"
        "{padding:.15em .5em;text-align:right}.lsa-result td:first-child,.lsa-result th:first-child"
        "{text-align:left}.lsa-result sup{color:#b00020;font-weight:bold}.lsa-result .note{color:#555;"
        "font-size:.85em;margin:.1em 0}</style>")


def flagged_display(table: pd.DataFrame, rules: ReportingRules | None = None, digits: int = 2,
                    drop: tuple[str, ...] = ()) -> tuple[pd.DataFrame, list[str]]:
    """The table formatted for display (strings) with each flagged row's marks after its estimate,
    without the ``flag`` column and the ``drop`` columns, and the footnotes that explain the marks."""
    rules = rules or NO_RULES
    shown = table.drop(columns=[c for c in drop if c in table.columns])
    flags = shown["flag"].fillna("").astype(str).tolist() if "flag" in shown.columns else []
    shown = shown.drop(columns=["flag"], errors="ignore")
    out = format_table(shown, digits)
    notes: list[str] = []
    if any(flags):
        target = next((c for c in MARKED_COLUMNS if c in out.columns), out.columns[0])   # else the row label
        cell_marks = marks(flags, rules)
        out[target] = [v + (f"{MARK_OPEN}{m}{MARK_CLOSE}" if m else "") for v, m in zip(out[target], cell_marks)]
        notes = footnotes(flags, rules)
    return out, notes


def marks_to_html(html: str) -> str:
    """Turn the mark tokens of :func:`flagged_display` into ``<sup>`` (after escaping)."""
    return _MARK.sub(r'<sup class="flag">\1</sup>', html)


def marks_to_text(text: str, style: str = "markdown") -> str:
    """Mark tokens as ``<sup>c</sup>`` (Markdown, as GitHub renders it) or ``" c"`` (plain)."""
    return _MARK.sub(r"<sup>\1</sup>" if style == "markdown" else r" \1", text)


def result_html(title: str, note: str, table: pd.DataFrame, rules: ReportingRules | None = None,
                digits: int = 2, drop: tuple[str, ...] = ()) -> str:
    """The notebook view of a result: a title, a note, the formatted table with its flag marks and
    the footnotes (``_repr_html_`` of every result type)."""
    shown, notes = flagged_display(table, rules, digits, drop)
    body = marks_to_html(shown.to_html(index=False, escape=True, border=0))
    foot = "".join(f"<p class='note'>{escape(n)}</p>" for n in notes)
    head = f"<p><b>{escape(title)}</b>" + (f"<br><span class='note'>{escape(note)}</span>" if note else "") + "</p>"
    return f"{_CSS}<div class='lsa-result'>{head}{body}{foot}</div>"
