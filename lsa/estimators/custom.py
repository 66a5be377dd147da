"""Any user statistic with the design's replicate and plausible-value variance (survey's
``withReplicates``, BIFIEsurvey's ``BIFIE.by``)."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import pandas as pd

from ..design import SurveyDesign
from ..errors import EstimationError
from ._core import DesignResult, DfMethod, Draws, over_completed, run_by_groups


@over_completed
def estimate(design: SurveyDesign, statistic: Callable[[pd.DataFrame, np.ndarray], np.ndarray], *,
             terms: Sequence[str] | None = None, by=None, df_method: DfMethod = "barnard_rubin") -> DesignResult:
    """Evaluate ``statistic(data, weights)`` for every PV and weight column and pool.

    ``statistic`` receives the data (each PV-set name holding the current PV as a column) and
    the n × C weight matrix (full weight first, then replicates; zero outside the domain and
    group), and returns a C × k array: the k statistics for every weight column. Vectorise it
    over the columns (e.g. ``y @ w / w.sum(0)``) and it costs one pass per PV.

    Examples
    --------
    >>> ratio = lambda d, w: ((d["MATH"].to_numpy() @ w) / (d["READ"].to_numpy() @ w))[:, None]
    >>> lsa.estimate(design, ratio, terms=["MATH/READ"])                     # doctest: +SKIP
    """
    m = design.n_pvs
    frames = [design.data.assign(**{name: design.data[cols[i]] for name, cols in design.pvs.items()})
              for i in range(m)]

    def compute(w: np.ndarray) -> Draws:
        theta = np.stack([np.asarray(statistic(f, w), dtype=float) for f in frames])
        if theta.ndim == 2:
            theta = theta[..., None]
        if theta.shape[1] != w.shape[1]:
            raise EstimationError(f"statistic must return one row per weight column ({w.shape[1]}); got shape {theta.shape[1:]}.")
        k = theta.shape[2]
        names = list(terms) if terms is not None else [f"stat{j + 1}" for j in range(k)]
        if len(names) != k:
            raise EstimationError(f"{len(names)} terms given for {k} statistics.")
        n = int((w[:, 0] > 0).sum())
        return Draws(theta, names, np.full(k, n), np.zeros(k, dtype=int), design.df)

    return run_by_groups(design, by, compute, statistic="User statistic", df_method=df_method)
