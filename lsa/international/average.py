"""International averages of one statistic over countries (:func:`average`).

Composite average (OECD average, IEA "international average"): every country counts once,

    θ̄ = (1/N) Σ_c θ_c,     SE(θ̄) = √(Σ_c SE_c²) / N,

because national samples are independent (OECD 2009, *PISA Data Analysis Manual, SPSS* 2nd ed.,
ch. 11 "The OECD average"; Martin, von Davier & Mullis 2020, *Methods and Procedures: TIMSS
2019 Technical Report*, ch. 14 "international averages"). The covariance of the average's
terms is Σ_c Cov_c / N² (stored in ``cov_params((label,))``).

Pooled average: one estimate over the pooled sample of the chosen countries with the study's
pooling weights — ``pooling_weight="senate"`` rescales each country's final and replicate
weights so that they sum to 1000 per country (the PISA senate weight, OECD 2009 ch. 3), then the
given ``estimator`` runs on that design restricted to the chosen countries; its replicate
variance is the design's (see :mod:`lsa.replicates` for multi-country designs). For a mean with
senate weights the pooled estimate equals the composite one (every country weighs 1000).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Literal, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..design import SurveyDesign
from ..errors import LsaError, MissingDataWarning, warn
from ..estimators import DesignResult
from ..validation import check_choice, check_name, has_column
from .tables import AVERAGE_COLUMN, CountryTable, check_design_over, country_table, flag_small, select_countries

SENATE_TOTAL = 1000.0


def composite(rows: pd.DataFrame, over: str, keys: Sequence[str], countries: Sequence) -> pd.DataFrame:
    """Composite average per (keys, term) over ``countries``: estimate, std_error and n_obs."""
    sub = rows.loc[rows[over].isin(list(countries))]
    group = [*keys, "term"]
    g = sub.groupby(group, sort=False, dropna=False)
    n = g["estimate"].size()
    sum_sq = sub["std_error"].pow(2).groupby([sub[c] for c in group], sort=False, dropna=False).sum()
    out = pd.DataFrame({
        "estimate": g["estimate"].mean(),
        "std_error": np.sqrt(sum_sq) / n,
        "n_obs": g["n_obs"].sum(min_count=1),
        AVERAGE_COLUMN: n,
    }).reset_index()
    incomplete = n[n != len(countries)]
    if len(incomplete):
        raise LsaError(f"average: some terms are missing for some countries ({incomplete.index[:3].tolist()}); "
                       f"every country needs every term.")
    return out


def _with_tests(avg: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    est, se = avg["estimate"].to_numpy(float), avg["std_error"].to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = est / se
    q = stats.norm.ppf(1 - alpha / 2)
    return avg.assign(statistic=z, df=np.inf, p_value=2 * stats.norm.sf(np.abs(z)),
                      conf_low=est - q * se, conf_high=est + q * se)


def senate_design(design: SurveyDesign, over: str, countries: Sequence) -> SurveyDesign:
    """``design`` with its final (observation-level) and shipped replicate weights rescaled so
    that each country's full weight sums to 1000, restricted to ``countries``."""
    if not has_column(design.data, over):
        raise LsaError(f"average(method='pooled'): the design has no column over={over!r}.")
    data = design.data
    country = data[over]
    w = design.full_weight()
    totals = pd.Series(w).groupby(country.to_numpy()).sum()
    factor = SENATE_TOTAL / country.map(totals).to_numpy(dtype=float)
    level_weight = design.weights.get(design.observation_level)
    if level_weight is None:
        raise LsaError("average(method='pooled', pooling_weight='senate'): the design has no observation-level "
                       "weight to rescale; give a design with weights.")
    columns = [level_weight]
    rep = design.replicates
    if rep is not None:
        columns += list(rep.columns)                  # zone-built replicates follow the full weight
    scaled = data.copy(deep=False)
    scaled[columns] = data[columns].to_numpy(dtype=float) * factor[:, None]
    return design.with_data(scaled).subset(country.isin(list(countries)).to_numpy())


def _pooled(table: CountryTable, countries: list, design, estimator, pooling_weight) -> pd.DataFrame:
    if not isinstance(design, SurveyDesign):
        raise LsaError(f"average(method='pooled') needs design= (the SurveyDesign of the countries); "
                       f"got {type(design).__name__}.")
    if not callable(estimator):
        raise LsaError("average(method='pooled') needs estimator= (a function of a design returning the "
                       "statistic, e.g. lambda d: lsa.mean(d, 'MATH')); got "
                       f"{type(estimator).__name__}.")
    check_choice(pooling_weight, ("senate", None), "pooling_weight")
    pooled_design = (senate_design(design, table.over, countries) if pooling_weight == "senate"
                     else design.subset(design.data[table.over].isin(countries).to_numpy()))
    result = estimator(pooled_design)
    if not isinstance(result, DesignResult):
        raise LsaError(f"average: estimator must return a design-based result; got {type(result).__name__}.")
    rows = result.tidy()
    pooled_keys = [c for c in rows.columns[: list(rows.columns).index("term")]]
    if list(pooled_keys) != list(table.keys):
        raise LsaError(f"average: the pooled estimate has groups {pooled_keys}, the countries' result "
                       f"{list(table.keys)}; call the estimator with the same by= except {table.over!r}.")
    want = table.countries_only()[[*table.keys, "term"]].drop_duplicates()
    got = rows[[*table.keys, "term"]]
    if sorted(map(tuple, want.astype(str).to_numpy())) != sorted(map(tuple, got.astype(str).to_numpy())):
        raise LsaError(f"average: the pooled estimate's terms {got['term'].unique().tolist()} differ from the "
                       f"countries' terms {want['term'].unique().tolist()}; use the same estimator and variable.")
    keep = [*table.keys, "term", "estimate", "std_error", "statistic", "df", "p_value", "conf_low", "conf_high"]
    out = rows[keep + (["n_obs"] if "n_obs" in rows.columns else [])].copy()
    out[AVERAGE_COLUMN] = len(countries)
    return out


def average(result, over: str = "CNT", method: Literal["composite", "pooled"] = "composite", *,
            countries: Sequence | None = None, label: str = "Average", min_obs: int | None = None,
            design: SurveyDesign | None = None, estimator: Callable | None = None,
            pooling_weight: Literal["senate"] | None = "senate") -> DesignResult:
    """The result with one average row per term added (``over`` = ``label``).

    Parameters
    ----------
    result : a :class:`~lsa.DesignResult` computed with ``by=over`` (other ``by`` columns are
        kept: the average is per combination of them), or a dict ``{country: result}``.
    over : the country column.
    method : ``"composite"`` (mean of the country estimates, SE = √(Σ SE_c²)/N) or ``"pooled"``
        (one estimate over the pooled countries with pooling weights; needs ``design`` and
        ``estimator``, a function of a design, e.g. ``lambda d: lsa.mean(d, "MATH")``).
    countries : the countries of the average (e.g. the OECD members); default all.
    label : the ``over`` value of the average rows.
    min_obs : countries with fewer observations are flagged (kept in the average; a warning
        names them); ``None`` uses only the result's own ``flag`` column.
    pooling_weight : ``"senate"`` (each country's weights sum to 1000) or ``None`` (the
        design's weights as they are, e.g. a design built on ``SENWT``).
    design : the design of the countries (needed for ``"pooled"``). When given, ``over`` must be
        constant within its replicate zones (strata) when the replicates are built from zones
        (JKZONE/JKREP): an error names the column otherwise
        (:func:`lsa.multicountry.check_constant_within_zones`).

    Returns
    -------
    DesignResult whose table has the average rows appended, with ``n_countries`` (NaN on
    country rows) and ``flag``; its df is ∞ (normal reference) for a composite average.
    ``cov_params((label,))`` gives the average's covariance (composite).

    Examples
    --------
    >>> res = lsa.mean(design, "MATH", by="CNT")                       # doctest: +SKIP
    >>> lsa.average(res, countries=["FRA", "ITA"]).tidy()              # doctest: +SKIP
    """
    check_choice(method, ("composite", "pooled"), "method")
    table = country_table(result, over)
    check_design_over(design, over, "average")
    check_name(label, "label")
    if label in table.countries:
        raise LsaError(f"label={label!r} is already a value of {over!r}; choose another label.")
    chosen = select_countries(table, countries)
    rows = table.countries_only()
    rows["flag"] = flag_small(rows, min_obs, over, "average")
    flagged = rows.loc[rows[over].isin(chosen) & (rows["flag"] != ""), over].unique().tolist()
    nan = rows.loc[rows[over].isin(chosen) & rows["estimate"].isna(), over].unique().tolist()
    if nan:
        warn(f"average: {nan} have undefined (NaN) estimates for some terms; the average of those terms is NaN.",
             MissingDataWarning)
    if method == "composite":
        avg = _with_tests(composite(rows, over, table.keys, chosen))
    else:
        avg = _pooled(table, chosen, design, estimator, pooling_weight)
    avg[over] = label
    avg["flag"] = f"includes flagged {flagged}" if flagged else ""
    extra = {c: rows[c].iloc[0] for c in ("variable",) if c in rows.columns and rows[c].nunique() == 1}
    avg = avg.assign(**extra)
    out = pd.concat([rows, avg], ignore_index=True)[list(rows.columns) + [AVERAGE_COLUMN]]
    return _as_result(table, out, avg, chosen, method, label, rows)


def _as_result(table: CountryTable, out: pd.DataFrame, avg: pd.DataFrame, chosen: list, method: str, label: str,
               rows: pd.DataFrame) -> DesignResult:
    note = (f"{method} average of {len(chosen)} countries ({', '.join(map(str, chosen[:8]))}"
            f"{', ...' if len(chosen) > 8 else ''}) in the rows {table.over} = {label!r}")
    src = table.source
    covariances = dict(src.covariances) if src is not None else {}
    if method == "composite" and src is not None and list(table.keys) == []:
        first = src.covariances[(chosen[0],)]
        parts = [src.covariances[(c,)] for c in chosen]
        parts = [p if p.index.equals(first.index) else p.loc[first.index, first.index] for p in parts]
        cov = np.sum([p.to_numpy() for p in parts], axis=0) / len(chosen) ** 2
        covariances[(label,)] = pd.DataFrame(cov, index=first.index, columns=first.columns)
    if src is not None:
        return dataclasses.replace(src, table=out, covariances=covariances, note=f"{src.note}; {note}")
    return DesignResult(table.statistic, out, pd.DataFrame(), covariances, table.n_pvs, note)
