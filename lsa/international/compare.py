"""Country comparisons as independent samples (:func:`compare`).

National samples are drawn independently, so (OECD 2009, *PISA Data Analysis Manual, SPSS* 2nd
ed., ch. 11; Martin, von Davier & Mullis 2020, *TIMSS 2019 Technical Report*, ch. 14):

* country a − country b:             Var = SE_a² + SE_b²;
* country c − the composite average of N countries that includes c:
                                     Var = ((N − 1)/N)² SE_c² + (1/N²) Σ_{k≠c} SE_k²
  (θ_c − θ̄ = ((N−1)/N) θ_c − (1/N) Σ_{k≠c} θ_k, a sum of independent terms);
* country c − an average it is not part of:  Var = SE_c² + SE_avg².

The replicates of a pooled file are not used: they would treat the countries as one sample
(issue 12: FRA − ITA 8.671 by svycontrast against 8.628 by √(SE²+SE²)). Tests use the normal
reference (:mod:`lsa.international.result`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import LsaError
from .result import ComparisonResult, add_tests, join_flags, order_columns
from .tables import CountryTable, check_design_over, country_table, flag_small, select_countries


def _wide(rows: pd.DataFrame, over: str, keys: Sequence[str], countries: list
          ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """The (keys + term) rows and the estimates, SEs and flags as rows × countries arrays
    (countries in the given order; NaN / '' where a country lacks a row)."""
    index = [*keys, "term"]
    key = rows.groupby(index, sort=False, dropna=False).ngroup().to_numpy()
    col = pd.Index(countries).get_indexer(rows[over])
    ok = col >= 0
    k, n = int(key.max()) + 1, len(countries)
    est, se = np.full((k, n), np.nan), np.full((k, n), np.nan)
    flag = np.full((k, n), "", dtype=object)
    est[key[ok], col[ok]] = rows["estimate"].to_numpy(float)[ok]
    se[key[ok], col[ok]] = rows["std_error"].to_numpy(float)[ok]
    flag[key[ok], col[ok]] = rows["flag"].to_numpy(object)[ok]
    first = np.unique(key, return_index=True)[1]
    return rows.iloc[first][index].reset_index(drop=True), est, se, flag


def _long(values: dict[str, np.ndarray], ids: pd.DataFrame, group: np.ndarray, reference: np.ndarray) -> pd.DataFrame:
    """Rows of (row i of ``ids``, comparison j) from (rows × comparisons) arrays."""
    n_rows, n_cmp = values["estimate"].shape
    out = {c: np.repeat(ids[c].to_numpy(), n_cmp) for c in ids.columns}
    out["group"] = np.tile(group, n_rows)
    out["reference"] = np.tile(reference, n_rows)
    for k, v in values.items():
        out[k] = np.asarray(v).reshape(-1)
    return pd.DataFrame(out)


def _pairwise(table: CountryTable, rows: pd.DataFrame, countries: list) -> pd.DataFrame:
    ids, e, s, f = _wide(rows, table.over, table.keys, countries)
    n = len(countries)
    a, b = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    keep = a != b
    a, b = a[keep], b[keep]
    pair = np.minimum(a, b) * n + np.maximum(a, b)
    values = {"estimate": e[:, a] - e[:, b], "std_error": np.sqrt(s[:, a] ** 2 + s[:, b] ** 2),
              "flag": join_flags(f[:, a], f[:, b]), "pair": np.tile(pair, (len(e), 1))}
    names = np.asarray(countries, dtype=object)
    return _long(values, ids, names[a], names[b])


def _against_average(table: CountryTable, rows: pd.DataFrame, members: list, label: str) -> pd.DataFrame:
    countries = table.countries
    ids, e, s, f = _wide(rows, table.over, table.keys, countries)
    n = len(members)
    inside = np.isin(np.asarray(countries, dtype=object), np.asarray(members, dtype=object))
    avg = e[:, inside].mean(axis=1, keepdims=True)                 # composite average
    sum_sq = (s[:, inside] ** 2).sum(axis=1, keepdims=True)
    var_in = ((n - 1) / n) ** 2 * s**2 + (sum_sq - s**2) / n**2
    var_out = s**2 + sum_sq / n**2
    values = {"estimate": e - avg, "std_error": np.sqrt(np.where(inside[None, :], var_in, var_out)),
              "flag": f.astype(str), "in_average": np.broadcast_to(inside, e.shape)}
    return _long(values, ids, np.asarray(countries, dtype=object), np.full(len(countries), label, dtype=object))


def _against(table: CountryTable, rows: pd.DataFrame, references: list) -> pd.DataFrame:
    full = _pairwise(table, rows, table.countries)
    return full.loc[full["reference"].isin(references)].reset_index(drop=True)


def compare(result, over: str = "CNT", against: str | Sequence = "average", *, countries: Sequence | None = None,
            label: str = "Average", alpha: float = 0.05, adjust: str | None = None,
            min_obs: int | None = None, design=None) -> ComparisonResult:
    """Differences between countries (``group − reference``) with their tests.

    Parameters
    ----------
    result : a :class:`~lsa.DesignResult` computed with ``by=over`` (other ``by`` columns are
        kept as keys), or a dict ``{country: result}``.
    against : ``"average"`` (each country against the composite average of ``countries``),
        ``"pairwise"`` (every ordered pair of countries: the multiple-comparison table), or one
        country label / a list of them (every country against each).
    countries : the countries of the average (default all); countries outside it are compared
        with Var = SE_c² + SE_avg².
    label : the ``reference`` label of the average.
    alpha : level of the marks and intervals.
    adjust : ``None`` (default, as the reports), ``"bonferroni"``, ``"holm"`` or ``"fdr_bh"``:
        adjusted p-values in ``p_adjusted`` (one family per term; a−b and b−a count once), used
        for the marks.
    min_obs : countries with fewer observations are flagged (``flag`` column), never dropped.
    design : optionally the design the result was computed on: ``over`` is then checked to be
        constant within its replicate zones (strata) when they are built from zones, so that the
        countries are independent samples under its replicates
        (:func:`lsa.multicountry.check_constant_within_zones`).

    Returns
    -------
    ComparisonResult: ``tidy()`` columns keys, ``group``, ``reference``, ``term``, estimate,
    std_error, statistic, df (∞: normal reference), p_value, conf_low, conf_high, ``mark``
    (higher / lower / not significant), ``p_adjusted`` (with ``adjust``), ``flag``
    (and ``in_average`` against an average).

    Examples
    --------
    >>> lsa.compare(lsa.mean(design, "MATH", by="CNT"), against="pairwise").tidy()   # doctest: +SKIP
    """
    table = country_table(result, over)
    check_design_over(design, over, "compare")
    rows = table.countries_only()
    rows["flag"] = flag_small(rows, min_obs, over, "compare")
    if isinstance(against, str) and against == "average":
        members = select_countries(table, countries)
        out, kind = _against_average(table, rows, members, label), "average"
        note = f"against the composite average of {len(members)} countries"
    elif isinstance(against, str) and against == "pairwise":
        out, kind, note = _pairwise(table, rows, table.countries), "pairwise", "every pair of countries"
    else:
        refs = [against] if isinstance(against, (str, int, np.integer)) else against
        if not isinstance(refs, (list, tuple, pd.Index, np.ndarray)) or not len(refs):
            raise LsaError(f"against must be 'average', 'pairwise', a {over} value or a list of them; got {against!r}.")
        missing = [r for r in refs if r not in table.countries]
        if missing:
            raise LsaError(f"against: {missing} not among the {over} values of the result "
                           f"({table.countries[:10]}); use 'average', 'pairwise' or a country.")
        out, kind, note = _against(table, rows, list(refs)), "reference", f"against {list(refs)}"
    out = add_tests(out, [*table.keys, "term"], alpha, adjust)
    note = (f"{table.statistic}: {note}; independent samples, Var = sum of the countries' sampling variances; "
            f"normal reference" + (f"; p-values adjusted ({adjust}) per term" if adjust else ""))
    out = order_columns(out, [*table.keys, "group", "reference"], ["mark", "p_adjusted", "flag", "in_average"])
    return ComparisonResult(kind, table.statistic, out, note, alpha, adjust)
