"""Per-country rows of one statistic, read from design-based results.

:func:`lsa.average`, :func:`lsa.compare` and :func:`lsa.trend` work on estimates and standard
errors only: national samples are independent, so every quantity they need is a closed form in
the per-country (estimate, SE) pairs (OECD 2009, *PISA Data Analysis Manual*, ch. 11; IEA
TIMSS/PIRLS methods chapters). This module turns their input into one table:

* a :class:`~lsa.DesignResult` computed with ``by=over`` (e.g. ``by="CNT"``; more ``by``
  columns become extra keys, so ``by=["CNT", "gender"]`` averages per gender);
* or a mapping ``{country: DesignResult}`` (results of one-country designs), whose labels
  become the ``over`` column;
* or a list of results that each hold the ``over`` column.

Results that differ in their statistic, plausible-value set, number of PVs or terms are an
error, never a silent mix. Rows of an average added by :func:`lsa.average` carry
``n_countries`` and are not countries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..design import SurveyDesign
from ..errors import LsaError, MissingDataWarning, warn
from ..estimators import DesignResult
from ..multicountry import check_constant_within_zones
from ..validation import check_columns_exist, check_name, check_number

#: rows added by lsa.average carry the number of countries averaged in this column
AVERAGE_COLUMN = "n_countries"


@dataclass(frozen=True)
class CountryTable:
    """One statistic by country.

    rows : DataFrame with the ``over`` column, the ``keys``, ``term``, ``estimate``,
        ``std_error``, ``df``, ``n_obs`` (NaN when unknown), ``flag`` ('' = none) and the
        result's other columns.
    over : the country column; keys : other identifying columns; statistic, n_pvs,
    variables : what was estimated (checked to agree across countries);
    source : the DesignResult the table came from (None for a mapping of results).
    """

    rows: pd.DataFrame
    over: str
    keys: tuple[str, ...]
    statistic: str
    n_pvs: int
    variables: tuple
    source: DesignResult | None

    @property
    def countries(self) -> list:
        """Country labels in their order of first appearance (averages excluded)."""
        return list(dict.fromkeys(self.rows.loc[~self.is_average, self.over]))

    @property
    def is_average(self) -> np.ndarray:
        col = self.rows.get(AVERAGE_COLUMN)
        return np.zeros(len(self.rows), bool) if col is None else col.notna().to_numpy()

    def countries_only(self) -> pd.DataFrame:
        return self.rows.loc[~self.is_average].reset_index(drop=True)


def identifying_columns(result: DesignResult) -> list[str]:
    """The ``by`` columns of a result: the columns before ``term``."""
    cols = list(result.table.columns)
    return cols[: cols.index("term")] if "term" in cols else []


def _check_result(result: Any, argument: str) -> DesignResult:
    if not isinstance(result, DesignResult):
        raise LsaError(f"{argument} must be a result of a design-based estimator (lsa.mean, lsa.percentages, "
                       f"lsa.lm, ... with by=<country column>), a dict {{country: result}} or a list of such "
                       f"results; got {type(result).__name__}.")
    return result


def _variables(table: pd.DataFrame) -> tuple:
    return tuple(dict.fromkeys(table["variable"])) if "variable" in table.columns else ()


def _same_kind(results: Mapping[Any, DesignResult], argument: str) -> None:
    """Every result estimates the same statistic of the same PV set with the same terms."""
    items = list(results.items())
    label0, first = items[0]
    terms0 = list(dict.fromkeys(first.table["term"]))
    for label, r in items[1:]:
        what = None
        if r.statistic != first.statistic:
            what = f"statistic {r.statistic!r} against {first.statistic!r}"
        elif _variables(r.table) != _variables(first.table):
            what = f"variables {list(_variables(r.table))} against {list(_variables(first.table))}"
        elif r.n_pvs != first.n_pvs:
            what = f"{r.n_pvs} plausible values against {first.n_pvs}"
        elif list(dict.fromkeys(r.table["term"])) != terms0:
            what = f"terms {list(dict.fromkeys(r.table['term']))} against {terms0}"
        if what:
            raise LsaError(f"{argument}: the result for {label!r} is not comparable with the one for {label0!r}: "
                           f"{what}. Compare results of the same estimator, variable and terms.")


def country_table(result: Any, over: str = "CNT", argument: str = "result") -> CountryTable:
    """The per-country rows of ``result`` (see the module docstring)."""
    check_name(over, "over")
    if isinstance(result, Mapping):
        if not result:
            raise LsaError(f"{argument} is an empty mapping; give {{country: result}} for two or more countries.")
        results = {k: _check_result(v, f"{argument}[{k!r}]") for k, v in result.items()}
        _same_kind(results, argument)
        parts = []
        for label, r in results.items():
            t = r.tidy()
            if over in t.columns:
                raise LsaError(f"{argument}[{label!r}] already has a column {over!r}; give either one result with "
                               f"by={over!r} or a mapping of one-country results.")
            parts.append(t.assign(**{over: label}))
        rows = pd.concat(parts, ignore_index=True)
        rows = rows[[over] + [c for c in rows.columns if c != over]]
        first = next(iter(results.values()))
        keys = [over] + identifying_columns(first)
        source = None
    elif isinstance(result, (list, tuple)):
        if not result:
            raise LsaError(f"{argument} is an empty list; give results that hold the column {over!r}.")
        results = {i: _check_result(r, f"{argument}[{i}]") for i, r in enumerate(result)}
        _same_kind(results, argument)
        for i, r in results.items():
            if over not in r.table.columns:
                raise LsaError(f"{argument}[{i}] has no column {over!r} (its groups: {identifying_columns(r)}); "
                               f"give a dict {{country: result}} instead, or compute it with by={over!r}.")
        rows = pd.concat([r.tidy() for r in results.values()], ignore_index=True)
        first, source, keys = results[0], None, identifying_columns(results[0])
    else:
        first = source = _check_result(result, argument)
        rows, keys = result.tidy(), identifying_columns(result)
        if over not in keys:
            raise LsaError(f"over={over!r} is not a group of this result (its by columns: {keys or 'none'}); "
                           f"compute the statistic with by={over!r}, or give a dict {{country: result}}.")
    if rows.duplicated([*keys, "term"]).any():
        dup = rows.loc[rows.duplicated([*keys, "term"]), [*keys, "term"]].head(3).to_dict("records")
        raise LsaError(f"{argument}: a country appears more than once for the same term (e.g. {dup}).")
    rows = rows.reset_index(drop=True)
    if "n_obs" not in rows.columns:
        rows["n_obs"] = np.nan
    rows["flag"] = rows["flag"].fillna("").astype(str) if "flag" in rows.columns else ""
    return CountryTable(rows, over, tuple(k for k in keys if k != over), first.statistic, first.n_pvs,
                        _variables(first.table), source)


def check_design_over(design: Any, over: str, what: str) -> None:
    """``design`` (when given) is a :class:`~lsa.SurveyDesign` that has the column ``over`` and,
    when its replicates are built from zones (``JKZONE``/``JKREP``: the design knows its strata),
    under whose replicates the groups of ``over`` are independent samples: every replicate perturbs
    rows of one ``over`` value only (:func:`lsa.multicountry.check_constant_within_zones`);
    otherwise a pooled estimate over the countries, or a difference between them, would mix their
    replicates. Shipped replicate-weight columns carry no strata (a PISA pooled file's column r is
    replicate r of every country, the layout its pooled OECD estimates use), so for them only the
    column is checked."""
    if design is None:
        return
    if not isinstance(design, SurveyDesign):
        raise LsaError(f"{what}: design must be the SurveyDesign of the countries (or None); got "
                       f"{type(design).__name__}.")
    check_columns_exist(design.data, [over], "over")
    if design.replicates is not None and design.replicates.zone is not None:
        check_constant_within_zones(design, over, "over")


def select_countries(table: CountryTable, countries: Sequence | None, argument: str = "countries") -> list:
    """The countries of an average: all (None) or the given ones, each present in the table."""
    present = table.countries
    if countries is None:
        chosen = present
    else:
        if isinstance(countries, (str, bytes)) or not isinstance(countries, (list, tuple, set, pd.Index, np.ndarray)):
            raise LsaError(f"{argument} must be a list of {table.over} values; got {countries!r}.")
        chosen = list(dict.fromkeys(countries))
        missing = [c for c in chosen if c not in present]
        if missing:
            raise LsaError(f"{argument}: {missing} not among the {table.over} values of the result "
                           f"({present[:10]}{' ...' if len(present) > 10 else ''}).")
    if len(chosen) < 2:
        raise LsaError(f"{argument}: an average needs at least two countries; got {chosen}.")
    return chosen


def flag_small(rows: pd.DataFrame, min_obs: int | None, over: str, what: str) -> pd.Series:
    """The ``flag`` column, with 'n < min_obs' added where a country has fewer observations than
    ``min_obs``; flagged countries are kept (never dropped) and named in one warning."""
    flag = rows["flag"].astype(str)
    if min_obs is None:
        return flag
    check_number(min_obs, "min_obs", low=0, integer=True)
    small = rows["n_obs"].to_numpy(dtype=float) < min_obs
    if small.any():
        note = f"n < {min_obs}"
        flag = flag.where(~small, flag.where(flag == "", flag + "; ") + note)
        names = list(dict.fromkeys(rows.loc[small, over]))
        warn(f"{what}: {names} have fewer than {min_obs} observations for some terms; they are kept and "
             f"flagged ({note!r} in the flag column).", MissingDataWarning)
    return flag
