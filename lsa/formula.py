"""Fixed-effect design matrices as R builds them, shared by every model in lsa.

patsy (a statsmodels dependency) parses the formula; this module makes the result match R's
``model.frame`` / ``model.matrix``, so that estimates line up with R references term by term:

* factors: pandas Categoricals keep their level order (the first level is the reference, as
  R's treatment coding); string and logical columns become factors with sorted levels (R's
  ``factor()``); levels without observations in the rows used are dropped (R drops them, and
  patsy would otherwise make all-zero columns);
* term order: as written, stably sorted by interaction order (R's ``terms()``; patsy puts
  categorical-only terms first);
* names: ``Intercept`` → ``(Intercept)``, ``sector[T.Catholic]`` → ``sectorCatholic``,
  ``C(x)[T.b]`` → ``xb``, ``female[T.True]`` → ``femaleTRUE``, interactions ``a:b``.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import patsy

from .errors import FormulaError, LsaError

_LEVEL = re.compile(r"^(?:C\()?(?P<var>.*?)(?:\))?\[T\.(?P<level>.*)\]$")


def r_name(name: str) -> str:
    """Translate one patsy column name into R's ``model.matrix`` name."""
    if name == "Intercept":
        return "(Intercept)"
    parts = []
    for part in name.split(":"):
        m = _LEVEL.match(part)
        if m:
            level = {"True": "TRUE", "False": "FALSE"}.get(m.group("level"), m.group("level"))
            parts.append(f"{m.group('var')}{level}")
        else:
            parts.append(part)
    return ":".join(parts)


def as_factors(frame: pd.DataFrame) -> pd.DataFrame:
    """Strings and logicals as factors with sorted levels; unused levels of factors dropped.
    Returns a new frame only when something changes."""
    conv = {}
    for col in frame.columns:
        s = frame[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            if len(s.cat.categories) > s.nunique(dropna=True):
                conv[col] = s.cat.remove_unused_categories()
        elif pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
            conv[col] = pd.Categorical(s, categories=sorted(s.dropna().unique()))
    return frame.assign(**conv) if conv else frame


def r_order(info: patsy.DesignInfo, rhs: str) -> list[int]:
    """Column positions in R's order: terms as written, stably sorted by interaction order."""
    written = list(patsy.ModelDesc.from_formula(rhs).rhs_termlist)
    order = sorted(range(len(written)), key=lambda i: (len(written[i].factors), i))
    cols = [j for i in order if written[i] in info.term_slices
            for j in range(info.term_slices[written[i]].start, info.term_slices[written[i]].stop)]
    return cols if sorted(cols) == list(range(len(info.column_names))) else list(range(len(info.column_names)))


def fixed_matrix(rhs: str, frame: pd.DataFrame, what: str = "predictors") -> tuple[np.ndarray, tuple[str, ...]]:
    """The model matrix of the right-hand side ``rhs`` on ``frame`` (no missing values), in
    R's column order with R's names."""
    try:
        m = patsy.dmatrix(rhs, as_factors(frame), return_type="matrix", NA_action="raise")
    except patsy.PatsyError as exc:
        raise FormulaError(f"cannot evaluate the {what} {rhs!r}: {exc}") from exc
    cols = r_order(m.design_info, rhs)
    return np.asarray(m)[:, cols], tuple(r_name(m.design_info.column_names[j]) for j in cols)


def constraint_matrix(constraints, terms) -> tuple[np.ndarray, tuple[str, ...]]:
    """Term names (each tested = 0) or a q x p matrix -> (C, labels)."""
    terms = list(terms)
    if isinstance(constraints, str):
        constraints = [constraints]
    arr = np.asarray(constraints)
    if arr.dtype.kind in "US" or arr.dtype == object and all(isinstance(c, str) for c in constraints):
        unknown = [c for c in constraints if c not in terms]
        if unknown:
            raise LsaError(f"constraints name unknown term(s) {unknown}; terms are {terms}")
        C = np.zeros((len(constraints), len(terms)))
        for i, c in enumerate(constraints):
            C[i, terms.index(c)] = 1.0
        return C, tuple(f"{c} = 0" for c in constraints)
    C = np.atleast_2d(np.asarray(constraints, dtype=float))
    if C.shape[1] != len(terms):
        raise LsaError(f"constraint matrix must have {len(terms)} columns; got shape {C.shape}")
    labels = tuple(
        " + ".join(f"{v:g}*{t}" for v, t in zip(row, terms) if v != 0) + " = r" for row in C
    )
    return C, labels
