"""The coefficient-specific effective number of clusters G* (Carter, Schnepel & Steigerwald 2017).

The arithmetic shared by :class:`lsa.robust.ClusteredResult` and :mod:`lsa.robust.effective`
(kept here, below both, so that neither imports the other in a cycle).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .blocks import ClusterBlocks

__all__ = ["g_star", "effective_clusters_from_blocks"]


def g_star(X_blocks, terms) -> pd.Series:
    """``G*_c = G / (1 + Γ_c)`` from the design blocks ``X_g`` of the G clusters, with
    ``γ_gc = (e_c' (X'X)^{-1} X_g' 1)²`` and ``Γ_c`` the mean of ``((γ_gc − γ̄_c) / γ̄_c)²``
    (Carter, Schnepel & Steigerwald 2017)."""
    Xall = np.vstack(X_blocks)
    B = np.linalg.inv(Xall.T @ Xall)
    S = np.vstack([x.sum(axis=0) for x in X_blocks])  # G x p: X_g' 1
    gamma = (S @ B) ** 2  # G x p
    gbar = gamma.mean(axis=0)
    Gam = np.mean(((gamma - gbar) / gbar) ** 2, axis=0)
    G = len(X_blocks)
    return pd.Series(G / (1 + Gam), index=list(terms), name="G_star")


def effective_clusters_from_blocks(b: ClusterBlocks) -> pd.Series:
    """Coefficient-specific G* from a fitted result's blocks (uses the unweighted design)."""
    return g_star(b.X_raw, b.terms)
