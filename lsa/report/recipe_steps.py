"""Recipe analyses that build on earlier analyses: international averages, country comparisons,
trends and league tables (the layout of the PISA/TIMSS report tables).

```toml
[[analysis]]
name = "Means"
function = "mean"
variables = "BSMMAT"
by = "CNTRY"

[[analysis]]
name = "International average"
function = "average"            # lsa.average
of = "Means"                    # an earlier analysis (computed with by = <country column>)
over = "CNTRY"

[[analysis]]
name = "Against the average"
function = "compare"            # lsa.compare
of = "Means"
over = "CNTRY"

[[analysis]]
name = "League table"
function = "league_table"       # lsa.report.league_table
of = "International average"    # the estimates (with their average row)
comparison = "Against the average"
over = "CNTRY"

[[analysis]]
name = "Change since 2003"
function = "trend"              # lsa.trend(now, then)
now = "Means 2018"              # an earlier analysis, or published rows (below)
then = "Means 2003"
study = "PISA"                  # the linking error from the study dictionary ...
cycles = [2018, 2003]           # ... or linking_error = 2.8

  [[analysis.now]]              # a cycle given by its published numbers (no data needed)
  CNT = "NLD"
  term = "MATH"
  estimate = 519
  std_error = 2.6
```

``exhibit`` (:func:`lsa.report.exhibit`) takes the design like the estimators. The recipe's
design is handed to ``average`` and ``compare``, which check that ``over`` is constant within its
replicate zones (the countries are independent samples); ``average(method = "pooled")`` re-runs
the ``of`` analysis on the pooled countries (its ``by`` without ``over``).
"""

from __future__ import annotations

import inspect
from typing import Any, Mapping

import numpy as np
import pandas as pd

from .recipe import Recipe, RecipeError, check_kwargs

#: functions of a recipe that take earlier analyses rather than the design
STEP_FUNCTIONS = ("average", "compare", "trend", "league_table")
#: keys of a step that name earlier analyses (or give published rows)
REFERENCE_KEYS = {"average": ("of",), "compare": ("of",), "league_table": ("of", "comparison"),
                  "trend": ("now", "then")}
#: keys of a published row of a trend cycle besides the country column
PUBLISHED_ROW_KEYS = {"term", "estimate", "std_error", "source"}


def _earlier(rec: Recipe, index: int, previous: Mapping[str, Any], key: str, value: Any, fname: str):
    """The outcome of the earlier analysis named by ``key`` = ``value``."""
    if not isinstance(value, str) or value not in previous:
        raise RecipeError(f"{rec.where(key, index)}: {fname} needs {key} = the name of an earlier analysis of this "
                          f"recipe; got {value!r}; earlier analyses: {list(previous)}.")
    outcome = previous[value]
    if outcome.error is not None or outcome.result is None:
        raise RecipeError(f"{rec.where(key, index)}: analysis {value!r} failed, so {fname} cannot use it.")
    return outcome


def _estimator(rec: Recipe, name: str, over: str):
    """A function of a design that re-runs the analysis ``name`` with ``over`` removed from its
    ``by`` (the pooled estimate of ``average(method = "pooled")``)."""
    import lsa

    spec = next(a for a in rec.analyses if a.get("name") == name)
    kwargs = {k: v for k, v in spec.items() if k not in ("name", "function", "published", "plot")}
    by = kwargs.get("by")
    by = [b for b in ([by] if isinstance(by, str) else list(by or [])) if b != over]
    kwargs["by"] = by or None
    fn = getattr(lsa, spec["function"])
    return lambda design: fn(design, **kwargs)


def _published_result(rec: Recipe, index: int, key: str, rows: list, other, over: str):
    """A :class:`~lsa.DesignResult` holding published (estimate, SE) rows of one cycle, of the same
    statistic and variable as ``other`` (the cycle computed from data)."""
    from ..estimators import DesignResult

    if not rows or not all(isinstance(r, Mapping) for r in rows):
        raise RecipeError(f"{rec.where(key, index)}: {key} must name an earlier analysis or be a list of tables "
                          f"[[analysis.{key}]] with {over}, term, estimate and std_error; got {rows!r}.")
    table = []
    for r in rows:
        bad = sorted(set(r) - PUBLISHED_ROW_KEYS - {over})
        missing = sorted(({over} | PUBLISHED_ROW_KEYS - {"source"}) - set(r))
        if bad or missing:
            raise RecipeError(f"{rec.where(key, index)}: a [[analysis.{key}]] row needs {over}, term, estimate, "
                              f"std_error (and optionally source); "
                              + (f"unknown key(s) {bad}" if bad else f"missing {missing}") + ".")
        table.append({over: r[over], "term": str(r["term"]), "estimate": float(r["estimate"]),
                      "std_error": float(r["std_error"]), "df": np.inf, "n_obs": np.nan, "flag": ""})
    frame = pd.DataFrame(table)
    other_table = other.tidy()
    if "variable" in other_table.columns:
        variables = dict(zip(other_table["term"].astype(str), other_table["variable"]))
        frame["variable"] = frame["term"].map(variables)
    note = "published figures: " + "; ".join(sorted({str(r.get("source", "recipe")) for r in rows}))
    return DesignResult(other.statistic, frame, pd.DataFrame(), {}, other.n_pvs, note)


def _trend(rec: Recipe, index: int, a: dict, previous: Mapping[str, Any]):
    import lsa

    over = a.get("over", "CNT")
    given = {k: a.pop(k, None) for k in ("now", "then")}
    computed = {k: _earlier(rec, index, previous, k, v, "trend").result for k, v in given.items() if isinstance(v, str)}
    if not computed:
        raise RecipeError(f"{rec.where('now', index)}: trend needs now = or then = naming an earlier analysis "
                          f"(the other may be published rows).")
    other = next(iter(computed.values()))
    results = {k: computed.get(k) or _published_result(rec, index, k, v, other, over) for k, v in given.items()}
    if "cycles" in a and isinstance(a["cycles"], list):
        a["cycles"] = tuple(a["cycles"])
    check_kwargs(rec, index, "trend", a, set(list(inspect.signature(lsa.trend).parameters)[2:]))
    return lsa.trend(results["now"], results["then"], **a)


def run_step(rec: Recipe, index: int, fname: str, a: dict, previous: Mapping[str, Any], design):
    """Run the step ``fname`` (one of :data:`STEP_FUNCTIONS`) with the options ``a``; earlier
    analyses are looked up by name in ``previous`` (name -> outcome with ``result``)."""
    import lsa
    from .exhibits import league_table

    if fname == "trend":
        return _trend(rec, index, a, previous)
    of = _earlier(rec, index, previous, "of", a.pop("of", None), fname)
    over = a.get("over", "CNT")
    if fname == "league_table":
        if "comparison" in a:
            a["comparison"] = _earlier(rec, index, previous, "comparison", a["comparison"], fname).result.tidy()
        check_kwargs(rec, index, fname, a, set(list(inspect.signature(league_table).parameters)[1:]))
        return league_table(of.result, **a)
    fn = getattr(lsa, fname)
    check_kwargs(rec, index, fname, a, set(list(inspect.signature(fn).parameters)[1:]) - {"design", "estimator"})
    if design is not None:
        a["design"] = design
    if fname == "average" and a.get("method") == "pooled":
        a["estimator"] = _estimator(rec, of.name, over)
    return fn(of.result, **a)
