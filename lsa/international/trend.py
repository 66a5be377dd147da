"""Differences between cycles with the linking error (:func:`trend`).

Two cycles are independent samples linked through common items; the uncertainty of the link
adds a linking error LE to every statistic on the PV scale (OECD 2019, *PISA 2018 Results,
Volume I*, Annex A7; OECD 2009, *PISA Data Analysis Manual* 2nd ed., ch. 13):

    Δ = θ_now − θ_then,      SE(Δ) = √(SE_now² + SE_then² + LE²).

Which terms get the linking error of the PV scale (a number, or the dictionary's value):

* location statistics on the PV scale — means, percentiles (``Quantiles``), the two group means
  of :func:`lsa.gap` — get LE;
* a within-cycle difference (the ``b - a`` term of :func:`lsa.gap`) gets none: both groups are
  shifted by the same link, so it cancels (gap trends: SE = √(SE_gap,now² + SE_gap,then²));
* other statistics (percentages at benchmarks, SDs, correlations, regression coefficients) do
  not have a PV-scale LE: give theirs per term (``linking_error={term: value}``) or ``0``.
  For percentages at benchmarks :func:`benchmark_linking_error` gives the normal approximation
  described there (unverified: the method PISA documents was not read).

Linking errors published by a study are in its dictionary, key ``linking_errors`` (PISA:
``lsa/data_dictionaries/pisa.yaml``), each with its source or an ``unverified`` mark; a user
can always give their own.
"""

from __future__ import annotations

from numbers import Real
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..dictionaries import study_doc
from ..dictionary_yaml import normalize_study
from ..errors import LsaError, LsaWarning, MissingDataWarning, StudyError, warn
from ..validation import check_number, check_numbers
from .result import ComparisonResult, add_tests, join_flags, order_columns
from .tables import country_table

LOCATION = ("Mean", "Quantiles", "User statistic")


def linking_error(study: str, domain: str, cycles: Sequence) -> tuple[float, bool, str]:
    """(value, unverified, source) of the linking error between two cycles of a study's domain,
    from the dictionary key ``linking_errors``; cycles in either order."""
    key = normalize_study(study)
    table = study_doc(key)["meta"].get("linking_errors") or {}
    where = f"lsa/data_dictionaries/{key}.yaml (key linking_errors)"
    if not isinstance(cycles, (list, tuple)) or len(cycles) != 2:
        raise LsaError(f"cycles must be a pair (now, then), e.g. (2018, 2015); got {cycles!r}.")
    a, b = sorted(str(c) for c in cycles)
    values = (table.get("values") or {}).get(str(domain).upper())
    entry = (values or {}).get(f"{a}-{b}")
    if entry is None:
        known = sorted(values) if values else sorted(table.get("values") or {})
        raise StudyError(f"no linking error for {study} {domain} between {a} and {b} in {where} (it has "
                         f"{'pairs ' + str(known) if values else 'domains ' + str(known)}). Give one with "
                         f"linking_error=<number> (or {{term: value}}), or add it to the dictionary.")
    if isinstance(entry, Mapping):
        return float(entry["value"]), bool(entry.get("unverified", False)), str(entry.get("source", table.get("source", "")))
    return float(entry), bool(table.get("unverified", False)), str(table.get("source", ""))


def benchmark_linking_error(linking_error: float, cuts: Sequence[float], mean: float, sd: float, *,
                            cumulative: bool = False) -> np.ndarray:
    """Linking errors (in percentage points) of the percentages at benchmarks, normal approximation.

    A shift of the scale by δ moves the share at or above a cut c by 100·φ((c − μ)/σ)/σ · δ,
    with μ, σ the country's mean and SD, so LE_{≥c} = 100 φ(z_c) LE / σ; a level between c_l and
    c_u has LE = 100 |φ(z_l) − φ(z_u)| LE / σ. Returns one value per term of
    :func:`lsa.benchmarks` (``cumulative``: one per cut; else below the first cut, the levels, at
    or above the last). **Unverified**: the delta method for a scale shift, not the procedure of
    the PISA technical reports (which were not read for this).
    """
    le = check_number(linking_error, "linking_error", low=0)
    c = np.asarray(check_numbers(cuts, "cuts"), dtype=float)
    check_number(sd, "sd", low=0, low_open=True)
    check_number(mean, "mean")
    dens = stats.norm.pdf((c - mean) / sd) / sd
    if cumulative:
        return 100 * dens * le
    bounds = np.concatenate([[0.0], dens, [0.0]])
    return 100 * np.abs(bounds[1:] - bounds[:-1]) * le


def _is_gap_difference(statistic: str, term: str) -> bool:
    return statistic.startswith("Gap") and " - " in str(term)


def _linking_errors(rows: pd.DataFrame, keys: list[str], statistic: str, linking_error: Any,
                    scale_le: float | None) -> np.ndarray:
    """One linking error per row (see the module docstring)."""
    if isinstance(linking_error, (Mapping, pd.Series)):
        given = dict(linking_error.items())
        out = []
        for _, r in rows.iterrows():
            full = tuple(r[k] for k in keys) + (r["term"],)
            value = given.get(full, given.get(r["term"], given.get(full[0] if keys else None)))
            if value is None:
                raise LsaError(f"linking_error has no value for term {r['term']!r}"
                               f"{' of ' + str(full[:-1]) if keys else ''}; give one per term (0 where none applies).")
            out.append(check_number(value, f"linking_error[{r['term']!r}]", low=0))
        return np.asarray(out, dtype=float)
    le = float(scale_le)
    location = statistic in LOCATION or statistic.startswith("Gap")
    if le != 0 and not location:
        raise LsaError(f"trend: a linking error of the PV scale ({le:g}) does not apply to {statistic!r}; give one "
                       f"per term with linking_error={{term: value}} (lsa.benchmark_linking_error for percentages "
                       f"at benchmarks), or linking_error=0.")
    return np.array([0.0 if _is_gap_difference(statistic, t) else le for t in rows["term"]])


def _check_same(t_now, t_then) -> None:
    if t_now.statistic != t_then.statistic:
        raise LsaError(f"trend: result_now is {t_now.statistic!r} and result_then {t_then.statistic!r}; "
                       f"compare the same statistic.")
    if t_now.variables != t_then.variables:
        raise LsaError(f"trend: result_now is of {list(t_now.variables)} and result_then of "
                       f"{list(t_then.variables)}; compare the same plausible-value set or variable.")
    if list(dict.fromkeys(t_now.rows["term"])) != list(dict.fromkeys(t_then.rows["term"])):
        raise LsaError(f"trend: the terms differ: result_now {list(dict.fromkeys(t_now.rows['term']))}, result_then "
                       f"{list(dict.fromkeys(t_then.rows['term']))}.")
    if t_now.keys != t_then.keys:
        raise LsaError(f"trend: the results are grouped differently ({list(t_now.keys)} against {list(t_then.keys)}).")


def trend(result_now, result_then, *, linking_error: float | Mapping | pd.Series | None = None,
          study: str | None = None, domain: str | None = None, cycles: Sequence | None = None,
          over: str = "CNT", alpha: float = 0.05, adjust: str | None = None) -> ComparisonResult:
    """Change between two cycles, ``now − then``, per country and term.

    Parameters
    ----------
    result_now, result_then : results of the same estimator, variable and terms (``by=over`` or
        dicts ``{country: result}``; rows added by :func:`lsa.average` are compared too).
    linking_error : a number (the PV scale's LE, applied to location terms, 0 for within-cycle
        differences), ``{term: value}`` or ``{(country, term): value}``. ``None``: looked up in
        the dictionary of ``study`` for ``domain`` (default: the results' PV set) and
        ``cycles = (now, then)``; a missing entry is an error that says where to give one.
    alpha, adjust : as :func:`lsa.compare` (adjustment per term over countries).

    Returns
    -------
    ComparisonResult with ``group`` = country, ``reference`` = the earlier cycle, columns
    ``estimate_now``, ``estimate_then``, ``std_error_now``, ``std_error_then``,
    ``linking_error`` and ``mark``.
    """
    t_now, t_then = country_table(result_now, over, "result_now"), country_table(result_then, over, "result_then")
    _check_same(t_now, t_then)
    keys = [over, *t_now.keys]
    source, unverified = "given", False
    if linking_error is None:
        if study is None or cycles is None:
            raise LsaError("trend: give linking_error= (a number or {term: value}), or study= and cycles=(now, then) "
                           "to take it from the study dictionary.")
        dom = domain or (t_now.variables[0] if len(t_now.variables) == 1 else None)
        if dom is None:
            raise LsaError(f"trend: give domain= (the results hold {list(t_now.variables)}).")
        scale_le, unverified, source = linking_error_lookup(study, dom, cycles)
        if unverified:
            warn(f"trend: the linking error {scale_le:g} for {study} {dom} {tuple(cycles)} is marked unverified in "
                 f"the dictionary; check it against {source or 'the study report'}.", LsaWarning)
    elif isinstance(linking_error, Real) and not isinstance(linking_error, bool):
        scale_le = check_number(linking_error, "linking_error", low=0)
    elif isinstance(linking_error, (Mapping, pd.Series)):
        scale_le = None
    else:
        raise LsaError(f"linking_error must be a number, a {{term: value}} mapping or None; got {linking_error!r}.")
    merged = t_now.rows.merge(t_then.rows, on=[*keys, "term"], how="outer", suffixes=("_now", "_then"),
                              indicator=True, sort=False)
    alone = merged.loc[merged["_merge"] != "both"]
    if len(alone):
        only_now = alone.loc[alone["_merge"] == "left_only", over].unique().tolist()
        only_then = alone.loc[alone["_merge"] == "right_only", over].unique().tolist()
        warn(f"trend: {over} values in one cycle only are left out of the trend table: only now {only_now}, "
             f"only then {only_then}.", MissingDataWarning)
    merged = merged.loc[merged["_merge"] == "both"].reset_index(drop=True)
    if not len(merged):
        raise LsaError(f"trend: result_now and result_then have no {over} value in common.")
    le = _linking_errors(merged, keys, t_now.statistic, linking_error if scale_le is None else None, scale_le)
    se_now, se_then = merged["std_error_now"].to_numpy(float), merged["std_error_then"].to_numpy(float)
    out = merged[[*keys, "term"]].rename(columns={over: "group"})
    out["reference"] = str(cycles[1]) if cycles is not None else "then"
    out["estimate"] = merged["estimate_now"].to_numpy(float) - merged["estimate_then"].to_numpy(float)
    out["std_error"] = np.sqrt(se_now**2 + se_then**2 + le**2)
    out["linking_error"] = le
    for c in ("estimate_now", "estimate_then", "std_error_now", "std_error_then"):
        out[c] = merged[c].to_numpy(float)
    out["flag"] = join_flags(merged["flag_now"].fillna(""), merged["flag_then"].fillna(""))
    out = add_tests(out, [*t_now.keys, "term"], alpha, adjust)
    note = (f"{t_now.statistic}: now − then; SE = √(SE_now² + SE_then² + LE²), linking error {source}"
            f"{' (unverified)' if unverified else ''}; normal reference")
    ids = [*t_now.keys, "group", "reference"]
    out = order_columns(out, ids, ["mark", "p_adjusted", "linking_error", "estimate_now", "estimate_then"])
    return ComparisonResult("trend", t_now.statistic, out, note, alpha, adjust)


def linking_error_lookup(study: str, domain: str, cycles: Sequence) -> tuple[float, bool, str]:
    """:func:`linking_error` with the study name checked."""
    if not isinstance(study, str):
        raise LsaError(f"study must be a study name such as 'pisa'; got {study!r}.")
    return linking_error(study, domain, cycles)


__all__ = ["benchmark_linking_error", "linking_error", "trend"]
