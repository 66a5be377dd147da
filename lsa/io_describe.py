"""What a data file holds: :func:`describe` lists its variables, labels, value labels and
missing codes, and the study file its name matches."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .io_names import match_filename
from .io_readers import check_complete, check_data_file, read_metadata
from .io_search import code_text, missing_text

__all__ = ["FileDescription", "describe"]


@dataclass
class FileDescription:
    """What :func:`describe` found: the variables and which study file the name matches."""

    path: str
    file_type: str
    n_rows: int | None
    n_columns: int
    variables: pd.DataFrame
    matches: list[dict] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"{Path(self.path).name}: {self.file_type}, {self.n_rows if self.n_rows is not None else '?'} rows "
                 f"x {self.n_columns} variables"]
        if self.matches:
            for m in self.matches:
                gr = f" grade {m['grade']}" if m.get("grade") else ""
                cn = f", country {m['country']}" if m.get("country") else ""
                unv = " (file naming unverified)" if m.get("unverified") else ""
                lines.append(f"  matches {m['study'].upper()} {m['cycle']}{gr}, {m['role']} file{cn}{unv}")
        else:
            lines.append("  the file name matches no known study file")
        with pd.option_context("display.max_rows", 200, "display.width", 160, "display.max_colwidth", 50):
            lines.append(self.variables.to_string(index=False))
        return "\n".join(lines)


def describe(path) -> FileDescription:
    """Variables, labels, value labels and missing codes of a file, and the study file it matches.

    Reads the header, plus the last row of the first variable to check that the file holds the
    rows its header declares (a truncated file raises :class:`~lsa.errors.ReadError`; so do a
    missing, empty or non-SPSS/Stata/SAS file and an unsupported extension). ``variables`` has one
    row per variable: name, label, type, measure, n_value_labels, value_labels (first few,
    ``code=label``), missing.
    """

    path, kind = check_data_file(path)
    meta = read_metadata(path, kind, user_missing=True)
    n_rows = check_complete(path, kind, meta)
    rows = []
    vls = meta.variable_value_labels or {}
    mr = getattr(meta, "missing_ranges", None) or {}
    mu = getattr(meta, "missing_user_values", None) or {}
    for name, label in zip(meta.column_names, meta.column_labels or [None] * len(meta.column_names)):
        vl = vls.get(name) or {}
        miss = mr.get(name) or mu.get(name) or []
        miss_txt = missing_text(miss)
        shown = "; ".join(f"{code_text(k)}={v}" for k, v in vl.items())
        shown = shown if len(shown) <= 60 else shown[:57] + ".."
        rows.append(dict(name=name, label=label or "", type=(meta.readstat_variable_types or {}).get(name, ""),
                         measure=(getattr(meta, "variable_measure", None) or {}).get(name, ""),
                         n_value_labels=len(vl), value_labels=shown, missing=miss_txt))
    ftype = {"spss": "SPSS", "stata": "Stata", "sas": "SAS"}[kind]
    return FileDescription(str(path), ftype, n_rows, len(meta.column_names), pd.DataFrame(rows),
                           match_filename(path.name))
