"""The tables of a design-based result, built in one pass over all ``by`` groups.

:func:`group_tables` stacks the pooled t-tables of every group (``by`` labels, ``term``, the
columns of :data:`lsa.pooling.TABLE_COLUMNS`, ``n_obs``, ``n_missing``, ``n_schools``, the
estimator's extras), the per-PV estimates and sampling SEs, and the total covariance of each
group. The columns are concatenated as arrays and made into one DataFrame each, so that a result
with C groups costs a constant number of pandas calls rather than C (or C × M) small frames: the
per-group work of ``by="CNT"`` over 80 countries is then numpy only. Values and column order are
those of a frame per group concatenated (the former implementation).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..pooling import Pooled, t_table

__all__ = ["Covariances", "group_tables"]

_CHUNK = 2000            # rows per stacked t-table (its diagonal covariance is chunk × chunk)


def group_tables(groups: Sequence[Any], pooled: Sequence[Pooled]
                 ) -> tuple[pd.DataFrame, pd.DataFrame, dict, np.ndarray]:
    """(table, per_pv, covariances by label tuple, sampling SE of every table row) of
    :class:`~lsa.estimators._core.GroupDraws` ``groups`` with their pooled results."""
    sizes = [len(g.terms) for g in groups]
    cols: dict[str, Any] = {}
    for key in dict.fromkeys(k for g in groups for k in g.labels):
        cols[key] = _repeat([g.labels.get(key, np.nan) for g in groups], sizes)
    cols["term"] = [t for g in groups for t in g.terms]
    cols.update(_stacked_t_table(pooled))
    cols["n_obs"] = np.concatenate([np.broadcast_to(g.n_obs, (k,)) for g, k in zip(groups, sizes)])
    cols["n_missing"] = np.concatenate([np.broadcast_to(g.n_missing, (k,)) for g, k in zip(groups, sizes)])
    cols["n_schools"] = np.repeat(np.array([g.n_schools for g in groups], dtype=float), sizes)
    for key in dict.fromkeys(k for g in groups for k in g.extra):
        cols[key] = [v for g, k in zip(groups, sizes) for v in _per_term(g.extra.get(key, np.nan), k)]
    table = pd.DataFrame(cols)
    sampling_se = np.concatenate([np.sqrt(np.abs(np.diag(p.within))) for p in pooled])

    m = [g.estimates.shape[0] for g in groups]
    per = {key: _repeat([g.labels.get(key, np.nan) for g in groups], [mi * k for mi, k in zip(m, sizes)])
           for key in cols if key in groups[0].labels}
    per["pv"] = np.concatenate([np.repeat(np.arange(1, mi + 1), k) for mi, k in zip(m, sizes)])
    per["term"] = [t for g, mi in zip(groups, m) for _ in range(mi) for t in g.terms]
    per["estimate"] = np.concatenate([np.ravel(g.estimates) for g in groups])
    per["sampling_se"] = np.concatenate([np.sqrt(np.diagonal(g.covariances, axis1=1, axis2=2)).ravel()
                                         for g in groups])
    covs = Covariances({tuple(g.labels.values()): (p.total, g.terms) for g, p in zip(groups, pooled)})
    return table, pd.DataFrame(per), covs, sampling_se


class Covariances(Mapping):
    """Group labels → total covariance DataFrame (terms × terms), each made when first read (a
    result over 80 countries then builds no frame that nobody looks at)."""

    def __init__(self, raw: dict) -> None:
        self._raw = raw
        self._frames: dict = {}

    def __getitem__(self, key) -> pd.DataFrame:
        if key not in self._frames:
            total, terms = self._raw[key]
            self._frames[key] = pd.DataFrame(total, index=terms, columns=terms)
        return self._frames[key]

    def __contains__(self, key) -> bool:
        return key in self._raw

    def __iter__(self):
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def __repr__(self) -> str:
        return f"Covariances({list(self._raw)})"


def _stacked_t_table(pooled: Sequence[Pooled]) -> dict[str, np.ndarray]:
    """:func:`lsa.pooling.t_table` of every group at once: estimates, total variances (the
    diagonal is all a t-table reads) and df stacked, in chunks of at most ``_CHUNK`` rows."""
    est = np.concatenate([np.asarray(p.estimate, float) for p in pooled])
    var = np.concatenate([np.diag(p.total) for p in pooled])
    df = np.concatenate([np.broadcast_to(np.asarray(p.df, float), np.shape(p.estimate)) for p in pooled])
    parts = []
    for a in range(0, len(est), _CHUNK):
        v = np.diag(var[a:a + _CHUNK])
        parts.append(t_table(Pooled(est[a:a + _CHUNK], v, np.zeros_like(v), v, df[a:a + _CHUNK], 1, np.inf)))
    out = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    return {c: out[c].to_numpy() for c in out.columns}


def _repeat(values: list, sizes: Sequence[int]) -> list:
    return [v for v, k in zip(values, sizes) for _ in range(k)]


def _per_term(value: Any, k: int) -> list:
    return [value] * k if np.ndim(value) == 0 else list(value)
