"""Gauss–Hermite rules for the adaptive quadrature of :mod:`lsa.mixed.glmm`.

:func:`normal_rule` gives nodes z_k and weights ν_k with Σ_k ν_k g(z_k) ≈ ∫ g(z) φ(z) dz for the
standard normal density φ (lme4's ``GHrule``: the physicists' rule of
``numpy.polynomial.hermite.hermgauss`` with z = √2 x and ν = w / √π; exact for polynomials of
degree ≤ 2n − 1). :func:`tensor_rule` is its product over q dimensions (n^q points), as
WeMix's ``makeAdaptedPts`` (Pinheiro & Chao 2006, p. 71) and lme4 build them.

The adaptive rule of a cluster with mode û and curvature H = CC' (C lower triangular) puts the
points at u_k = û + C^{-T} z_k and uses

    ∫ exp(h(u)) (2π)^{-q/2} du ≈ |C|^{-1} Σ_k ν_k exp(z_k'z_k / 2) exp(h(u_k)),

so the log weights used are a_k = log ν_k + z_k'z_k / 2 (:attr:`Rule.log_weights`). One point
(n = 1: z = 0, ν = 1) is the Laplace approximation.

References: Liu & Pierce (1994), Biometrika 81(3), 624–629; Pinheiro & Chao (2006), JCGS 15(1),
58–81; Rabe-Hesketh, Skrondal & Pickles (2005), J. Econometrics 128, 301–323.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = ["Rule", "normal_rule", "tensor_rule"]


@dataclass(frozen=True)
class Rule:
    """A q-dimensional rule: ``nodes`` (K, q), ``log_weights`` (K,) = log ν_k + z_k'z_k/2."""

    nodes: np.ndarray
    log_weights: np.ndarray

    @property
    def size(self) -> int:
        return len(self.log_weights)


@lru_cache(maxsize=64)
def normal_rule(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of the n-point Gauss–Hermite rule for the standard normal density."""
    if n == 1:
        return np.zeros(1), np.ones(1)
    x, w = np.polynomial.hermite.hermgauss(n)
    return np.sqrt(2.0) * x, w / np.sqrt(np.pi)


@lru_cache(maxsize=64)
def tensor_rule(n: int, q: int) -> Rule:
    """The product rule of :func:`normal_rule` over q dimensions (n^q points)."""
    z, nu = normal_rule(n)
    grids = np.meshgrid(*([z] * q), indexing="ij")
    wgrids = np.meshgrid(*([nu] * q), indexing="ij")
    nodes = np.column_stack([g.ravel() for g in grids])
    logw = np.sum([np.log(g.ravel()) for g in wgrids], axis=0) + 0.5 * np.sum(nodes ** 2, axis=1)
    nodes.flags.writeable = False
    logw.flags.writeable = False
    return Rule(nodes, logw)
