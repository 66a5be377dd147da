"""Caterpillar plot of random-effect predictions with their intervals (matplotlib, optional).

One panel per grouping factor and random-effect term: the groups sorted by their predicted
effect b̂_g, a point at b̂_g and a horizontal interval b̂_g ∓ z_{1−α/2}·SE_g with the posterior
SD as SE (:mod:`lsa.mixed.ranef`; lme4's ``dotplot(ranef(fit, condVar = TRUE))``). The normal
quantile makes these pointwise intervals for each group, not simultaneous ones.

Input: a tidy table with the columns ``group``, ``level``, ``term``, ``estimate``,
``std_error`` (``MixedResult.random_effects()``, or a GLMM result's) or any result with a
``random_effects()`` method. matplotlib is imported only when a plot is drawn; install it
with ``pip install "lsa[plot]"``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.stats

from lsa.errors import LsaError
from lsa.mixed.ranef import RANEF_COLUMNS
from lsa.validation import check_number

__all__ = ["plot_caterpillar", "caterpillar_table"]


def caterpillar_table(table_or_result) -> pd.DataFrame:
    """The tidy random-effects table of a result (its ``random_effects()``) or of a table,
    checked for the columns :data:`lsa.mixed.ranef.RANEF_COLUMNS`."""
    obj = table_or_result
    if not isinstance(obj, pd.DataFrame):
        if not callable(getattr(obj, "random_effects", None)):
            raise LsaError(f"plot_caterpillar needs a random-effects table (columns {list(RANEF_COLUMNS)}) or "
                           f"a fit with a random_effects() method; got {type(obj).__name__}")
        obj = obj.random_effects()
    missing = [c for c in RANEF_COLUMNS if c not in obj.columns]
    if missing:
        raise LsaError(f"plot_caterpillar: the table lacks the column(s) {missing}; it needs {list(RANEF_COLUMNS)}")
    return obj


def _select(tab: pd.DataFrame, column: str, value) -> pd.DataFrame:
    if value is None:
        return tab
    values = [value] if isinstance(value, str) else list(value)
    unknown = [v for v in values if v not in set(tab[column])]
    if unknown:
        raise LsaError(f"plot_caterpillar: {column}={unknown} not in the table; it has {sorted(set(tab[column]))}")
    return tab[tab[column].isin(values)]


def plot_caterpillar(table_or_result, *, group=None, term=None, alpha: float = 0.05, sort: bool = True,
                     ax=None):
    """Draw the caterpillar plot (module docstring); returns the matplotlib Figure.

    ``group`` / ``term``: a name or list of names to keep (default: every grouping factor and
    term, one panel each, stacked vertically). ``alpha``: intervals at 1 − alpha. ``sort``: order
    the groups by their estimate. ``ax``: an existing Axes to draw into (one panel only).
    """
    check_number(alpha, "alpha", low=0, high=1, low_open=True, high_open=True)
    if not isinstance(sort, (bool, np.bool_)):
        raise LsaError(f"sort must be True or False; got {sort!r}")
    tab = _select(_select(caterpillar_table(table_or_result), "group", group), "term", term)
    panels = list(dict.fromkeys(zip(tab["group"], tab["term"])))
    if ax is not None and len(panels) != 1:
        raise LsaError(f"plot_caterpillar(ax=...) draws one panel; the selection has {len(panels)} "
                       f"(group, term) pairs {panels}: choose one with group= and term=")
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise LsaError('plot_caterpillar needs matplotlib: pip install "lsa[plot]"') from None
    if ax is None:
        fig, axes = plt.subplots(len(panels), 1, squeeze=False, figsize=(6, 2.5 + 2.5 * len(panels)))
        axes = axes[:, 0]
    else:
        fig, axes = ax.figure, [ax]
    z = scipy.stats.norm.ppf(1 - alpha / 2)
    for a, (g, t) in zip(axes, panels):
        sub = tab[(tab["group"] == g) & (tab["term"] == t)]
        est = sub["estimate"].to_numpy(float)
        se = sub["std_error"].to_numpy(float)
        order = np.argsort(est, kind="stable") if sort else np.arange(len(est))
        y = np.arange(len(est))
        a.hlines(y, est[order] - z * se[order], est[order] + z * se[order], color="0.4", linewidth=1)
        a.plot(est[order], y, "o", markersize=3, color="C0")
        a.axvline(0.0, color="0.6", linestyle=":", linewidth=1)
        a.set_yticks([])
        a.set_ylabel(f"{len(est)} groups of {g}")
        a.set_xlabel(f"{t}: estimate and {100 * (1 - alpha):g}% interval")
    fig.tight_layout()
    return fig
