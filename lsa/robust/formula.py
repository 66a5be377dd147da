"""Formula -> design matrices for the cluster-robust estimators, through :mod:`lsa.formula`.

The matrices come from :func:`lsa.formula.model_matrices`, the builder shared by every model
in lsa: R's treatment coding with a pandas ``Categorical``'s declared level order (the first
level is the reference; string columns use sorted levels, R's default for character vectors),
R's names (``(Intercept)``, ``sectorCatholic``, ``femaleTRUE``, interactions ``a:b``), and its
checks: lme4 random-effect terms ``(1 | g)`` are refused (they belong to ``lsa.mixed`` /
``lsa.robust.robust_mixed``), unknown names, factors with implausibly many levels and
non-finite values are errors naming the variable or term.
"""

from __future__ import annotations

import pandas as pd

from ..formula import ModelMatrices, model_matrices


def build_design(formula: str, data: pd.DataFrame, function: str = "lsa.robust") -> ModelMatrices:
    """Evaluate ``formula`` (``y ~ x1 + x2 + f`` with R semantics) on ``data``.

    Rows with a missing value in any variable of the formula are dropped and counted: ``rows``
    is the boolean mask of the rows of ``data`` used, ``n_dropped`` their complement's count.
    Raises :class:`~lsa.errors.FormulaError` naming the problem when the formula cannot be
    evaluated (unknown column, no response, a random-effect term, ...), and
    :class:`~lsa.errors.DesignError` for non-finite values (see :mod:`lsa.formula`).
    """
    return model_matrices(formula, data, function)
