"""Formula -> design matrices with R-style term names and treatment coding.

``patsy`` (a statsmodels dependency) parses the formula; this module only renames the
columns the way R's ``model.matrix`` does, so that results line up with R references:
``Intercept`` -> ``(Intercept)``, ``sector[T.Catholic]`` -> ``sectorCatholic``,
``female[T.True]`` -> ``femaleTRUE``; interactions keep R's ``a:b``. Factor level order
is the pandas ``Categorical`` order (the first level is the reference, as in R);
string columns use sorted levels (R's default for character vectors).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import FormulaError
from ..formula import as_factors, r_name, r_order

@dataclass(frozen=True)
class Design:
    """Model frame of a single-level formula.

    Attributes
    ----------
    y : (n,) response; X : (n, p) design; terms : p R-style names;
    rows : index labels of ``data`` that were used (complete cases);
    n_dropped : rows of ``data`` dropped for missing values in the formula's variables.
    """

    y: np.ndarray
    X: np.ndarray
    terms: tuple[str, ...]
    rows: pd.Index
    n_dropped: int


def build_design(formula: str, data: pd.DataFrame) -> Design:
    """Evaluate ``formula`` (``y ~ x1 + x2 + f`` with R semantics) on ``data``.

    Rows with a missing value in any variable of the formula are dropped and counted.
    Raises :class:`~lsa.errors.FormulaError` naming the problem when the formula cannot be
    evaluated (unknown column, no response, ...).
    """
    import patsy

    if not isinstance(formula, str) or "~" not in formula:
        raise FormulaError(f"formula must be a string 'y ~ x1 + x2'; got {formula!r}")
    data = as_factors(data)
    try:
        y, X = patsy.dmatrices(formula, data, return_type="dataframe", NA_action="drop")
        rows = data.loc[X.index]
        used = as_factors(rows)                   # R's model.frame drops levels unused in complete rows
        if used is not rows:
            y, X = patsy.dmatrices(formula, used, return_type="dataframe", NA_action="drop")
    except patsy.PatsyError as exc:  # unknown names, bad syntax
        raise FormulaError(f"cannot evaluate formula {formula!r} on the data: {exc}") from exc
    if y.shape[1] != 1:
        raise FormulaError(
            f"formula {formula!r} has a {y.shape[1]}-column response; give one numeric "
            "outcome (a factor outcome must be coded 0/1 first)"
        )
    X = X.iloc[:, r_order(X.design_info, formula.split("~", 1)[1])]
    terms = tuple(r_name(c) for c in X.columns)
    return Design(
        y=y.iloc[:, 0].to_numpy(dtype=float),
        X=X.to_numpy(dtype=float),
        terms=terms,
        rows=X.index,
        n_dropped=int(len(data) - len(X)),
    )
