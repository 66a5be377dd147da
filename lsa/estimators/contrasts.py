"""Contrasts within one sample: group differences of any statistic, linear combinations of the
terms of a result and k-group Wald tests, with the replicate covariance of the groups.

Two groups a and b of the same sample are measured with the same replicate weights, so their
estimates are correlated (a school with students in both groups, a replicate zone that holds
both). The difference is therefore formed per PV m and replicate r, Δ_mr = θ_b,mr − θ_a,mr, and
its variance is the replicate variance of those differences,

    V_m(θ_b − θ_a) = c Σ_r (Δ_mr − Δ_m0)²  =  V_m(θ_a) + V_m(θ_b) − 2 C_m(θ_a, θ_b),

pooled over PVs by Rubin's rules (:mod:`lsa.pooling`). This is ``survey::svycontrast`` on
``svyby(..., covmat = TRUE)`` of a replicate design, per PV, combined by ``mitools::MIcombine``
(Lumley 2010, 3.4; OECD 2009, PISA Data Analysis Manual, ch. 11 and 12).

The k-group test of θ_1 = … = θ_k forms the k − 1 differences to the first group in the same
way and pools the Wald statistic over PVs by the D1 rule (Li, Raghunathan & Rubin 1991; mitml's
``testModels(method = "D1")``).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..design import SurveyDesign
from ..errors import DesignError, FormulaError
from ..multicountry import group_weights
from ..results import WaldTest
from ..validation import check_choice, check_name, check_names, has_column, reads_named_columns
from ._core import DesignResult, DfMethod, Draws, GroupDraws, as_list, by_groups, over_completed, run_by_groups
from .descriptive import DEFAULT_PROBS, benchmarks, correlation, mean, percentages, quantiles, sd
from .regression import lm, logit

STATISTICS = {"mean": mean, "sd": sd, "percentages": percentages, "quantiles": quantiles,
              "benchmarks": benchmarks, "correlation": correlation, "lm": lm, "logit": logit}
NAMES = {"mean": "mean", "sd": "standard deviation", "percentages": "percentages", "quantiles": "quantiles",
         "benchmarks": "benchmark percentages", "correlation": "correlation", "lm": "linear regression",
         "logit": "logistic regression"}


@over_completed
@reads_named_columns
def gap(design: SurveyDesign, variable: str | Sequence[str], between: str, groups: Sequence | None = None, by=None,
        *, statistic: str = "mean", probs: Sequence[float] | None = None, cuts: Sequence[float] | None = None,
        labels: Sequence[str] | None = None, cumulative: bool | None = None,
        df_method: DfMethod = "barnard_rubin") -> DesignResult:
    """Difference of a statistic between two groups of ``between`` (second minus first).

    ``statistic`` is ``"mean"`` (default), ``"sd"``, ``"percentages"``, ``"quantiles"``
    (``probs=``), ``"benchmarks"`` (``cuts=``, ``labels=``, ``cumulative=``), ``"correlation"``
    (``variable`` a list of variables), ``"lm"`` or ``"logit"`` (``variable`` the formula). The
    estimator runs in each group with the same replicate weights, and the difference is formed
    per PV and replicate, so its variance includes the covariance of the groups:
    V(θ_b − θ_a) = c Σ_r (Δ_r − Δ)², then Rubin's rules (module docstring).

    Returns, per ``by`` group, every term of the statistic in group a, in group b and b − a:
    for a one-term statistic the terms are ``a``, ``b`` and ``"b - a"``; otherwise
    ``"a: term"``, ``"b: term"`` and ``"b - a: term"``.

    Examples
    --------
    >>> lsa.gap(design, "MATH", between="gender").tidy()                          # doctest: +SKIP
    >>> lsa.gap(design, "MATH", between="gender", statistic="quantiles", probs=[0.1, 0.9])  # doctest: +SKIP
    """
    levels = _levels(design, between, by)
    if groups is None:
        if len(levels) != 2:
            raise DesignError(f"{between!r} has {len(levels)} groups {levels}; name the two to compare with "
                              f"groups=(a, b).")
        groups = levels
    groups = _as_groups(groups)
    if len(groups) != 2 or any(g not in levels for g in groups) or groups[0] == groups[1]:
        raise DesignError(f"groups must be two values of {between!r} among {levels}; got {groups}.")
    options = _options(statistic, variable, probs, cuts, labels, cumulative)
    return _differences(design, variable, between, groups, by, statistic, options, df_method)[0]


def group_wald_test(design: SurveyDesign, variable: str | Sequence[str], between: str,
                    groups: Sequence | None = None, *, statistic: str = "mean", terms: Sequence[str] | None = None,
                    probs: Sequence[float] | None = None, cuts: Sequence[float] | None = None,
                    labels: Sequence[str] | None = None, cumulative: bool | None = None,
                    df_method: DfMethod = "barnard_rubin") -> WaldTest:
    """Wald test that a statistic is equal in k groups of ``between`` (all its groups by default).

    H0: θ_1 = θ_2 = … = θ_k for each chosen term of the statistic (``terms``; all by default),
    tested jointly through the (k − 1) · t differences θ_g − θ_1, each formed per PV and
    replicate (:func:`gap`). Over PVs the test is D1 (Li, Raghunathan & Rubin 1991,
    :func:`lsa.pooling.wald_d1`; mitml's ``testModels(method = "D1")``), with one PV the F test
    on (q, design df) df (``survey::regTermTest``). Returns :class:`lsa.results.WaldTest`.

    Examples
    --------
    >>> lsa.group_wald_test(design, "MATH", between="school_type")              # doctest: +SKIP
    """
    levels = _levels(design, between, None)
    groups = levels if groups is None else _as_groups(groups)
    if len(groups) < 2 or any(g not in levels for g in groups) or len(set(map(str, groups))) != len(groups):
        raise DesignError(f"groups must be two or more distinct values of {between!r} among {levels}; got {groups}.")
    options = _options(statistic, variable, probs, cuts, labels, cumulative)
    result, base = _differences(design, variable, between, groups, None, statistic, options, df_method)
    chosen = base if terms is None else check_names(terms, "terms")
    unknown = [t for t in chosen if t not in base]
    if unknown:
        raise DesignError(f"terms: {unknown} are not terms of the {NAMES[statistic]}; its terms are {base}.")
    differences = result.groups[0].terms[len(groups) * len(base):]                # (k − 1) blocks of the terms
    return result.wald_test([n for i, n in enumerate(differences) if base[i % len(base)] in chosen])


def contrast(result: DesignResult, weights: Any, names: Sequence[str] | None = None) -> DesignResult:
    """Linear combinations of the terms of one result, in every ``by`` group:
    :meth:`lsa.DesignResult.contrast` (each formed per PV and replicate, so the variance is exact).

    ``weights``: ``{term: weight}``, ``{name: {term: weight}}``, a vector with one weight per term
    or a matrix with one row per combination.

    Examples
    --------
    >>> r = lsa.quantiles(design, "MATH", probs=[0.1, 0.9])
    >>> lsa.contrast(r, {"p90": 1, "p10": -1}).tidy()                              # doctest: +SKIP
    """
    if not isinstance(result, DesignResult):
        raise DesignError(f"result must be the result of a design-based estimator (lsa.mean, lsa.lm, ...); got "
                          f"{type(result).__name__}.")
    return result.contrast(weights, names)


# -- the pieces -----------------------------------------------------------------------------------
def _as_groups(groups) -> list:
    return list(groups) if isinstance(groups, (list, tuple, np.ndarray, pd.Index)) else [groups]


def _levels(design: SurveyDesign, between: Any, by) -> list:
    """The groups of ``between`` present in the domain (``between`` checked)."""
    if not isinstance(between, str) or not has_column(design.data, between):
        raise DesignError(f"between must name a column of the data (the grouping variable); got {between!r}.")
    if between in as_list(by):
        raise DesignError(f"between ({between!r}) cannot also be a by= column; got by={by!r}.")
    return [g[between] for g, _ in by_groups(design, between)]


def _options(statistic: Any, variable: Any, probs, cuts, labels, cumulative) -> dict:
    """The estimator's options, each refused where the statistic has no use for it."""
    check_choice(statistic, list(STATISTICS), "statistic")
    is_formula = isinstance(variable, str) and "~" in variable
    if statistic in ("lm", "logit") and not is_formula:
        raise FormulaError(f"variable: statistic={statistic!r} needs a formula such as 'MATH ~ escs' as variable; "
                           f"got {variable!r}.")
    if statistic not in ("lm", "logit") and is_formula:
        raise FormulaError(f"variable: a formula ({variable!r}) is for statistic='lm' or 'logit'; got "
                           f"statistic={statistic!r}.")
    if statistic == "correlation":
        if len(check_names(variable, "variable")) < 2:
            raise DesignError(f"variable: statistic='correlation' needs a list of two or more variables; got "
                              f"{variable!r}.")
    elif not is_formula:
        check_name(variable, "variable")
    given = {"probs": probs, "cuts": cuts, "labels": labels, "cumulative": cumulative}
    owner = {"probs": "quantiles", "cuts": "benchmarks", "labels": "benchmarks", "cumulative": "benchmarks"}
    for name, value in given.items():
        if value is not None and owner[name] != statistic:
            raise DesignError(f"{name}= is an option of statistic={owner[name]!r}; got statistic={statistic!r}.")
    if statistic == "quantiles":
        return {"probs": DEFAULT_PROBS if probs is None else probs}
    if statistic == "benchmarks":
        return {"cuts": cuts, "labels": labels, "cumulative": bool(cumulative) if cumulative is not None else False}
    return {}


def _term_names(groups: list, base: list[str]) -> list[str]:
    """Group g's terms, then each g − first: ``a``, ``b``, ``"b - a"`` for a one-term statistic,
    ``"a: t"``, ``"b: t"``, ``"b - a: t"`` otherwise."""
    sides = [str(g) for g in groups] + [f"{g} - {groups[0]}" for g in groups[1:]]
    if len(base) == 1:
        return sides
    return [f"{s}: {t}" for s in sides for t in base]


def _differences(design: SurveyDesign, variable, between: str, groups: list, by, statistic: str, options: dict,
                 df_method: DfMethod) -> tuple[DesignResult, list[str]]:
    """The statistic in each group and each group minus the first, per ``by`` group, and the
    statistic's own terms.

    The estimator runs once with ``by = [*by, between]`` on the rows of the chosen groups; its
    replicate draws θ (M, 1 + R, t) of the groups are stacked as [θ_1, …, θ_k, θ_2 − θ_1, …]
    and pooled as any statistic (replicate variance per PV, then Rubin's rules)."""
    by_cols = check_names(by, "by") if by is not None else []
    col = design.data[between]
    sub = design.subset(col.isin(groups).to_numpy())
    result = STATISTICS[statistic](sub, variable, by=[*by_cols, between], df_method=df_method, **options)
    found = {tuple(g.labels.values()): g for g in result.groups}
    base = result.groups[0].terms
    terms = _term_names(groups, base)
    draws = []
    for labels, mask in by_groups(sub, by_cols or None):
        parts = [found.get(tuple(labels.values()) + (g,)) for g in groups]
        draws.append(_stack(parts, result.groups[0], terms, _base_df(sub, mask, col, groups, parts)))
    pending = iter(draws)
    what = variable if isinstance(variable, str) else ", ".join(variable)
    title = f"Gap in {NAMES[statistic]} of {what} by {between}"
    # run_by_groups visits by_groups(sub, by) in the order used above: each call takes the next
    return run_by_groups(sub, by_cols or None, lambda w: next(pending), statistic=title, df_method=df_method), base


def _base_df(design: SurveyDesign, mask: np.ndarray, col: pd.Series, groups: list, parts: list) -> float:
    """The complete-data df of the estimator before its per-group df rule: in a design nested
    within countries, a group's df is that of its countries (:func:`lsa.multicountry.group_weights`);
    :func:`run_by_groups` applies the rule again to the ``by`` group of the difference."""
    present = [(g, p) for g, p in zip(groups, parts) if p is not None]
    if not present:
        return design.df
    g, part = present[0]
    if not getattr(design.replicates, "nested", False):
        return part.df_complete
    return part.df_complete - (group_weights(design, mask & (col == g).to_numpy()).df - design.df)


def _stack(parts: list[GroupDraws | None], template: GroupDraws, terms: list[str], df: float) -> Draws:
    """Draws of [θ_1, …, θ_k, θ_2 − θ_1, …] from the groups' draws (a group absent from a ``by``
    group gives NaN: reported as undefined), with complete-data df ``df`` (:func:`_base_df`)."""
    nan = np.full_like(template.theta, np.nan)
    thetas = [nan if p is None else p.theta for p in parts]
    theta = np.concatenate(thetas + [t - thetas[0] for t in thetas[1:]], axis=-1)
    zero = np.zeros(len(template.terms), dtype=int)
    n_obs = [zero if p is None else np.asarray(p.n_obs) for p in parts]
    n_miss = [zero if p is None else np.asarray(p.n_missing) for p in parts]
    extra = {}
    for key in template.extra:
        values = [list((p or template).extra[key]) for p in parts]
        extra[key] = sum(values, []) + sum(([_joint(key, a, b) for a, b in zip(values[0], v)] for v in values[1:]), [])
    infl = None
    if all(p is not None and p.influence is not None for p in parts):      # Taylor: the same stacking
        zs = [p.influence for p in parts]
        infl = np.concatenate(zs + [z - zs[0] for z in zs[1:]], axis=-1)
    return Draws(theta, terms, np.concatenate(n_obs + [n_obs[0] + n for n in n_obs[1:]]),
                 np.concatenate(n_miss + [n_miss[0] + n for n in n_miss[1:]]), df, extra, infl)


def _joint(key: str, a, b):
    """An extra column's value for a difference: the shared value, or for a flag the flag of
    either side (``converged``: both sides)."""
    if isinstance(a, (bool, np.bool_)) and isinstance(b, (bool, np.bool_)):
        return bool(a and b) if key == "converged" else bool(a or b)
    return a if a == b else None
