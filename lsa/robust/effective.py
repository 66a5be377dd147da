"""Effective number of clusters and a warning helper (Huang 2025, EPM; spec section 11).

* Simple (design-based; Potthoff, Woodbury & Manton 1992): ``G* = (sum_g N_g)^2 / sum_g N_g^2``.
* Coefficient-specific (Carter, Schnepel & Steigerwald 2017, REStat 99:698; Huang's
  ``fhutils::effclust``): with ``B = (X'X)^{-1}`` (unweighted X) and cluster g,
  ``gamma_g = (e_c' B X_g' 1)^2`` (worst case: within-cluster error correlation 1),
  ``Gamma = mean_g ((gamma_g - mean gamma) / mean gamma)^2`` and ``G*_c = G / (1 + Gamma)``.

With few effective clusters CR0/CR1 under-cover; use CR2 or CR3 with Satterthwaite df
(Huang 2025; Pustejovsky & Tipton 2018).
"""

from __future__ import annotations


import numpy as np
import pandas as pd

from .. import errors
from ..errors import LsaError, LsaWarning
from ..validation import check_formula, check_frame, check_number
from .blocks import cluster_codes
from .checks import column_or_values
from .clustered import ClusteredResult
from .formula import build_design
from .gstar import effective_clusters_from_blocks, g_star


class FewClustersWarning(LsaWarning):
    """Some coefficients have a small effective number of clusters."""


def effective_clusters_simple(cluster) -> float:
    """``(sum N_g)^2 / sum N_g^2`` from a vector of cluster ids (missing ids are an error)."""
    codes, _ = cluster_codes(cluster)
    n_g = np.bincount(codes).astype(float)
    return float(n_g.sum() ** 2 / np.sum(n_g**2))


def effective_clusters(model, data: pd.DataFrame | None = None, cluster=None) -> pd.Series:
    """Coefficient-specific effective number of clusters (Carter, Schnepel & Steigerwald 2017).

    ``model`` is a formula (with ``data`` and ``cluster``) or a :class:`ClusteredResult`.
    Returns a Series of ``G*_c`` indexed by term.

    >>> import pandas as pd
    >>> d = pd.DataFrame({"y": range(6), "x": [1., 2, 3, 1, 5, 2], "g": [1, 1, 2, 2, 3, 3]})
    >>> round(float(effective_clusters("y ~ x", d, "g")["x"]), 6) <= 3
    True
    """
    if isinstance(model, ClusteredResult):
        return effective_clusters_from_blocks(model.blocks)
    check_formula(model, "model")
    if data is None:
        raise LsaError("effective_clusters: model is a formula, so data (and cluster) must be given")
    data = check_frame(data, "data").reset_index(drop=True)
    name, cl = column_or_values(cluster, data, "cluster")
    design = build_design(model, data)
    codes, _ = cluster_codes(cl[design.rows], name)
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    blocks = [design.X[i] for i in np.split(order, bounds)]
    return g_star(blocks, design.terms)


def check_effective_clusters(g_star: pd.Series, threshold: float = 30.0, warn: bool = True) -> pd.DataFrame:
    """Flag coefficients whose effective number of clusters is below ``threshold``
    (Huang 2025 suggests trouble below about 20-30).

    Returns a DataFrame (term, G_star, flagged); if any are flagged and ``warn`` is True a
    :class:`FewClustersWarning` recommends CR2 or CR3 with Satterthwaite df.
    """
    if not isinstance(g_star, pd.Series):
        raise LsaError(f"g_star must be the Series returned by effective_clusters; got {type(g_star).__name__}")
    check_number(threshold, "threshold", low=0, low_open=True)
    tab = pd.DataFrame({"term": g_star.index, "G_star": g_star.to_numpy()})
    tab["flagged"] = tab["G_star"] < threshold
    if warn and tab["flagged"].any():
        few = ", ".join(f"{t} (G* = {g:.1f})" for t, g in tab.loc[tab.flagged, ["term", "G_star"]].to_numpy())
        errors.warn(
            f"small effective number of clusters (< {threshold:g}) for: {few}. CR0/CR1 tests "
            "over-reject here; use type='CR2' (or 'CR3') with df_method='satterthwaite'.",
            FewClustersWarning
        )
    return tab
