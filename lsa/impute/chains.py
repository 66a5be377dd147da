"""The chains: one per (PV, imputation), their seeds, parallel execution and progress.

A chain imputes the tables of one PV (:mod:`lsa.impute.tables`) with one kernel per table
(:class:`lsa.impute.kernel.TableKernel`). One iteration updates the cluster table and then the
student table:

1. the cluster means of the level-1 variables are recomputed from the current completed
   student table and written into the cluster table; the cluster table's variables are imputed;
2. the current level-2 values are spread to the rows of the student table, the cluster means
   are written into it again, and the student table's variables are imputed.

The cluster means are thus recomputed from the current completed values at every iteration
(mice's ``type = 3`` predictors). After every iteration (and for the starting values) the mean
and SD of the imputed values of every traced series are recorded: ``trace`` has shape
(iterations + 1, series, 2) per chain, the input of :mod:`lsa.impute.convergence`.

Seeds: one ``numpy.random.SeedSequence(seed)`` is spawned into one child per chain (PV-major
order) and each child gives the random states of the chain's two kernels, so the completed data
do not depend on ``n_jobs`` or on the order in which joblib finishes the chains.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ..parallel import run
from ..progress import progress_bar
from .kernel import TableKernel, quiet
from .norm import norm_variables
from .tables import Tables, cluster_means

__all__ = ["run_chain", "run_chains"]

Chain = tuple[dict[str, pd.Series], np.ndarray]


def _stats(values: pd.Series, level) -> tuple[float, float]:
    """Mean and SD of imputed values (of the indicator of ``level`` for a categorical series)."""
    if level is None:
        v = values.to_numpy(dtype=float)
    else:
        v = (values.astype(object) == level).to_numpy(dtype=float)
    if len(v) == 0:
        return np.nan, np.nan
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0


def run_chain(t: Tables, iterations: int, seed_state: np.ndarray, lgb1: dict, lgb2: dict, mmc: int,
              bootstrap: bool = True, numeric: str = "norm") -> Chain:
    """One chain: returns {internal var: imputed values at its missing positions} and the trace
    (iterations + 1, n_series, 2)."""
    s1, s2 = int(seed_state[0]), int(seed_state[1])
    norm1 = norm_variables(t.l1, t.imputed1) if numeric == "norm" else []
    norm2 = norm_variables(t.l2, t.imputed2) if numeric == "norm" else []
    k1 = (TableKernel(t.l1, t.schema1, lgb=lgb1, mean_match_candidates=mmc, seed=s1,
                      groups=t.codes if bootstrap else None, norm=norm1) if t.imputed1 else None)
    k2 = (TableKernel(t.l2, t.schema2, lgb=lgb2, mean_match_candidates=mmc, seed=s2,
                      groups=np.arange(len(t.l2)) if bootstrap else None, norm=norm2) if t.imputed2 else None)
    trace = np.full((iterations + 1, len(t.series), 2), np.nan)
    with quiet():
        return _iterate(t, k1, k2, iterations, trace)


def _iterate(t: Tables, k1: TableKernel | None, k2: TableKernel | None, iterations: int, trace: np.ndarray) -> Chain:
    ncl = len(t.l2)

    def record(it):
        for j, (nm, lev) in enumerate(t.series):
            vals = k1.imputed(nm, it) if nm in t.imputed1 else k2.imputed(nm, it)
            trace[it, j] = _stats(vals, lev)

    record(0)
    for it in range(1, iterations + 1):
        c1 = k1.completed() if k1 is not None else t.l1
        if k2 is not None:
            for nm in t.imputed1:  # cluster means of the current level-1 values
                vals = cluster_means(c1[nm], t.codes, ncl)
                for k, col in enumerate(t.cm[nm]):
                    k2.set_column(col, vals[:, k])
            k2.iterate()
        if k1 is not None:
            c2 = k2.completed() if k2 is not None else t.l2
            for nm in t.imputed2:
                k1.set_column(nm, c2[nm].iloc[t.codes].reset_index(drop=True))
            for nm in t.imputed1:
                vals = cluster_means(c1[nm], t.codes, ncl)
                for k, col in enumerate(t.cm[nm]):
                    k1.set_column(col, vals[t.codes, k])
            k1.iterate()
        record(it)
    out = {}
    for nm in t.imputed1:
        out[nm] = k1.imputed(nm)
    for nm in t.imputed2:
        out[nm] = k2.imputed(nm)
    return out, trace


def chain_task(task: tuple, tables: Sequence[Tables], settings: tuple):
    """One chain: ``task`` = (PV number, imputation number, seed state); ``tables`` and
    ``settings`` (iterations, lgb1, lgb2, mmc, bootstrap, numeric) are shared by all chains
    (:func:`lsa.parallel.run` sends them once)."""
    pv_no, imp_no, seed_state = task
    out, trace = run_chain(tables[pv_no], settings[0], seed_state, *settings[1:])
    return pv_no, imp_no, out, trace


def run_chains(tables: Sequence[Tables], m: int, *, seed: int | None, iterations: int, lgb1: dict, lgb2: dict,
               mean_match_candidates: int, bootstrap: bool, numeric: str, n_jobs: int, progress: bool,
               with_pvs: bool) -> tuple[list[tuple[int, int]], list[Chain], int | None]:
    """Run the M·m chains (``tables`` holds one entry per PV, m chains each), in parallel over
    ``n_jobs`` joblib workers under the active joblib backend (:mod:`lsa.parallel`), with a
    progress line on stderr.

    Returns the (PV, imputation) numbers (0-based, PV-major), the chains' results in that order
    and the entropy of the seed sequence (to reproduce a run without a seed)."""
    n_pv = len(tables)
    children = np.random.SeedSequence(seed).spawn(n_pv * m)
    entropy = children[0].entropy if children else seed
    tasks = [(p, i) for p in range(n_pv) for i in range(m)]
    results: dict[tuple[int, int], Chain] = {}

    bar = progress_bar(len(tasks), progress, "imputing", unit="chain")

    def report(done):
        p, i = done
        bar.set_postfix_str((f"PV {p + 1}/{n_pv}, " if with_pvs else "") + f"imputation {i + 1}/{m} done",
                            refresh=False)
        bar.update(1)

    args = [(p, i, children[p * m + i].generate_state(2)) for p, i in tasks]
    labels = [(f"PV {p + 1}, " if with_pvs else "") + f"imputation {i + 1}" for p, i in tasks]
    settings = (iterations, lgb1, lgb2, mean_match_candidates, bootstrap, numeric)
    done = run(chain_task, args, labels, n_jobs=n_jobs, shared=(tuple(tables), settings), ordered=False)
    for _, (p, i, out, tr) in done:
        results[(p, i)] = (out, tr)
        report((p, i))
    bar.close()
    return tasks, [results[task] for task in tasks], entropy
