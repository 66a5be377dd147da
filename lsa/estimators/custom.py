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
    if not callable(statistic):
        raise EstimationError(f"statistic must be a function statistic(data, weights) returning a C × k array; "
                              f"got {type(statistic).__name__} {statistic!r:.60}.")
    if terms is not None and (isinstance(terms, str) or not all(isinstance(t, str) for t in terms)):
        raise EstimationError(f"terms must be a list of term names (strings); got {terms!r:.80}.")
    m = design.n_pvs
    frames = [design.data.assign(**{name: design.data[cols[i]] for name, cols in design.pvs.items()})
              for i in range(m)]

    def compute(w: np.ndarray) -> Draws:
        draws = [_one_draw(statistic, f, w) for f in frames]
        if len({d.shape for d in draws}) > 1:
            raise EstimationError(f"statistic returned arrays of different shapes for different plausible values: "
                                  f"{[d.shape for d in draws]}.")
        theta = np.stack(draws)
        k = theta.shape[2]
        names = list(terms) if terms is not None else [f"stat{j + 1}" for j in range(k)]
        if len(names) != k:
            raise EstimationError(f"{len(names)} terms given for {k} statistics.")
        n = int((w[:, 0] > 0).sum())
        return Draws(theta, names, np.full(k, n), np.zeros(k, dtype=int), design.df)

    return run_by_groups(design, by, compute, statistic="User statistic", df_method=df_method)


def _one_draw(statistic: Callable, frame: pd.DataFrame, w: np.ndarray) -> np.ndarray:
    """The user's statistic for one PV as a (C, k) float array; a wrong shape, text or inf is an
    error naming what came back (NaN is allowed: an undefined statistic, reported as missing)."""
    out = statistic(frame, w)
    try:
        arr = np.asarray(out, dtype=float)
    except (TypeError, ValueError) as exc:
        raise EstimationError(f"statistic must return numbers (a C × k array); got {type(out).__name__}: {exc}.") from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] != w.shape[1]:
        raise EstimationError(f"statistic must return one row per weight column: shape ({w.shape[1]}, k) or "
                              f"({w.shape[1]},); got shape {arr.shape}.")
    if np.isinf(arr).any():
        raise EstimationError(f"statistic returned {int(np.isinf(arr).sum())} infinite value(s) (inf/-inf); "
                              f"check for a division by zero or log(0).")
    return arr
