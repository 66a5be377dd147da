"""Argument checks shared by the entry points of :mod:`lsa.robust`.

They complete the generic checks of :mod:`lsa.validation` (data frame, column names, choices,
numbers) with what is specific to cluster-robust fits: a cluster or weight given as a column
name or as one value per row, sampling weights (finite and > 0), a response in the range of the
GLM family, a fitted result of the right kind. Each raises an :mod:`lsa.errors` exception whose
message names the argument or column, the value received and what is allowed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import DesignError, FormulaError, LsaError
from ..validation import check_columns_exist, check_name, check_number, numeric_column


def column_or_values(arg: Any, data: pd.DataFrame, argument: str) -> tuple[str, np.ndarray]:
    """``arg`` is a column of ``data`` or one value per row of ``data``: returns ``(name, values)``
    (``name`` is ``argument`` for values)."""
    if isinstance(arg, str):
        check_columns_exist(data, [arg], argument)
        return arg, data[arg].to_numpy()
    if arg is None or np.ndim(arg) != 1:
        raise DesignError(f"{argument} must be a column name or an array with one value per row of the data "
                          f"({len(data)}); got {arg!r:.80}.")
    vals = np.asarray(arg)
    if len(vals) != len(data):
        raise DesignError(f"{argument} has {len(vals)} values but data has {len(data)} rows.")
    return argument, vals


def weight_values(arg: Any, data: pd.DataFrame) -> tuple[str, np.ndarray]:
    """Sampling weights from a column name or one value per row, as float (NaN for missing).
    Text and other non-numeric values are an error naming the weights."""
    name, vals = column_or_values(arg, data, "weights")
    s = pd.Series(vals)
    if pd.api.types.is_bool_dtype(s) or isinstance(s.dtype, pd.CategoricalDtype) \
            or not pd.api.types.is_numeric_dtype(s):
        numeric_column(pd.DataFrame({name: s}), name, "weights")        # raises, naming the weights
    return name, s.to_numpy(dtype=float, na_value=np.nan)   # NaN: row dropped and counted; inf: check_weights


def check_weights(w: np.ndarray, name: str) -> None:
    """Weights (the rows used by the model) are finite and > 0."""
    bad = ~np.isfinite(w) | (w <= 0)
    if bad.any():
        vals = np.unique(w[bad])[:5].tolist()
        raise DesignError(
            f"weights {name!r} must be finite and > 0; {int(bad.sum())} value(s) are not "
            f"(e.g. {vals})"
        )


def check_response(y: np.ndarray, kind: str | None, formula: str) -> None:
    """The response lies in the range of the family: [0, 1] for binomial (0/1, or proportions
    with prior weights, as R's ``glm``), >= 0 for Poisson. ``kind`` is ``"binomial"``,
    ``"poisson"`` or None (no restriction)."""
    lhs = formula.split("~", 1)[0].strip()
    if kind == "binomial":
        bad = (y < 0) | (y > 1)
        allowed = "0/1 (or proportions in [0, 1])"
    elif kind == "poisson":
        bad = y < 0
        allowed = "counts >= 0"
    else:
        return
    if bad.any():
        vals = [float(f"{v:.6g}") for v in np.unique(y[bad])[:3]]
        raise FormulaError(f"response {lhs!r} of {formula!r}: family {kind!r} needs {allowed}; "
                           f"{int(bad.sum())} value(s) are not (e.g. {vals}). Recode the response or "
                           f"choose another family.")


def check_alpha(alpha: Any, argument: str = "alpha") -> float:
    """A significance level (or 1 - a confidence level) strictly between 0 and 1."""
    return float(check_number(alpha, argument, low=0, high=1, low_open=True, high_open=True))


def check_result(obj: Any, argument: str, kind: type, what: str) -> None:
    """``obj`` is an instance of ``kind`` (``what`` says how to get one)."""
    if not isinstance(obj, kind):
        raise LsaError(f"{argument} must be {what}; got {type(obj).__name__}.")


def check_mixed_fit(fit: Any, argument: str = "fit") -> None:
    """``fit`` is an :func:`lsa.mixed` result (the fits :func:`robust_mixed` and
    :func:`ncv_mlm` take)."""
    from ..mixed.results import MixedResult

    check_result(fit, argument, MixedResult, "a fit returned by lsa.mixed (a MixedResult)")


def check_cluster_name(cluster: Any, data: pd.DataFrame, argument: str = "cluster") -> str:
    """A single column name of ``data``."""
    check_name(cluster, argument)
    check_columns_exist(data, [cluster], argument)
    return cluster
