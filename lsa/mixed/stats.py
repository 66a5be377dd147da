"""Per-cluster sufficient statistics of the weighted linear mixed model.

For a nested model with levels 1 (observations), 2, ..., L and random-effect designs
Z_2, ..., Z_L, every quantity of the pseudo-likelihood depends on the data only through, for
each level-2 cluster j, the weighted cross-product matrix of v_i = [z_2i, ..., z_Li, x_i, y_i]

    S_j = Σ_{i∈j} w_{i|j} v_i v_i'          (m × m, m = q_2 + ... + q_L + p + 1)

(it holds Σ w x x', Σ w x z', Σ w z z', Σ w x y, Σ w z y, Σ w y²) and n*_j = Σ_i w_{i|j},
plus the conditional weights of the groups, w_{j|k} (level 2 in level 3, ...) and the top-level
weights w_k. They are computed once per weight set; a new outcome (plausible value) changes the
last row/column only (:meth:`ClusterStats.with_y`), a new weight set everything
(:meth:`ClusterStats.with_weights`). Both return new objects; nothing is mutated.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Hierarchy", "ClusterStats", "build_stats", "cluster_stats", "group_sum", "positive_groups"]


def group_sum(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Sum consecutive runs of ``values`` (first axis) beginning at ``starts``."""
    return np.add.reduceat(values, starts, axis=0)


@dataclass(frozen=True)
class Hierarchy:
    """Nested groups, bottom-up. Level index 0 is level 2 (the clusters of observations).

    ``starts[0]`` : first row of every level-2 cluster (rows sorted by cluster);
    ``starts[l]`` (l ≥ 1): first level-(l+1) group of every level-(l+2) group;
    ``top[l]`` : index of the top-level group that holds each group of level index l;
    ``ngroups[l]`` : number of groups.
    """

    starts: tuple[np.ndarray, ...]
    top: tuple[np.ndarray, ...]
    ngroups: tuple[int, ...]

    @classmethod
    def from_codes(cls, codes: tuple[np.ndarray, ...]) -> "Hierarchy":
        """Build from per-row group codes (bottom-up, rows sorted, codes consecutive)."""
        first_rows = [np.flatnonzero(np.r_[True, c[1:] != c[:-1]]) for c in codes]
        starts = [first_rows[0]]
        for k in range(1, len(codes)):
            parent_of_lower = codes[k][first_rows[k - 1]]          # group k-1 → group k
            starts.append(np.flatnonzero(np.r_[True, parent_of_lower[1:] != parent_of_lower[:-1]]))
        top = tuple(codes[-1][fr] for fr in first_rows)
        return cls(tuple(starts), top, tuple(int(c[-1]) + 1 for c in codes))

    @property
    def nlevels(self) -> int:
        return len(self.ngroups)


@dataclass(frozen=True)
class ClusterStats:
    """Sufficient statistics for one outcome and one weight set (see module docstring).

    Attributes
    ----------
    S : (J, m, m) per level-2 cluster cross-products of [Z_2..Z_L, X, y], conditional weights.
    nstar : (J,) Σ_i w_{i|j}.
    weights : per level (2..L) group weights: conditional on the parent group, top level
        unconditional; arrays of length ngroups[l].
    q : random effects per level; p : fixed effects.
    hierarchy : the nesting (:class:`Hierarchy`).
    V : (n, m) row data [Z, X, y] (kept for ``with_y`` / ``with_weights``); w1 : (n,) w_{i|j}.
    """

    S: np.ndarray
    nstar: np.ndarray
    weights: tuple[np.ndarray, ...]
    q: tuple[int, ...]
    p: int
    hierarchy: Hierarchy
    V: np.ndarray
    w1: np.ndarray

    @property
    def m(self) -> int:
        return self.S.shape[1]

    @property
    def total_weight(self) -> float:
        """N = Σ of unconditional level-1 weights = Σ_j w_j n*_j."""
        return float(np.sum(self.unconditional(0) * self.nstar))

    def unconditional(self, level: int) -> np.ndarray:
        """Unconditional weight of each group of level index ``level`` (product up the tree)."""
        w = self.weights[level].copy()
        idx = np.arange(len(w))
        for k in range(level + 1, self.hierarchy.nlevels):
            parent = _parent_index(self.hierarchy, k - 1)[idx]
            w = w * self.weights[k][parent]
            idx = parent
        return w

    def with_y(self, y: np.ndarray) -> "ClusterStats":
        """The same statistics for a new outcome y (rows in the model-frame order)."""
        V = self.V.copy()
        V[:, -1] = y
        return cluster_stats(V, self.w1, self.weights, self.q, self.p, self.hierarchy)

    def with_weights(self, w1: np.ndarray, weights: tuple[np.ndarray, ...]) -> "ClusterStats":
        """The same statistics for new conditional weights (level 1 by row, groups by level)."""
        return cluster_stats(self.V, w1, weights, self.q, self.p, self.hierarchy)


def _parent_index(h: Hierarchy, level: int) -> np.ndarray:
    """Parent (level index ``level``+1) of every group at ``level``."""
    st = h.starts[level + 1]
    out = np.zeros(h.ngroups[level], dtype=int)
    out[st[1:]] = 1
    return np.cumsum(out)


def parent_index(h: Hierarchy, level: int) -> np.ndarray:
    """Public alias of the parent map of groups at level index ``level``."""
    return _parent_index(h, level)


def _cross_products(V: np.ndarray, w: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Σ_i w_i v_i v_i' per cluster, in row chunks (memory O(chunk · m²))."""
    n, m = V.shape
    J = len(starts)
    S = np.zeros((J, m, m))
    cluster = np.zeros(n, dtype=int)
    cluster[starts[1:]] = 1
    cluster = np.cumsum(cluster)
    chunk = max(1, 2_000_000 // (m * m))
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        prod = np.einsum("i,ij,ik->ijk", w[a:b], V[a:b], V[a:b])
        c = cluster[a:b]
        loc = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
        S[c[loc]] += np.add.reduceat(prod, loc, axis=0)
    return S


def cluster_stats(V: np.ndarray, w1: np.ndarray, weights: tuple[np.ndarray, ...],
                  q: tuple[int, ...], p: int, hierarchy: Hierarchy) -> ClusterStats:
    """Compute :class:`ClusterStats` from row data V = [Z_2..Z_L, X, y] (rows sorted by
    cluster) and conditional level-1 weights ``w1``."""
    V = np.ascontiguousarray(V, dtype=float)
    w1 = np.asarray(w1, dtype=float)
    S = _cross_products(V, w1, hierarchy.starts[0])
    nstar = group_sum(w1, hierarchy.starts[0])
    return ClusterStats(S, nstar, tuple(np.asarray(w, float) for w in weights), tuple(q), p,
                        hierarchy, V, w1)


def positive_groups(stats: ClusterStats) -> tuple[int, ...]:
    """Number of groups per level (level 2 first) holding a row of positive level-1 weight:
    the groups a domain leaves in the fit (:mod:`lsa.model_inputs`). The observation and group
    counts of the identifiability check and of the result count these only."""
    h = stats.hierarchy
    pos = (stats.nstar > 0).astype(float)
    out = [int(np.count_nonzero(pos))]
    for k in range(1, h.nlevels):
        pos = group_sum(pos, h.starts[k])
        out.append(int(np.count_nonzero(pos)))
    return tuple(out)


def build_stats(frame, w) -> ClusterStats:
    """The :class:`ClusterStats` of a model frame (:func:`lsa.mixed.formula.model_frame`) with its
    level weights (:class:`lsa.mixed.fit.LevelWeights`): per-cluster sufficient statistics of
    [Z_2..Z_L, X, y] with the conditional weights."""
    V = np.column_stack(list(frame.Z) + [frame.X, frame.y])
    q = tuple(z.shape[1] for z in frame.Z)
    return cluster_stats(V, w.w1, w.groups, q, frame.X.shape[1], Hierarchy.from_codes(frame.codes))
