"""The data and the values of the GLMM objective (:mod:`lsa.mixed.glmm`): :class:`GLMMData` (what
the pseudo-likelihood depends on, rows sorted by cluster), :class:`Evaluation` (ℓ and its pieces
at one parameter vector), the log-Cholesky parameterisation θ → L (Σ = LL': log of the diagonal,
free off-diagonal entries, lme4's column order; :func:`theta_pairs`, :func:`cholesky_factor`,
:func:`variance_components_of`) and :func:`seg` (sums over the contiguous rows of each cluster).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from lsa.mixed.glmm_family import Family
from lsa.mixed.quadrature import Rule

__all__ = ["GLMMData", "Evaluation", "cholesky_factor", "seg", "theta_pairs", "variance_components_of"]


@dataclass(frozen=True)
class GLMMData:
    """What the objective depends on, rows sorted by cluster.

    ``y`` (n,), ``X`` (n, p), ``Z`` (n, q), ``w`` (n,) conditional level-1 weights (0 outside a
    domain), ``wtop`` (G,) level-2 weights, ``starts`` (G,) first row of every cluster,
    ``codes`` (n,) cluster of every row, ``family``, ``rule`` (the tensor quadrature rule),
    ``pairs`` ((row, col) of every free entry of L, lme4's order).
    """

    y: np.ndarray
    X: np.ndarray
    Z: np.ndarray
    w: np.ndarray
    wtop: np.ndarray
    starts: np.ndarray
    codes: np.ndarray
    family: Family
    rule: Rule
    pairs: tuple[tuple[int, int], ...]
    #: tables derived from the fields (sparse cluster sums, ...), filled on first use by the
    #: evaluators; not an argument, so ``dataclasses.replace`` starts a fresh one
    cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def p(self) -> int:
        return self.X.shape[1]

    @property
    def q(self) -> int:
        return self.Z.shape[1]

    @property
    def n_params(self) -> int:
        return self.p + len(self.pairs)

    def with_weights(self, w: np.ndarray, wtop: np.ndarray) -> "GLMMData":
        """The same data with other level weights (a replicate weight set)."""
        return replace(self, w=w, wtop=wtop)


def theta_pairs(blocks: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    """Free (row, col) entries of L for random-term blocks (``(1|g) + (0+x|g)``: two blocks, a
    diagonal L), column by column within each block (lme4's θ order)."""
    out, off = [], 0
    for b in blocks:
        for c in range(b):
            out.extend((off + r, off + c) for r in range(c, b))
        off += b
    return tuple(out)


def cholesky_factor(theta: np.ndarray, pairs, q: int) -> np.ndarray:
    """L (q, q) from θ: exp on the diagonal entries, as given off the diagonal."""
    L = np.zeros((q, q))
    for t, (r, c) in zip(theta, pairs):
        L[r, c] = np.exp(t) if r == c else t
    return L


def variance_components_of(theta: np.ndarray, pairs, q: int) -> tuple[np.ndarray, np.ndarray]:
    """(Σ entries at ``pairs``: variances and covariances; their Jacobian ∂Σ/∂θ (k, k))."""
    L = cholesky_factor(theta, pairs, q)
    S = L @ L.T
    vals = np.array([S[r, c] for r, c in pairs])
    J = np.zeros((len(pairs), len(pairs)))
    for m, (a, b) in enumerate(pairs):            # ∂L_ab/∂θ_m, chain rule for exp on the diagonal
        dL = np.zeros((q, q))
        dL[a, b] = L[a, b] if a == b else 1.0
        dS = dL @ L.T + L @ dL.T
        J[:, m] = [dS[r, c] for r, c in pairs]
    return vals, J


def seg(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Σ over the rows of each cluster (rows sorted by cluster, ``starts`` its first rows)."""
    return np.add.reduceat(values, starts, axis=0)


@dataclass(frozen=True)
class Evaluation:
    """ℓ and its pieces at one parameter vector: ``loglik`` = Σ_j w_j A_j, ``per_cluster`` A_j
    (G,), ``grad`` (P,) and ``scores`` (G, P) = w_j ∂A_j/∂ψ (None without gradient),
    ``modes`` û (G, q) in the u scale, ``chol`` C_j (G, q, q), ``modes_converged``."""

    loglik: float
    per_cluster: np.ndarray
    grad: np.ndarray | None
    scores: np.ndarray | None
    modes: np.ndarray
    chol: np.ndarray
    modes_converged: bool
