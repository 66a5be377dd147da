"""Replicate weights built from a design's first stage (``SurveyDesign.with_replicates``).

The first stage is the one of the Taylor linearisation (:mod:`lsa.taylor`): the top-level id as
PSU, nested within the design's strata. Each replicate multiplies the full weight w_i by a
factor a_ir; the variance is V = Σ_r c_r (θ_r − θ)(θ_r − θ)' (centred on the full-sample
estimate, survey's ``mse = TRUE``; :func:`lsa.replicates.replicate_variance`).

| method | replicates | a_ir | c_r | reference |
|---|---|---|---|---|
| ``"jk1"``, no strata | one per PSU j | 0 in j, n/(n − 1) elsewhere | (n − 1)/n | ``as.svrepdesign(type = "JK1")`` |
| ``"jk1"``, strata | one per PSU j of stratum h | 0 in j, n_h/(n_h − 1) in h's other PSUs, 1 elsewhere | (1 − f_h)(n_h − 1)/n_h | ``type = "JKn"`` |
| ``"jk2"`` | one per stratum of exactly 2 PSUs | 2 in its first PSU (sorted id), 0 in the second, 1 elsewhere | 1 | TIMSS/PIRLS JK2 (one half per zone) |
| ``"bootstrap"`` | ``replicates`` (default 100) | n_h/(n_h − 1) · k_hj, k_hj ~ the times PSU j is drawn in n_h − 1 draws with replacement | 1/R | Rao & Wu (1988), Rao, Wu & Yue (1992) |

Strata with one PSU follow the design's ``lonely_psu`` as ``survey::jknweights``: ``"remove"``
and ``"certainty"`` give them no replicate, ``"average"`` also scales every c_r by
P / (replicates), ``"adjust"`` gives one replicate that drops the lonely strata's rows and
multiplies all other rows by H/(H − 1), with c = (H − 1)/H. The bootstrap leaves a lonely
stratum's weights unchanged in every replicate (it adds nothing) and uses no fpc.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .errors import DesignError
from .replicates import Replicates
from .validation import check_choice, check_number

METHODS = ("jk1", "jk2", "bootstrap")


def replicate_columns(design, method: str, replicates: int | None = None, *, seed: Any = None,
                      prefix: str | None = None) -> tuple[pd.DataFrame, Replicates]:
    """The replicate weight columns ``<prefix>1..R`` (a DataFrame aligned with the design's data)
    and their :class:`~lsa.Replicates` scheme (see the module docstring);
    :meth:`lsa.SurveyDesign.with_replicates` adds them to a copy of the data. ``replicates`` and
    ``seed`` are for the bootstrap only; ``prefix`` defaults to ``"<METHOD>_"``."""
    check_choice(method, list(METHODS), "with_replicates: method")
    if design.replicates is not None:
        raise DesignError(f"with_replicates: the design already has replicate weights ({design.replicates.describe()}).")
    if design.variance_method != "taylor":
        raise DesignError("with_replicates needs the design's first stage: give ids= (the top-level id, e.g. the "
                          "school id) and optionally strata=.")
    if method != "bootstrap" and (replicates is not None or seed is not None):
        raise DesignError(f"with_replicates: replicates= and seed= are for method='bootstrap'; got method={method!r}.")
    prefix = f"{method.upper()}_" if prefix is None else prefix
    if not isinstance(prefix, str) or not prefix:
        raise DesignError(f"with_replicates: prefix must be a non-empty string; got {prefix!r}.")
    s = design.taylor()
    psu = np.empty(design.n, dtype=np.int64)
    psu[s.order] = np.repeat(np.arange(len(s.starts)), np.diff(np.r_[s.starts, design.n]))
    if method == "jk1":
        factors, c = _jackknife(s, psu)
    elif method == "jk2":
        factors, c = _jk2(s, psu, design.strata)
    else:
        factors, c = _bootstrap(s, psu, design.fpc, replicates, seed)
    cols = [f"{prefix}{r + 1}" for r in range(factors.shape[1])]
    clash = [col for col in cols if col in design.data.columns]
    if clash:
        raise DesignError(f"with_replicates: the data already have columns {clash[:3]}; pass another prefix=.")
    weights = pd.DataFrame(design.full_weight()[:, None] * factors, columns=cols, index=design.data.index)
    c = np.broadcast_to(np.asarray(c, dtype=float), (len(cols),))
    if np.all(c == c[0]):
        scheme = {"jk1": Replicates.jk1, "jk2": Replicates.jk2, "bootstrap": Replicates.bootstrap}[method](
            cols, factor=float(c[0]))
    else:
        scheme = Replicates(method, tuple(cols), float("nan"), rscales=tuple(c.tolist()))
    return weights, scheme


def _jackknife(s, psu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Delete-one-PSU factors (n, R) and c_r: JK1 (one stratum) or JKn (within strata)."""
    h_psu = s.stratum_of_psu
    n_h = s.n_psu[h_psu]
    keep = np.flatnonzero(n_h > 1)                         # PSUs of strata with more than one PSU
    h_row = h_psu[psu]
    a = np.where(h_row[:, None] == h_psu[keep][None, :], (s.n_psu[h_row] / np.maximum(s.n_psu[h_row] - 1, 1))[:, None],
                 1.0)
    a[psu[:, None] == keep[None, :]] = 0.0
    c = s.fraction[h_psu[keep]] * (n_h[keep] - 1) / n_h[keep]
    lonely = s.n_psu == 1
    if lonely.any():
        if s.lonely_psu == "average":
            c = c * len(h_psu) / len(keep)
        elif s.lonely_psu == "adjust":
            n_strata = len(s.n_psu)
            extra = np.where(lonely[h_row], 0.0, n_strata / (n_strata - 1))
            a = np.column_stack([a, extra])
            c = np.r_[c, (n_strata - 1) / n_strata]
    if a.shape[1] < 2:
        raise DesignError("with_replicates('jk1'): fewer than 2 replicates (every stratum has one PSU).")
    return a, c


def _jk2(s, psu: np.ndarray, strata: str | None) -> tuple[np.ndarray, float]:
    """One replicate per stratum of two PSUs: first PSU doubled, second dropped (factor 1)."""
    if strata is None or np.any(s.n_psu != 2):
        bad = [lab for lab, k in zip(s.strata, s.n_psu) if k != 2]
        raise DesignError("with_replicates('jk2') needs strata of exactly 2 PSUs (jackknife zones); "
                          + ("the design has no strata" if strata is None else
                             f"strata {strata} = {bad[:5]} have {sorted(set(s.n_psu[s.n_psu != 2].tolist()))} PSUs")
                          + "; use 'jk1' (delete one PSU within strata) instead.")
    h_row = s.stratum_of_psu[psu]
    first = np.r_[True, s.stratum_of_psu[1:] != s.stratum_of_psu[:-1]]        # first PSU of each stratum
    half = np.where(first[psu], 2.0, 0.0)
    a = np.where(h_row[:, None] == np.arange(len(s.n_psu))[None, :], half[:, None], 1.0)
    return a, 1.0


def _bootstrap(s, psu: np.ndarray, fpc, replicates, seed) -> tuple[np.ndarray, float]:
    """Rao–Wu rescaling bootstrap: n_h − 1 PSUs drawn with replacement within each stratum."""
    if fpc is not None:
        raise DesignError("with_replicates('bootstrap') does not use a finite-population correction; build the "
                          "design without fpc= or use 'jk1'.")
    r = 100 if replicates is None else int(check_number(replicates, "replicates", low=2, integer=True))
    if seed is not None and not isinstance(seed, (int, np.integer, np.random.SeedSequence)):
        raise DesignError(f"seed must be an integer (or None); got {seed!r}.")
    rng = np.random.default_rng(seed)
    a_psu = np.ones((len(s.stratum_of_psu), r))
    first = np.r_[0, np.cumsum(s.n_psu)[:-1]]
    for h, (start, n_h) in enumerate(zip(first, s.n_psu)):
        if n_h < 2:
            continue
        counts = rng.multinomial(n_h - 1, np.full(n_h, 1.0 / n_h), size=r)          # (R, n_h)
        a_psu[start:start + n_h] = (n_h / (n_h - 1) * counts).T
    return a_psu[psu], 1.0 / r
