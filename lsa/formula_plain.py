"""The model matrix of a right-hand side of plain column names, without the formula machinery.

Most formulas of a small fit are ``x1 + x2 + f``: plain column names joined by ``+``. Their model
matrix needs no parser: the intercept, then each term as written (R's order: all of degree 1),
a numeric column as it is and a factor by R's treatment coding (one 0/1 column per level after
the first, named ``f`` + level, as :func:`lsa.formula.r_name` names formulaic's ``f[T.level]``).
:func:`lsa.formula.fixed_matrix` uses :func:`plain_matrix` when it applies and formulaic
otherwise; both give the same values and names (``tests/test_formula.py`` compares them). The
cases that could differ go to formulaic: no intercept (the first factor is then coded in full),
a factor with fewer than two levels, missing codes, or a level that is not text or holds one of
``:[]`` (which the parser's column names would quote or split).
"""
from __future__ import annotations

import functools
import re

import numpy as np
import pandas as pd

__all__ = ["plain_terms", "plain_numeric", "plain_matrix", "float_rows"]

_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@functools.lru_cache(maxsize=512)
def plain_terms(rhs: str) -> tuple[bool, tuple[str, ...]] | None:
    """``(intercept, names)`` when ``rhs`` is only ``+``-joined plain column names and ``1`` /
    ``0`` (with an optional trailing ``- 1``), else ``None``. Such a right-hand side needs no
    formula machinery: its model matrix is the intercept (if any) and the columns as written,
    duplicates dropped (R's order: every term is of degree 1)."""
    text = rhs.strip()
    intercept = True
    if re.search(r"-\s*1\s*$", text):
        text, intercept = re.sub(r"-\s*1\s*$", "", text).strip(), False
    names: list[str] = []
    for token in (t.strip() for t in text.split("+")):
        if token == "1":
            continue
        if token == "0":
            intercept = False
        elif _PLAIN_NAME.fullmatch(token) and token not in ("C", "I", "Q", "np"):
            if token not in names:
                names.append(token)
        else:
            return None
    return intercept, tuple(names)


def plain_numeric(dtype) -> bool:
    """A numeric column used as it is (not logical, not a Categorical)."""
    return (pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
            and not isinstance(dtype, pd.CategoricalDtype))


def float_rows(s: pd.Series, rows: np.ndarray) -> np.ndarray:
    """``s.to_numpy(dtype=float, na_value=np.nan)[rows]`` of a numeric column: for a NumPy
    column the rows are taken first and cast after (the same values, without pandas' copy and
    missing-value pass over the whole column)."""
    if isinstance(s.dtype, np.dtype):
        return s.to_numpy()[rows].astype(float, copy=False)
    return s.to_numpy(dtype=float, na_value=np.nan)[rows]


def _treatment_levels(dtype) -> list[str] | None:
    """The levels of a Categorical that treatment coding can name as formulaic does, else None."""
    if not isinstance(dtype, pd.CategoricalDtype):
        return None
    levels = list(dtype.categories)
    if len(levels) < 2 or not all(isinstance(v, str) and not any(ch in v for ch in ":[]") for v in levels):
        return None
    return levels


def plain_matrix(frame, intercept: bool, names: tuple[str, ...], n: int | None = None):
    """``(X, column names)`` of the plain terms ``names`` on ``frame`` (a DataFrame of complete
    rows, or a mapping name -> NumPy array, Series or Categorical of ``n`` rows; factors already
    Categoricals with their unused levels dropped, :func:`lsa.formula.as_factors`), or None when
    a term is neither a numeric column nor a factor this path codes as formulaic would.
    Treatment coding needs the intercept, so a factor without it returns None."""
    cols, width = [], int(intercept)
    for c in names:
        s = frame[c]
        if plain_numeric(s.dtype):
            # a NumPy column as it is (the float cast of the assignment below), else pandas' float view
            values = (s if isinstance(s, np.ndarray) else s.to_numpy() if isinstance(s.dtype, np.dtype)
                      else s.to_numpy(dtype=float, na_value=np.nan))
            cols.append((c, None, values))
            width += 1
            continue
        levels = _treatment_levels(s.dtype) if intercept else None
        if levels is None:
            return None
        codes = np.asarray(getattr(s, "array", s).codes)
        if (codes < 0).any():
            return None
        cols.append((c, levels, codes))
        width += len(levels) - 1
    # formulaic's matrices are column-major: a matrix with factors keeps that layout (and the
    # numeric-only matrix its row-major one), so that later BLAS sums are bit-identical
    x = np.empty((len(frame) if n is None else n, width), order="F" if any(lv is not None for _, lv, _ in cols) else "C")
    out = ["(Intercept)"] if intercept else []
    if intercept:
        x[:, 0] = 1.0
    j = int(intercept)
    for c, levels, values in cols:           # values: the column, or a factor's level codes
        if levels is None:
            x[:, j] = values
            out.append(c)
            j += 1
            continue
        k = len(levels) - 1
        x[:, j:j + k] = values[:, None] == np.arange(1, k + 1)
        out.extend(f"{c}{lev}" for lev in levels[1:])
        j += k
    return x, tuple(out)
