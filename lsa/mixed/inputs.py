"""Data and weight columns of a multilevel fit, from a DataFrame or an :class:`lsa.SurveyDesign`.

:func:`design_inputs` is the one place where :func:`lsa.mixed.mixed` and :func:`lsa.mix_pv`
turn their ``data``/``weights`` arguments into (data frame, weight columns level 1 first,
conditional flag).

Designs with more levels than the model
---------------------------------------
A design may have levels that the formula does not use: ``SurveyDesign.from_study("TIMSS", ...)``
declares school, class and student, while ``y ~ x + (1 | school)`` is a two-level model. The
levels the formula does not use are collapsed into the level below: with total weights w_l per
level, the weight of a used level l conditional on the next used level u above it is

    w_{l|u} = w_l / w_u        (total weight of l / total weight of u),

so a school/student model on a school/class/student design uses the school weight and the
student's total weight divided by the school weight (the student's weight given the school,
the class stage being part of it). With conditional weights c_l (``conditional_weights=True``)
the same weight is the product of the c of l and of every unused level between l and u, and
the top used level carries the product of every level above it. This is the pseudo-likelihood
of the model's own levels with the selection probabilities of the collapsed stages folded into
the level below (Rabe-Hesketh & Skrondal 2006, §2: only the inclusion probability of a unit
given its parent *in the model* enters). Every level the model uses must have a weight.

References
----------
Rabe-Hesketh, S., & Skrondal, A. (2006). Multilevel modelling of complex survey data.
JRSS A 169(4), 805–827.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from lsa.errors import DesignError, FormulaError
from lsa.mixed.formula import parse_formula

__all__ = ["design_inputs", "formula_groups"]


def formula_groups(formula) -> tuple[str, ...] | None:
    """Grouping factors of an lme4 formula (``school``, ``school:class``), or None when the
    formula cannot be parsed (its errors are then reported by the fit itself)."""
    try:
        return parse_formula(formula).groups
    except FormulaError:
        return None


def _level_of(group: str, design) -> str | None:
    """Design level of a grouping factor: its level name or id column (``a:b`` → ``b``)."""
    last = group.split(":")[-1].strip()
    ids = design.ids
    if last in ids:
        return last
    return next((lvl for lvl, col in ids.items() if col == last), None)


def design_inputs(data, weights: Sequence[str] | str | None, conditional_weights: bool,
                  groups: Sequence[str] | None = None) -> tuple[pd.DataFrame, list[str] | None, bool]:
    """(data frame, weight columns level 1 first or None, conditional flag) of a fit.

    ``data`` a DataFrame (``weights`` returned as given) or an ``lsa.SurveyDesign``: its rows in
    the domain, with the level names added as columns (``(1 | school)`` works), and the
    weights of the levels the model uses (``groups``: the formula's grouping factors; see the
    module docstring for designs with more levels than the model). A product of conditional
    weight columns is added to the frame as a column named ``"a*b"``.
    """
    if isinstance(data, pd.DataFrame):
        return data, ([weights] if isinstance(weights, str) else weights), conditional_weights
    if not all(hasattr(data, a) for a in ("data", "weights", "levels")):
        raise DesignError(f"data must be a DataFrame or an lsa.SurveyDesign; got "
                          f"{type(data).__name__}")
    if weights is not None:
        raise DesignError("give weights through the design, not both a design and weights=")
    df = data.data
    dom = getattr(data, "domain", None)
    if dom is not None and not np.all(dom):
        df = df.loc[np.asarray(dom, bool)]
    alias = {lvl: col for lvl, col in getattr(data, "ids", {}).items() if lvl not in df.columns}
    if alias:
        df = df.assign(**{lvl: df[col] for lvl, col in alias.items()})
    cond = bool(getattr(data, "conditional_weights", False))
    wmap, levels = data.weights, list(data.levels)
    if not wmap:
        return df, None, cond
    mapped = [_level_of(g, data) for g in (groups or ())]
    if groups and all(m is not None for m in mapped):
        used = [lvl for lvl in levels[:-1] if lvl in mapped] + [levels[-1]]
    else:                                       # grouping factors that are not design levels
        used = levels
    missing = [lvl for lvl in used if lvl not in wmap]
    if missing:
        what = ("the model needs one per level" if used == levels else
                f"the model uses levels {used} and needs a weight for each")
        raise DesignError(f"the design has weights for levels {list(wmap)} but {what} "
                          f"{used}: no weight for {missing}. Add it to the design's weights, or "
                          f"pass a DataFrame and weights= explicitly")
    if not cond or used == levels:
        return df, [wmap[lvl] for lvl in reversed(used)], cond
    cols = []
    for k, lvl in enumerate(used):              # top first: fold unused levels into the one below
        above = levels.index(used[k - 1]) + 1 if k else 0
        parts = [wmap[v] for v in levels[above:levels.index(lvl) + 1] if v in wmap]
        name = "*".join(parts)
        if len(parts) > 1 and name not in df.columns:
            df = df.assign(**{name: np.prod([pd.to_numeric(df[c], errors="coerce").to_numpy(float)
                                             for c in parts], axis=0)})
        cols.append(name)
    return df, cols[::-1], cond
