"""Render a report (a title and a list of blocks) as one self-contained HTML file and as Markdown.

Blocks: ``("heading", text)``, ``("text", text)``, ``("table", DataFrame)``,
``("note", text)`` (a footnote under a table), ``("plot", name, svg)``, ``("code", text)``.
Plots are inline SVG in HTML and separate ``.svg`` files linked from the Markdown. A table with a
``flag`` column shows each flag as a footnote mark after the estimate (``<sup>`` in HTML and
Markdown) and the marks are explained in notes under it (:mod:`lsa.report.tables`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from pathlib import Path

import pandas as pd

from ..errors import LsaError
from .numbers import format_table
from .rules import ReportingRules
from .tables import flagged_display, marks_to_html, marks_to_text

_CSS = """
body{font-family:Helvetica,Arial,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222;line-height:1.45}
h1{font-size:1.6rem;border-bottom:2px solid #4C78A8;padding-bottom:.3rem}h2{font-size:1.2rem;margin-top:2rem}
table{border-collapse:collapse;margin:.6rem 0 1rem;font-size:.9rem}th,td{padding:.25rem .6rem;text-align:right}
th{border-bottom:1.5px solid #333;background:#f3f5f8}td:first-child,th:first-child{text-align:left}
tr:nth-child(even) td{background:#fafafa}pre{background:#f6f6f6;padding:.6rem;overflow-x:auto;font-size:.8rem}
.flag{color:#b00020;font-weight:bold}.small{color:#666;font-size:.85rem}
p.note{color:#555;font-size:.85rem;margin:.1rem 0}sup.flag{font-size:.75em;margin-left:.1em}
"""


@dataclass
class Report:
    """An ordered list of blocks with a title; ``write(dir)`` produces report.html and report.md."""

    title: str
    blocks: list = field(default_factory=list)

    def heading(self, text: str) -> "Report":
        self.blocks.append(("heading", text))
        return self

    def text(self, text: str) -> "Report":
        self.blocks.append(("text", text))
        return self

    def table(self, df: pd.DataFrame, digits: int = 2, rules: ReportingRules | None = None) -> "Report":
        """A formatted table; its ``flag`` column becomes footnote marks explained under it
        (``rules``: the study's reporting rule, for the footnotes' wording)."""
        if "flag" not in df.columns:
            self.blocks.append(("table", format_table(df, digits)))
            return self
        shown, notes = flagged_display(df, rules, digits)
        self.blocks.append(("table", shown))
        self.blocks.extend(("note", n) for n in notes)
        return self

    def plot(self, name: str, svg: str) -> "Report":
        self.blocks.append(("plot", name, svg))
        return self

    def code(self, text: str) -> "Report":
        self.blocks.append(("code", text))
        return self

    def html(self) -> str:
        out = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{escape(self.title)}</title>"
               f"<style>{_CSS}</style></head><body><h1>{escape(self.title)}</h1>"]
        for block in self.blocks:
            kind = block[0]
            if kind == "heading":
                out.append(f"<h2>{escape(block[1])}</h2>")
            elif kind == "text":
                out.append(f"<p>{escape(block[1])}</p>")
            elif kind == "table":
                out.append(marks_to_html(block[1].to_html(index=False, escape=True, border=0)))
            elif kind == "note":
                out.append(f"<p class='note'>{escape(block[1])}</p>")
            elif kind == "plot":
                out.append(f"<figure>{block[2]}</figure>")
            elif kind == "code":
                out.append(f"<pre>{escape(block[1])}</pre>")
        return "".join(out) + "</body></html>"

    def markdown(self) -> str:
        out = [f"# {self.title}\n"]
        for block in self.blocks:
            kind = block[0]
            if kind == "heading":
                out.append(f"## {block[1]}\n")
            elif kind == "text":
                out.append(block[1] + "\n")
            elif kind == "table":
                out.append(marks_to_text(markdown_table(block[1])) + "\n")
            elif kind == "note":
                out.append(block[1] + "\n")
            elif kind == "plot":
                out.append(f"![{block[1]}]({block[1]}.svg)\n")
            elif kind == "code":
                out.append("```\n" + block[1] + "\n```\n")
        return "\n".join(out)

    def write(self, directory: str | Path) -> dict[str, Path]:
        d = prepare_output(directory)
        paths = {"html": d / "report.html", "markdown": d / "report.md"}
        try:
            paths["html"].write_text(self.html(), encoding="utf-8")
            paths["markdown"].write_text(self.markdown(), encoding="utf-8")
            for block in self.blocks:
                if block[0] == "plot":
                    (d / f"{block[1]}.svg").write_text(block[2], encoding="utf-8")
        except OSError as exc:
            raise OutputError(f"cannot write the report into {d}: {exc.strerror or exc}.") from exc
        return paths


class OutputError(LsaError, OSError):
    """The output folder of a report cannot be created or written."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def prepare_output(directory: str | Path) -> Path:
    """Create the output folder (with its parents) and check that a file can be written in it;
    :class:`OutputError` names the folder and the reason otherwise."""
    import os

    d = Path(directory)
    if d.exists() and not d.is_dir():
        raise OutputError(f"output folder {d} is a file; choose a folder (--out).")
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if isinstance(exc, (FileExistsError, NotADirectoryError)):
            reason = "a part of the path is a file, not a folder"
        raise OutputError(f"cannot create the output folder {d}: {reason}; choose another folder (--out).") from exc
    if not os.access(d, os.W_OK | os.X_OK):
        raise OutputError(f"output folder {d} is not writable; choose another folder (--out).")
    return d


def markdown_table(df: pd.DataFrame) -> str:
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines)
