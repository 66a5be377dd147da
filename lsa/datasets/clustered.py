"""Teaching simulator: two-level data with a cluster-level treatment (cluster-randomised trial).

Model (total variance 1 when ``sd_ratio`` is 1)::

    y_ij = b0 + effect * treat_j + beta_w * w_j + beta_x * x_ij + u_j + e_ij,
    u_j ~ N(0, icc),  e_ij ~ N(0, (1 - icc) * s_j^2),  s_j = sd_ratio if treated else 1,

with ``x_ij ~ N(0, 1)`` a level-1 covariate, ``w_j ~ N(0, 1)`` a continuous cluster-level
covariate and ``treat_j`` a 0/1 cluster-level treatment given to ``round(treat_prop * G)``
clusters. Cluster sizes are equal, given, or drawn from a gamma distribution with mean
``cluster_size`` and coefficient of variation ``size_cv`` (unequal sizes lower the effective
number of clusters; Huang 2025, EPM). With ``effect = 0`` (and ``beta_w = 0``) every test of
``treat`` (and ``w``) is a test of a true null: the rejection rate is the type I error.
Used by ``docs/tutorials/few_clusters.py``.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import pandas as pd

from ..errors import LsaError

__all__ = ["cluster_sizes", "simulate_clustered"]


def cluster_sizes(n_clusters: int, cluster_size: int | Sequence[int] = 30, size_cv: float = 0.0,
                  min_size: int = 2, seed=None) -> np.ndarray:
    """Cluster sizes: ``cluster_size`` repeated (``size_cv = 0``), a given sequence, or gamma
    draws with mean ``cluster_size`` and coefficient of variation ``size_cv`` (rounded, at
    least ``min_size``)."""
    if n_clusters < 2:
        raise LsaError(f"n_clusters must be at least 2; got {n_clusters}")
    if not np.isscalar(cluster_size):
        sizes = np.asarray(cluster_size, dtype=int)
        if len(sizes) != n_clusters:
            raise LsaError(f"cluster_size has {len(sizes)} values for {n_clusters} clusters")
        if (sizes < 1).any():
            raise LsaError("cluster sizes must be >= 1")
        return sizes
    if cluster_size < 1:
        raise LsaError(f"cluster_size must be >= 1; got {cluster_size}")
    if size_cv < 0:
        raise LsaError(f"size_cv must be >= 0; got {size_cv}")
    if size_cv == 0:
        return np.full(n_clusters, int(cluster_size))
    rng = np.random.default_rng(seed)
    shape = 1.0 / size_cv**2
    draws = rng.gamma(shape, cluster_size / shape, n_clusters)
    return np.maximum(np.rint(draws).astype(int), min_size)


def simulate_clustered(
    n_clusters: int = 20,
    cluster_size: int | Sequence[int] = 30,
    icc: float = 0.1,
    effect: float = 0.0,
    seed=None,
    size_cv: float = 0.0,
    treat_prop: float = 0.5,
    assign: str | Callable = "random",
    beta_x: float = 0.5,
    beta_w: float = 0.0,
    sd_ratio: float = 1.0,
    intercept: float = 0.0,
) -> pd.DataFrame:
    """Simulate one two-level data set with a cluster-level treatment (module docstring).

    Parameters
    ----------
    n_clusters : number of clusters G (>= 2).
    cluster_size : common size, or a sequence of G sizes.
    icc : intra-class correlation of the outcome given the covariates, in [0, 1).
    effect : treatment effect (0 for type I error studies).
    seed : int, None or a ``numpy.random.Generator``.
    size_cv : coefficient of variation of gamma-distributed cluster sizes (0 = equal sizes).
    treat_prop : share of clusters treated (at least 1 treated and 1 control).
    assign : "random" (default), "largest" / "smallest" (the largest / smallest clusters are
        treated: few treated clusters of unusual size is where CR0/CR1 fail worst), or a
        function ``(rng, sizes) -> 0/1 array``.
    beta_x, beta_w : coefficients of the level-1 covariate ``x`` and level-2 covariate ``w``.
    sd_ratio : level-1 residual SD in treated clusters relative to control clusters
        (heteroskedasticity between groups; 1 = homoskedastic).
    intercept : b0.

    Returns
    -------
    DataFrame with columns ``cluster`` (1..G), ``y``, ``treat``, ``w``, ``x``, ``size``; the
    generating values are in ``df.attrs["truth"]``.

    >>> d = simulate_clustered(n_clusters=6, cluster_size=5, icc=0.2, seed=1)
    >>> d.shape, int(d.treat.sum() // 5)
    ((30, 6), 3)
    """
    if not 0 <= icc < 1:
        raise LsaError(f"icc must be in [0, 1); got {icc}")
    if not 0 < treat_prop < 1:
        raise LsaError(f"treat_prop must be in (0, 1); got {treat_prop}")
    if sd_ratio <= 0:
        raise LsaError(f"sd_ratio must be > 0; got {sd_ratio}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    sizes = cluster_sizes(n_clusters, cluster_size, size_cv, seed=rng)
    G = n_clusters
    n_treat = int(min(max(round(treat_prop * G), 1), G - 1))
    if callable(assign):
        treat = np.asarray(assign(rng, sizes), dtype=int)
        if treat.shape != (G,) or not set(np.unique(treat)) <= {0, 1}:
            raise LsaError("assign must return a 0/1 array with one value per cluster")
    elif assign == "random":
        treat = np.zeros(G, dtype=int)
        treat[rng.choice(G, n_treat, replace=False)] = 1
    elif assign in ("largest", "smallest"):
        order = np.argsort(-sizes if assign == "largest" else sizes, kind="stable")
        treat = np.zeros(G, dtype=int)
        treat[order[:n_treat]] = 1
    else:
        raise LsaError(f"assign must be 'random', 'largest', 'smallest' or a function; got {assign!r}")
    w = rng.normal(size=G)
    u = rng.normal(0.0, np.sqrt(icc), G)
    g = np.repeat(np.arange(G), sizes)
    n = int(sizes.sum())
    x = rng.normal(size=n)
    s = np.where(treat[g] == 1, sd_ratio, 1.0) * np.sqrt(1 - icc)
    e = rng.normal(size=n) * s
    y = intercept + effect * treat[g] + beta_w * w[g] + beta_x * x + u[g] + e
    df = pd.DataFrame({"cluster": g + 1, "y": y, "treat": treat[g], "w": w[g], "x": x,
                       "size": sizes[g]})
    df.attrs["truth"] = {"intercept": intercept, "treat": effect, "w": beta_w, "x": beta_x,
                         "icc": icc, "sd_ratio": sd_ratio}
    return df
