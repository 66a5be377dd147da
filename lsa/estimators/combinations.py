"""Linear combinations and Wald tests of the terms of a design-based result
(:meth:`lsa.DesignResult.contrast`, :meth:`lsa.DesignResult.wald_test`).

The weights are a matrix L with one row per combination and one column per term.

A combination is written ``{term: weight, ...}`` (terms not named get weight 0), several as
``{name: {term: weight, ...}, ...}``, or as numbers: a vector of k weights (one combination
over the k terms in order) or a q × k matrix. Its default name is the combination written out
with the positive terms first: ``"Male - Female"``, ``"0.5*a + 0.5*b"``.
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import DesignError, LsaError
from ..formula import constraint_matrix
from ..pooling import Pooled, linear_combination, wald_d1
from ..results import WaldTest


def combination_matrix(weights: Any, terms: Sequence[str], names: Sequence[str] | None = None
                       ) -> tuple[np.ndarray, list[str]]:
    """(L, names): the q × k matrix of the combinations ``weights`` of ``terms`` and their names."""
    terms = [str(t) for t in terms]
    if isinstance(weights, Mapping) and weights and all(isinstance(v, Mapping) for v in weights.values()):
        rows = [_row(v, terms) for v in weights.values()]
        default = [str(k) for k in weights]
    elif isinstance(weights, Mapping):
        rows = [_row(weights, terms)]
        default = None
    else:
        rows = list(_matrix(weights, len(terms)))
        default = None
    L = np.array(rows, dtype=float).reshape(len(rows), len(terms))
    empty = [i + 1 for i, row in enumerate(L) if not row.any()]
    if empty:
        raise LsaError(f"weights: combination(s) {empty} have no nonzero weight; give at least one term a weight.")
    if names is None:
        names = default or [written(row, terms) for row in L]
    elif isinstance(names, str) or not all(isinstance(n, str) for n in names) or len(names) != len(L):
        raise LsaError(f"names must be a list of {len(L)} strings, one per combination; got {names!r:.80}.")
    names = list(names)
    if len(set(names)) != len(names):
        raise LsaError(f"names: each combination needs its own name; got {names}.")
    return L, names


def _row(spec: Mapping, terms: list[str]) -> np.ndarray:
    unknown = [k for k in spec if str(k) not in terms]
    if unknown:
        raise LsaError(f"weights name unknown term(s) {unknown}; the result's terms are {terms}.")
    row = np.zeros(len(terms))
    for k, v in spec.items():
        row[terms.index(str(k))] = _number(v, k)
    return row


def _number(value: Any, where: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise LsaError(f"weights: the weight of {where!r} must be a finite number; got {value!r}.")
    return float(value)


def _matrix(weights: Any, k: int) -> np.ndarray:
    """A vector of k weights or a q × k matrix, checked."""
    if isinstance(weights, (str, bytes)) or weights is None:
        raise LsaError(f"weights must be {{term: weight}}, {{name: {{term: weight}}}}, a vector of {k} numbers or a "
                       f"matrix with {k} columns; got {weights!r:.80}.")
    try:
        arr = np.asarray(weights, dtype=float)
    except (TypeError, ValueError):
        raise LsaError(f"weights must be numbers (a vector of {k} or a matrix with {k} columns); got "
                       f"{weights!r:.80}.") from None
    arr = np.atleast_2d(arr)
    if arr.ndim != 2 or arr.shape[1] != k or arr.shape[0] == 0:
        raise LsaError(f"weights must have {k} columns, one per term of the result; got shape {np.shape(weights)}.")
    if not np.isfinite(arr).all():
        raise LsaError("weights must be finite numbers; got NaN or inf.")
    return arr


def written(row: np.ndarray, terms: Sequence[str]) -> str:
    """``"b - a"``, ``"0.5*a + 0.5*b"``: the combination with the positive terms first."""
    order = [j for j in range(len(row)) if row[j] > 0] + [j for j in range(len(row)) if row[j] < 0]
    out = ""
    for j in order:
        w, t = row[j], terms[j]
        size = "" if abs(w) == 1 else f"{abs(w):g}*"
        sign = "-" if w < 0 else "+"
        out += (f"{'-' if sign == '-' else ''}{size}{t}" if not out else f" {sign} {size}{t}")
    return out


def combine_groups(groups: Sequence, weights: Any, names: Sequence[str] | None = None) -> tuple[list, list[Pooled]]:
    """The combinations L θ in every group (each a ``GroupDraws`` of :mod:`lsa.estimators._core`):
    new groups and their :class:`~lsa.pooling.Pooled`.

    Per PV m the combination is L θ_m with replicate covariance
    c Σ_r L(θ_mr − θ_m)(θ_mr − θ_m)'L' = L U_m L' (exact: it is the replicate variance of the
    combined replicate estimates), then Rubin's rules with L Ū L', L B L' and the group's ν_com
    (:func:`lsa.pooling.linear_combination`). ``n_obs`` and ``n_missing`` are the largest of the
    terms combined.
    """
    if not groups:
        raise DesignError("this result has no groups to combine.")
    L, names = combination_matrix(weights, groups[0].terms, names)
    used = (L != 0).any(axis=0)
    out, pooled = [], []
    for g in groups:
        est, cov, p = linear_combination(_pooled(g), g.estimates, g.covariances, L)
        q = len(names)
        out.append(dataclasses.replace(
            g, terms=names, extra={}, estimates=est, covariances=cov, pooled=p,
            theta=None if g.theta is None else g.theta[..., used] @ L[:, used].T,
            influence=None if getattr(g, "influence", None) is None else g.influence[..., used] @ L[:, used].T,
            n_obs=np.full(q, np.max(g.n_obs[used])), n_missing=np.full(q, np.max(g.n_missing[used]))))
        pooled.append(p)
    return out, pooled


def wald_group(group, constraints: Any, r: Any = None) -> WaldTest:
    """Pooled Wald test of R θ = r on the terms of one group (a ``GroupDraws``).

    Per PV the constraints R θ_m have the replicate covariance R U_m R' (:func:`combine_groups`);
    the test is D1 over the PVs (Li, Raghunathan & Rubin 1991; :func:`lsa.pooling.wald_d1`, as
    mitml's ``testModels(method = "D1")``) with Ū the result's (PV1's under the first-PV rule).
    With one PV it is the F test (Rθ̂ − r)'(R U R')⁻¹(Rθ̂ − r) / q on (q, ν_com) df, ν_com the
    design df − p + 1 for a regression, as ``survey::regTermTest``.
    """
    R, labels = constraint_matrix(constraints, group.terms)
    null = np.zeros(len(R)) if r is None else _values(r, len(R))
    est, cov, p = linear_combination(_pooled(group), group.estimates, group.covariances, R)
    test = wald_d1(est, cov, null, within=p.within, df_complete=group.df_complete)
    return dataclasses.replace(test, hypotheses=tuple(labels))


def _values(r: Any, q: int) -> np.ndarray:
    """The right-hand side r of R θ = r: q finite numbers."""
    try:
        arr = np.atleast_1d(np.asarray(r, dtype=float))
    except (TypeError, ValueError):
        arr = None
    if arr is None or isinstance(r, (str, bytes)) or arr.shape != (q,) or not np.isfinite(arr).all():
        raise LsaError(f"r must hold {q} finite numbers, one per constraint; got {r!r:.80}.")
    return arr


def _pooled(group) -> Pooled:
    if getattr(group, "pooled", None) is None:
        raise DesignError("this result keeps no pooled draws; re-run the estimator to form contrasts or tests.")
    return group.pooled
