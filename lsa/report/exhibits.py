"""Tables in the layout of the international reports.

* :func:`exhibit` — the IEA exhibit: for each group (e.g. "girls", "boys"), the percent of
  students (SE) and their average achievement (SE) in one table, per country with ``over=``
  (e.g. TIMSS 2019 exhibit "Student Confidence in Mathematics": percent of students and average
  achievement for each category). Percentages come from :func:`lsa.percentages`, means from
  :func:`lsa.mean` on the same design, so the replicate and PV variance is that of each estimator.
* :func:`league_table` — countries sorted by their estimate with the average row and the marks
  of the comparison with the average (▲ significantly higher, ▼ lower), as the PISA and TIMSS
  "average achievement" exhibits. It takes the country estimates and, when available, the output
  of ``lsa.compare`` / ``lsa.average`` (columns ``term, group, reference, estimate, std_error,
  statistic, p_value`` and a mark); any DataFrame with those columns works.

Both return plain DataFrames that :class:`lsa.report.Report` renders (with their flags) and
:func:`lsa.report.excel.write_workbook` writes.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..errors import LsaError
from ..validation import check_choice, check_columns_exist, check_name, check_names, check_number

__all__ = ["exhibit", "league_table", "SIGNIFICANCE_MARKS"]

#: marks of a comparison with the average in a league table
SIGNIFICANCE_MARKS = {"higher": "▲", "lower": "▼", "not significant": ""}


def _join_flags(*columns: pd.Series) -> list[str]:
    out = []
    for parts in zip(*columns):
        seen = dict.fromkeys(f.strip() for p in parts for f in str("" if pd.isna(p) else p).split(";") if f.strip())
        out.append("; ".join(seen))
    return out


def exhibit(design, variable: str, group: str, over: str | Sequence[str] | None = None, *,
            layout: str = "long") -> pd.DataFrame:
    """Percent of students in each category of ``group`` and their mean of ``variable`` (a column
    or PV set), with standard errors, in one table (IEA exhibit layout).

    ``layout="long"``: one row per (``over`` groups, category) with the columns ``percent``,
    ``percent_se``, ``mean``, ``mean_se``, ``n_obs`` (students with data on ``variable``),
    ``n_schools`` and ``flag`` (the reporting flags of the percent's and the mean's cells).
    ``layout="wide"``: one row per ``over`` group, the four numbers of each category side by side
    (``"<category>: percent"``, ...), as printed in the international reports.
    """
    from ..estimators import mean, percentages

    check_name(variable, "variable")
    check_name(group, "group")
    check_choice(layout, ("long", "wide"), "layout")
    by = check_names(over, "over", allow_none=True) if over is not None else []
    check_columns_exist(design.data, [group], "group")
    if by:
        check_columns_exist(design.data, by, "over")
    if group in by:
        raise LsaError(f"group {group!r} is also in over={by}; give the grouping once.")
    pct = percentages(design, group, by=by or None).tidy()
    avg = mean(design, variable, by=[*by, group]).tidy()
    pct = pct.assign(**{group: pct["term"].astype(str)})
    avg = avg.assign(**{group: avg[group].astype(str)})
    keys = [*by, group]
    merged = pct[[*keys, "estimate", "std_error", "flag"]].merge(
        avg[[*keys, "estimate", "std_error", "n_obs", "n_schools", "flag"]], on=keys, how="outer",
        suffixes=("_pct", "_mean"), sort=False)
    out = pd.DataFrame({**{k: merged[k] for k in keys},
                        "percent": merged["estimate_pct"], "percent_se": merged["std_error_pct"],
                        "mean": merged["estimate_mean"], "mean_se": merged["std_error_mean"],
                        "n_obs": merged["n_obs"], "n_schools": merged["n_schools"],
                        "flag": _join_flags(merged["flag_pct"], merged["flag_mean"])})
    if layout == "long":
        return out.reset_index(drop=True)
    return _wide(out, by, group)


def _wide(long: pd.DataFrame, by: list[str], group: str) -> pd.DataFrame:
    cats = list(dict.fromkeys(long[group]))
    index = by or None
    frame = long.assign(_row=0) if not by else long
    pieces = []
    for c in cats:
        part = frame[frame[group] == c].set_index(index or "_row")[["percent", "percent_se", "mean", "mean_se", "flag"]]
        pieces.append(part.rename(columns=lambda k, c=c: f"{c}: {k}"))
    wide = pd.concat(pieces, axis=1)
    flags = [wide[f"{c}: flag"] for c in cats]
    wide = wide.drop(columns=[f"{c}: flag" for c in cats])
    wide["flag"] = _join_flags(*[f.fillna("") for f in flags])
    return wide.reset_index(drop=not by)


def _mark_column(comparison: pd.DataFrame, alpha: float) -> pd.Series:
    for name in ("mark", "significance", "sig"):
        if name in comparison.columns:
            text = comparison[name].fillna("").astype(str).str.strip()
            return text.map(lambda s: SIGNIFICANCE_MARKS.get(s.lower(), s))
    higher = (comparison["p_value"] < alpha) & (comparison["estimate"] > 0)
    lower = (comparison["p_value"] < alpha) & (comparison["estimate"] < 0)
    return pd.Series(np.select([higher, lower], ["▲", "▼"], ""), index=comparison.index)


def league_table(estimates: Any, over: str = "CNT", *, term: str | None = None,
                 comparison: pd.DataFrame | None = None, average: Any = None, average_label: str = "Average",
                 reference: str | None = None, descending: bool = True, alpha: float = 0.05) -> pd.DataFrame:
    """Countries sorted by estimate, the average row last, each country's difference from the
    average (``diff``) with its SE (``diff_se``), p-value and mark (▲ higher, ▼ lower, "" not
    significant).

    Parameters
    ----------
    estimates : a result with ``tidy()`` or a DataFrame with the columns ``over``, ``term``,
        ``estimate``, ``std_error`` (and ``flag``), one row per country and term. A row whose
        ``over`` value is ``average_label`` is taken as the average.
    term : the term to rank (needed when the table has several).
    comparison : the output of ``lsa.compare`` (or any DataFrame with ``term, group, reference,
        estimate, std_error, p_value`` and optionally a ``mark``/``significance`` column): the
        rows of ``term`` against ``reference`` (default: the only reference, or ``average_label``).
    average : the average row when it is not in ``estimates``: the output of ``lsa.average`` (a
        result or DataFrame; its row named ``average_label`` or its only row of ``term``) or a
        pair ``(estimate, std_error)``.
    """
    check_name(over, "over")
    check_number(alpha, "alpha", low=0, high=1, low_open=True, high_open=True)
    table = _as_table(estimates, "estimates", [over, "term", "estimate", "std_error"])
    terms = list(dict.fromkeys(table["term"].astype(str)))
    if term is None:
        if len(terms) > 1:
            raise LsaError(f"league_table: term= is needed, the estimates have several terms: {terms}.")
        term = terms[0]
    if str(term) not in terms:
        raise LsaError(f"league_table: term {term!r} is not in the estimates; their terms are {terms}.")
    rows = table[table["term"].astype(str) == str(term)]
    is_avg = rows[over].astype(str) == average_label
    countries, avg_row = rows[~is_avg], _average_row(rows[is_avg], average, term, over, average_label)
    out = pd.DataFrame({over: countries[over].astype(str).to_numpy(),
                        "estimate": countries["estimate"].to_numpy(float),
                        "std_error": countries["std_error"].to_numpy(float),
                        "flag": countries["flag"].fillna("").to_numpy() if "flag" in countries.columns else ""})
    out = out.sort_values("estimate", ascending=not descending, kind="stable").reset_index(drop=True)
    if comparison is not None:
        out = out.merge(_comparison_rows(comparison, over, term, reference, average_label, alpha), on=over, how="left",
                        sort=False)
        out["mark"] = out["mark"].fillna("")
    if avg_row is not None:
        avg = pd.DataFrame({over: [average_label], "estimate": [avg_row[0]], "std_error": [avg_row[1]], "flag": [""]})
        out = pd.concat([out, avg], ignore_index=True)
        if "mark" in out.columns:
            out["mark"] = out["mark"].fillna("")
    cols = [over, "estimate", "std_error", *[c for c in ("diff", "diff_se", "p_value", "mark")
                                            if c in out.columns], "flag"]
    return out[cols]


def _as_table(obj: Any, argument: str, needed: list[str]) -> pd.DataFrame:
    table = obj.tidy() if hasattr(obj, "tidy") and not isinstance(obj, pd.DataFrame) else obj
    if not isinstance(table, pd.DataFrame):
        raise LsaError(f"{argument} must be an lsa result or a DataFrame; got {type(obj).__name__}.")
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise LsaError(f"{argument} lacks the column(s) {missing}; it has {list(table.columns)}. "
                       f"(Is over= the country column of the estimates?)")
    return table


def _average_row(in_table: pd.DataFrame, average: Any, term: str, over: str, label: str):
    if average is None:
        if len(in_table) == 0:
            return None
        return float(in_table["estimate"].iloc[0]), float(in_table["std_error"].iloc[0])
    if isinstance(average, tuple) and len(average) == 2:
        return float(average[0]), float(average[1])
    table = _as_table(average, "average", ["estimate", "std_error"])
    if "term" in table.columns:
        table = table[table["term"].astype(str) == str(term)]
    for col in (over, "group"):
        if col in table.columns and (table[col].astype(str) == label).any():
            table = table[table[col].astype(str) == label]
            break
    if len(table) != 1:
        raise LsaError(f"average: expected one average row for term {term!r} (named {label!r}); found {len(table)}.")
    return float(table["estimate"].iloc[0]), float(table["std_error"].iloc[0])


def _comparison_rows(comparison: pd.DataFrame, over: str, term: str, reference: str | None, label: str,
                     alpha: float) -> pd.DataFrame:
    comp = _as_table(comparison, "comparison", ["term", "group", "reference", "estimate", "std_error", "p_value"])
    comp = comp[comp["term"].astype(str) == str(term)]
    refs = list(dict.fromkeys(comp["reference"].astype(str)))
    if reference is None:
        reference = label if label in refs else (refs[0] if len(refs) == 1 else None)
    if reference is None or reference not in refs:
        raise LsaError(f"comparison: give reference= (one of {refs}) to choose the comparison shown; "
                       f"got {reference!r}.")
    comp = comp[comp["reference"].astype(str) == reference]
    return pd.DataFrame({over: comp["group"].astype(str).to_numpy(),
                         "diff": comp["estimate"].to_numpy(float),
                         "diff_se": comp["std_error"].to_numpy(float),
                         "p_value": comp["p_value"].to_numpy(float),
                         "mark": _mark_column(comp, alpha).to_numpy()})
