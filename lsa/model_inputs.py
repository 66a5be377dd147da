"""The one seam from a DataFrame or an :class:`lsa.SurveyDesign` to the inputs of a model.

Every model entry point (:func:`lsa.mixed`, :func:`lsa.mix_pv`, :func:`lsa.robust.clustered`,
:func:`~lsa.robust.lpm`, :func:`~lsa.robust.modified_poisson`, :func:`~lsa.robust.gee`,
:func:`lsa.impute.impute`) turns its ``data`` argument into a :class:`ModelInputs` here. A
design is recognised by ``isinstance(data, SurveyDesign)`` only; a DataFrame is taken as it is;
anything else is a :class:`~lsa.errors.DesignError` naming ``data``.

The domain rule (every model)
-----------------------------
A domain (``design.subset(...)``) never drops rows. The rows outside it keep their place with
zero weight, so that replicate and cluster-robust variances keep the whole design: the survey
convention (Lumley 2010, *Complex Surveys*, §2.3; OECD PISA Data Analysis Manual, ch. 4), the
one the design-based estimators follow (:meth:`lsa.SurveyDesign.weight_matrix`).

* Multilevel pseudo-likelihood (:func:`lsa.mixed`): a zero level-1 weight removes the row's
  contribution to every cluster sum; a cluster whose rows all have zero weight has S_j = 0,
  log|M_j| = 0 and a zero score, so it contributes nothing. Observation and group counts, the
  identifiability check and the G/(G − 1) factor of the sandwich count only rows and groups
  with positive weight, so the estimates and standard errors equal those of the fit on the
  domain's rows.
* Single-level cluster-robust fits (:mod:`lsa.robust`): the rows with zero weight are left out
  of the point estimate and of the per-cluster pieces (their score, bread and CR2 adjustment
  contributions are zero); see :func:`lsa.robust.clustered` for the count of clusters.

Weights of a design with more levels than the model
---------------------------------------------------
A design may have levels that the formula does not use: ``SurveyDesign.from_study("TIMSS", ...)``
declares school, class and student, while ``y ~ x + (1 | school)`` is a two-level model. The
levels the formula does not use are collapsed into the level below: with total weights w_l per
level, the weight of a used level l conditional on the next used level u above it is

    w_{l|u} = w_l / w_u        (total weight of l / total weight of u),

so a school/student model on a school/class/student design uses the school weight and the
student's total weight divided by the school weight. With conditional weights c_l the same
weight is the product of the c of l and of every unused level between l and u, and the top used
level carries the product of every level above it (a product column named ``"a*b"`` is added to
the frame). This is the pseudo-likelihood of the model's own levels with the selection
probabilities of the collapsed stages folded into the level below (Rabe-Hesketh & Skrondal 2006,
§2). Every level the model uses must have a weight. A single-level formula (no ``( | )`` term)
uses the observation level only: its weight is the design's full (final) weight.

References
----------
Lumley, T. (2010). Complex Surveys: A Guide to Analysis Using R. Wiley, §2.3 (domains).
Rabe-Hesketh, S., & Skrondal, A. (2006). Multilevel modelling of complex survey data.
JRSS A 169(4), 805–827.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from lsa.design import SurveyDesign
from lsa.errors import DesignError, FormulaError
from lsa.replicates import Replicates
from lsa.validation import check_columns_exist, check_frame, numeric_column

__all__ = ["ModelInputs", "model_inputs", "formula_groups"]


@dataclass(frozen=True)
class ModelInputs:
    """What a model reads from its ``data`` argument (built by :func:`model_inputs`).

    Attributes
    ----------
    data : the frame, every row (a design's full data, with its level names added as columns
        when they are not columns already, so that ``(1 | school)`` works).
    weights : weight columns of the levels the formula uses, level 1 first, or None (unweighted).
    conditional : the ``weights`` columns are conditional weights (else total weights).
    domain : (n,) boolean, read-only: the rows in the analysed domain (all True for a frame).
    replicates : the design's replicate scheme, or None.
    pvs : the design's plausible-value sets (name → columns); empty for a frame.
    design : the design given, or None for a DataFrame.
    cluster : the design's top-level id column, or None.
    """

    data: pd.DataFrame = field(repr=False)
    weights: tuple[str, ...] | None
    conditional: bool
    domain: np.ndarray = field(repr=False)
    replicates: Replicates | None = None
    pvs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    design: SurveyDesign | None = field(default=None, repr=False)
    cluster: str | None = None

    @property
    def is_design(self) -> bool:
        return self.design is not None

    @property
    def n_domain(self) -> int:
        """Rows in the domain."""
        return int(self.domain.sum())

    @property
    def has_domain(self) -> bool:
        """True when some rows are outside the domain."""
        return not bool(self.domain.all())

    def row_weights(self) -> np.ndarray | None:
        """The observation-level total (final) weight per row, zero outside the domain; None
        for an unweighted frame. A design gives :meth:`lsa.SurveyDesign.full_weight`; a frame
        its level-1 weight column (total weights) or the product of the columns (conditional)."""
        if self.design is not None:
            return self.design.full_weight() * self.domain
        if self.weights is None:
            return None
        cols = self.weights if self.conditional else self.weights[:1]
        w = np.prod([numeric_column(self.data, c, "weights") for c in cols], axis=0)
        return w * self.domain

    def domain_rows(self) -> "ModelInputs":
        """The same inputs restricted to the domain's rows (rows outside it dropped), for the
        callers that still fit on the domain's rows only (:func:`lsa.mixed.inputs.design_inputs`)."""
        if not self.has_domain:
            return self
        return replace(self, data=self.data.loc[self.domain], domain=_all_rows(self.n_domain))


def formula_groups(formula) -> tuple[str, ...] | None:
    """Grouping factors of an lme4 formula (``school``, ``school:class``; ``()`` for a
    single-level formula), or None when the formula cannot be parsed (its errors are then
    reported by the fit itself)."""
    from lsa.mixed.formula import parse_formula

    if not isinstance(formula, str) or "|" not in formula:
        return () if isinstance(formula, str) else None
    try:
        return parse_formula(formula).groups
    except FormulaError:
        return None


def model_inputs(data_or_design, formula: str | None = None,
                 weights: Sequence[str] | str | None = None, *, conditional_weights: bool = False,
                 groups: Sequence[str] | None = None) -> ModelInputs:
    """The inputs of a model fitted to ``data_or_design`` (see the module docstring).

    Parameters
    ----------
    data_or_design : a DataFrame, or an :class:`lsa.SurveyDesign` (weights by level, domain,
        PV sets, replicates and the top-level id from it).
    formula : the model's formula; its grouping factors (``( … | g)``) choose the design
        levels whose weights are used. ``None``: every level of the design.
    weights : with a DataFrame, the weight columns, level 1 first (a single name for one
        level), or None; with a design it must be None (the design gives the weights).
    conditional_weights : with a DataFrame, the ``weights`` are conditional weights.
    groups : the grouping factors, when the caller has already parsed the formula.

    Returns
    -------
    :class:`ModelInputs` (frozen).

    Examples
    --------
    >>> inp = lsa.model_inputs(design.subset("gender == 'F'"), "y ~ x + (1 | school)")  # doctest: +SKIP
    >>> inp.weights, int(inp.domain.sum())                                               # doctest: +SKIP
    """
    if groups is None and formula is not None:
        groups = formula_groups(formula)
    if isinstance(data_or_design, SurveyDesign):
        return _from_design(data_or_design, weights, groups)
    if isinstance(data_or_design, pd.DataFrame):
        return _from_frame(data_or_design, weights, conditional_weights)
    raise DesignError(f"data must be a DataFrame or an lsa.SurveyDesign; got "
                      f"{type(data_or_design).__name__}")


def _all_rows(n: int) -> np.ndarray:
    """(n,) read-only all-True domain."""
    dom = np.ones(n, bool)
    dom.setflags(write=False)
    return dom


def _from_frame(data: pd.DataFrame, weights, conditional: bool) -> ModelInputs:
    check_frame(data, "data", allow_empty=True)
    if weights is None:
        cols = None
    elif isinstance(weights, str):
        cols = (weights,)
    elif isinstance(weights, (list, tuple)) and weights and all(isinstance(c, str) for c in weights):
        cols = tuple(weights)
    else:
        raise DesignError(f"weights must be a weight column name or a list of them, level 1 first "
                          f"(e.g. ['w_fstuwt', 'w_fschwt']), or None; got {weights!r:.80}")
    if cols is not None:
        check_columns_exist(data, list(cols), "weights")
    if not isinstance(conditional, (bool, np.bool_)):
        raise DesignError(f"conditional_weights must be True or False; got {conditional!r}")
    return ModelInputs(data, cols, bool(conditional), _all_rows(len(data)))


def _level_of(group: str, design: SurveyDesign) -> str | None:
    """Design level of a grouping factor: its level name or id column (``a:b`` → ``b``)."""
    last = group.split(":")[-1].strip()
    if last in design.ids:
        return last
    return next((lvl for lvl, col in design.ids.items() if col == last), None)


def _from_design(design: SurveyDesign, weights, groups) -> ModelInputs:
    if weights is not None:
        raise DesignError("give weights through the design, not both a design and weights=")
    df = design.data
    alias = {lvl: col for lvl, col in design.ids.items() if lvl not in df.columns}
    if alias:
        df = df.assign(**{lvl: df[col] for lvl, col in alias.items()})
    df, cols = _level_columns(design, df, groups)
    return ModelInputs(df, cols, design.conditional_weights, design.domain, design.replicates,
                       dict(design.pvs), design, next(iter(design.ids.values()), None))


def _used_levels(design: SurveyDesign, groups) -> list[str]:
    """The design levels whose weights a model with grouping factors ``groups`` uses."""
    levels = list(design.levels)
    if groups is not None and len(groups) == 0:
        return [levels[-1]]                                  # single-level model
    mapped = [_level_of(g, design) for g in (groups or ())]
    if groups and all(m is not None for m in mapped):
        return [lvl for lvl in levels[:-1] if lvl in mapped] + [levels[-1]]
    return levels                                            # grouping factors not design levels


def _level_columns(design: SurveyDesign, df: pd.DataFrame, groups):
    """(frame, weight columns level 1 first or None) by the rule of the module docstring."""
    wmap, levels = design.weights, list(design.levels)
    if not wmap:
        return df, None
    used = _used_levels(design, groups)
    missing = [lvl for lvl in used if lvl not in wmap]
    if missing:
        what = ("the model needs one per level" if used == levels else
                f"the model uses levels {used} and needs a weight for each")
        raise DesignError(f"the design has weights for levels {list(wmap)} but {what} "
                          f"{used}: no weight for {missing}. Add it to the design's weights, or "
                          f"pass a DataFrame and weights= explicitly")
    if not design.conditional_weights or used == levels:
        return df, tuple(wmap[lvl] for lvl in reversed(used))
    cols = []
    for k, lvl in enumerate(used):              # top first: fold unused levels into the one below
        above = levels.index(used[k - 1]) + 1 if k else 0
        parts = [wmap[v] for v in levels[above:levels.index(lvl) + 1] if v in wmap]
        name = "*".join(parts)
        if len(parts) > 1 and name not in df.columns:
            df = df.assign(**{name: np.prod([pd.to_numeric(df[c], errors="coerce").to_numpy(float)
                                             for c in parts], axis=0)})
        cols.append(name)
    return df, tuple(cols[::-1])
