"""Missing-data diagnostics before imputing (spec §6.2 step 1, ``MLMusingR::nmiss``).

:func:`diagnose` reports the share missing per variable, the share of complete cases, the
suggested number of imputations (White, Royston & Wood 2011: at least the percentage of
incomplete cases, ``round((1 − complete share) · 100)`` as nmiss), missingness by cluster and
the missingness patterns; :func:`pattern_svg` draws the patterns.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import DesignError, LsaError
from ..validation import check_columns_exist, check_frame, check_name, check_number
from .spec import check_name_list

__all__ = ["MissingReport", "diagnose", "missing_share", "pattern_svg", "suggested_m"]


def missing_share(data: pd.DataFrame, columns: Sequence[str] | None = None) -> pd.Series:
    """Proportion missing per column (``nmiss``: sum(is.na(x)) / length(x))."""
    df = _frame(data)
    cols = _columns(df, columns)
    return df[cols].isna().mean()


def suggested_m(complete_share: float) -> int:
    """White et al. (2011) rule as ``nmiss`` prints it: round((1 − complete share) · 100), at least 1."""
    check_number(complete_share, "complete_share", low=0, high=1)
    return max(1, int(np.round((1 - complete_share) * 100)))


@dataclass(frozen=True)
class MissingReport:
    """Missing-data diagnostics.

    ``variables``: per column n_missing and share_missing; ``complete_share``: share of rows
    with no missing value in the columns examined; ``suggested_m``; ``by_cluster``: per cluster
    n rows, share of incomplete rows, and the share missing of each incomplete variable (None
    without a cluster); ``patterns``: distinct patterns (True = missing) with their count,
    most frequent first.
    """

    variables: pd.DataFrame
    n: int
    complete_share: float
    suggested_m: int
    by_cluster: pd.DataFrame | None
    patterns: pd.DataFrame
    cluster: str | None

    def summary(self) -> str:
        lines = ["Proportion missing per variable:"]
        lines.append(self.variables["share_missing"].round(4).to_string())
        lines.append(f"Percent complete cases: {100 * self.complete_share:.2f}")
        lines.append(f"(Minimum) number to impute: {self.suggested_m}")
        if self.by_cluster is not None:
            bc = self.by_cluster
            lines.append(f"Clusters ({self.cluster}): {len(bc)}; with any incomplete row: "
                         f"{int((bc['share_incomplete'] > 0).sum())}; median share of incomplete rows: "
                         f"{bc['share_incomplete'].median():.3f}")
            full = [c for c in bc.columns if c.startswith("miss_")]
            allmiss = {c[5:]: int((bc[c] == 1).sum()) for c in full if (bc[c] == 1).any()}
            if allmiss:
                lines.append(f"Clusters where a variable is missing for every row: {allmiss}")
        lines.append(f"Missingness patterns: {len(self.patterns)}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def pattern_svg(self, max_patterns: int = 20, width: int = 640) -> str:
        return pattern_svg(self.patterns, max_patterns=max_patterns, width=width)


def _frame(data) -> pd.DataFrame:
    """The data of a DataFrame or design: rows and unique column names (lsa.validation)."""
    if isinstance(data, pd.DataFrame):
        return check_frame(data, "data")
    if hasattr(data, "data") and isinstance(data.data, pd.DataFrame):
        return check_frame(data.data, "data")
    raise DesignError(f"data must be a pandas DataFrame or an lsa.SurveyDesign; got {type(data).__name__}.")


def _columns(df: pd.DataFrame, columns) -> list[str]:
    if columns is None:
        return list(df.columns)
    cols = check_name_list(columns, "columns")
    if not cols:
        raise DesignError("columns is empty; give the columns to examine, or None for all of them.")
    check_columns_exist(df, cols, "columns")
    return cols


def diagnose(data, columns: Sequence[str] | None = None, cluster: str | None = None) -> MissingReport:
    """Missing-data diagnostics of ``columns`` (default: all) of a DataFrame or design.

    ``cluster`` (default: the design's top-level id) adds missingness by cluster.
    """
    df = _frame(data)
    if cluster is None and not isinstance(data, pd.DataFrame) and getattr(data, "ids", None):
        cluster = next(iter(data.ids.values()))
    cols = _columns(df, columns)
    if cluster is not None:
        check_name(cluster, "cluster")
        check_columns_exist(df, [cluster], "cluster")
    na = df[cols].isna()
    variables = pd.DataFrame({"n_missing": na.sum(), "share_missing": na.mean()})
    complete = float((~na.any(axis=1)).mean())
    by_cluster = None
    if cluster is not None:
        if df[cluster].isna().any():
            raise DesignError(f"cluster id {cluster!r} has {int(df[cluster].isna().sum())} missing value(s).")
        inc = [c for c in cols if na[c].any() and c != cluster]
        g = na[inc].groupby(df[cluster].to_numpy())
        by_cluster = pd.DataFrame({"n": g.size(),
                                   "share_incomplete": na[inc].any(axis=1).groupby(df[cluster].to_numpy()).mean()})
        if inc:
            by_cluster = by_cluster.join(g.mean().add_prefix("miss_"))
        by_cluster.index.name = cluster
    pat = na.value_counts(sort=True).rename("count").reset_index()
    pat = pat.sort_values("count", ascending=False, kind="stable").reset_index(drop=True)
    return MissingReport(variables, len(df), complete, suggested_m(complete), by_cluster, pat, cluster)


def pattern_svg(patterns: pd.DataFrame, max_patterns: int = 20, width: int = 640) -> str:
    """Missingness-pattern plot (as ``mice::md.pattern``): one row per pattern (most frequent
    first), one column per variable (ordered by share missing), red = missing, blue = observed;
    the count of rows is on the right, the count of missing values per variable below."""
    if not isinstance(patterns, pd.DataFrame) or "count" not in patterns.columns:
        raise LsaError(f"patterns must be the table of MissingReport.patterns (a DataFrame with a 'count' "
                       f"column); got {type(patterns).__name__}.")
    check_number(max_patterns, "max_patterns", low=1, integer=True)
    check_number(width, "width", low=100, integer=True)
    vars_ = [c for c in patterns.columns if c != "count"]
    miss_per_var = {v: int((patterns[v].astype(bool) * patterns["count"]).sum()) for v in vars_}
    vars_ = sorted(vars_, key=lambda v: (miss_per_var[v], vars_.index(v)))
    shown = patterns.head(max_patterns)
    cell_h, top, left, right = 18, 110, 20, 70
    cell_w = max(14, min(40, (width - left - right) // max(len(vars_), 1)))
    width = left + cell_w * len(vars_) + right
    height = top + cell_h * len(shown) + 46
    font = 'font-family="Helvetica, Arial, sans-serif" font-size="11"'
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}">', '<rect width="100%" height="100%" fill="white"/>',
             f'<text x="{left}" y="16" {font} font-weight="bold">Missingness patterns '
             f'({len(patterns)} distinct; {len(shown)} shown)</text>']
    for k, v in enumerate(vars_):
        x = left + k * cell_w + cell_w / 2
        parts.append(f'<text transform="translate({x + 4:.1f},{top - 6}) rotate(-60)" {font}>{escape(str(v))}</text>')
    for r, (_, row) in enumerate(shown.iterrows()):
        y = top + r * cell_h
        for k, v in enumerate(vars_):
            col = "#E45756" if bool(row[v]) else "#4C78A8"
            parts.append(f'<rect x="{left + k * cell_w}" y="{y}" width="{cell_w - 1}" height="{cell_h - 1}" '
                         f'fill="{col}"/>')
        parts.append(f'<text x="{left + len(vars_) * cell_w + 6}" y="{y + 13}" {font}>{int(row["count"])}</text>')
    yb = top + len(shown) * cell_h + 14
    for k, v in enumerate(vars_):
        parts.append(f'<text x="{left + k * cell_w + cell_w / 2:.1f}" y="{yb}" text-anchor="middle" {font}>'
                     f'{miss_per_var[v]}</text>')
    parts.append(f'<text x="{left}" y="{yb + 20}" {font} fill="#555">red: missing, blue: observed; right: rows '
                 f'with the pattern; bottom: missing values per variable</text>')
    return "".join(parts) + "</svg>"
