"""The fits of :func:`lsa.mix_pv`: one per plausible value, and its replicate refits.

The engine's public steps are reused so that the M fits are cheap: the model frame and the
per-cluster sufficient statistics are built once when only the outcome changes between PVs (a
new PV changes only the y-parts, :meth:`lsa.mixed.ClusterStats.with_y`); every PV is fitted by
:func:`lsa.mixed.fit.fit_prepared` (identifiability, optimiser, boundary notes); every PV after
the first starts the optimiser at the first PV's θ̂, every replicate refit at its PV's θ̂
(:func:`lsa.mixed.replicate.refit_replicates`). The start of each fit does not depend on
``n_jobs``, so parallel and serial runs give identical results.
"""
from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass

import numpy as np

from lsa.errors import ConvergenceWarning, EstimationError, FormulaError, MissingDataWarning, warn
from lsa.mixed.fit import (MixedControl, build_stats, check_weighted_terms, domain_frame, fit_prepared,
                           level_weights)
from lsa.mixed.formula import parse_formula
from lsa.mixed.pv_formula import Draw, PVPlan, draw_frame
from lsa.mixed.pv_options import PVOptions
from lsa.mixed.replicate import refit_replicates
from lsa.mixed.results import MixedResult
from lsa.validation import numeric_column

__all__ = ["FitTask", "PVFit", "prepare_tasks", "fit_task", "run_tasks", "check_convergence", "Progress"]


@dataclass(frozen=True)
class FitTask:
    """Everything one worker needs to fit one PV (and its replicate refits)."""

    index: int
    draw: Draw
    parsed: object
    frame: object
    w: object
    stats: object
    start: tuple | None
    control: MixedControl
    replicates: np.ndarray | None       # replicate weights (n, R) in frame order, or None


@dataclass(frozen=True)
class PVFit:
    """The fit of one PV: the result, its replicate estimates (R, k) or None, the replicate
    refits (0-based) that did not converge."""

    index: int
    fit: MixedResult
    replicates: np.ndarray | None
    failed: tuple[int, ...]

    @property
    def converged(self) -> bool:
        return bool(self.fit.converged)


def prepare_tasks(plan: PVPlan, opts: PVOptions) -> tuple[list[FitTask], list[int]]:
    """One task per draw, and the rows each drops for missing values (warned about here).

    When only the outcome changes between PVs (and no PV has missing values) the first PV's
    frame, weights and statistics are reused with the new y. A domain keeps every row with
    level-1 weight 0 outside it (:mod:`lsa.model_inputs`); the rows counted as dropped are the
    domain's."""
    draws, inp = plan.draws, plan.inputs
    domain = None if plan.datasets else inp.domain
    only_y = not plan.datasets and all(len(d.alias) == (1 if d.alias and d.alias[0][0] == d.response else 0)
                                       for d in draws)
    pv_cols = [dict(d.alias).get(d.response, d.response) for d in draws]
    if only_y and len(draws) > 1:
        only_y = not inp.df[pv_cols].isna().to_numpy().any()
    tasks, dropped, base = [], [], None
    for k, d in enumerate(draws):
        if base is None or not only_y:
            parsed, frame, dm = draw_frame(d, plan.frame_data(k), inp.weights, domain)
            if domain is not None:
                frame = domain_frame(frame, inp.model)
            w = level_weights(frame, dm, inp.weights, inp.conditional, opts.scaling, domain)
            stats = build_stats(frame, w)
            if domain is not None:
                check_weighted_terms(frame, stats)
            base = (frame, w, stats)
        else:
            frame0, w, stats0 = base
            y = numeric_column(inp.df, pv_cols[k], "response")[frame0.order]     # text and inf: errors
            if not np.all(np.isfinite(y)):
                raise FormulaError(f"plausible value {pv_cols[k]!r} must be numeric and finite")
            parsed = dataclasses.replace(parse_formula(d.formula), formula=d.formula)
            frame = dataclasses.replace(frame0, y=y, response=d.response)
            stats = stats0.with_y(y)
        dropped.append(frame.n_dropped)
        reps = plan.replicate_weights[frame.order] if plan.replicate_weights is not None else None
        tasks.append(FitTask(k, d, parsed, frame, w, stats, None, opts.control, reps))
    if any(dropped):
        if len(set(dropped)) == 1:
            msg = f"{dropped[0]} row(s) with missing values in model variables or weights were removed"
        else:
            msg = ("rows with missing values were removed, differently per PV: "
                   + ", ".join(f"{d.label}: {n}" for d, n in zip(draws, dropped)))
        used = int(np.count_nonzero(tasks[0].w.w1 > 0)) if domain is not None else len(tasks[0].frame.y)
        warn(msg + f" ({used} used in the first PV)", MissingDataWarning)
    return tasks, dropped


def fit_task(task: FitTask) -> PVFit:
    """Fit one PV (:func:`lsa.mixed.fit.fit_prepared`: identifiability, optimiser, notes); with
    replicate weights, also refit it once per replicate weight set."""
    ctrl = task.control if task.start is None else dataclasses.replace(task.control, start=tuple(task.start))
    fit = fit_prepared(task.parsed, task.frame, task.w, task.stats, False, ctrl, warn_convergence=False)
    if task.replicates is None:
        return PVFit(task.index, fit, None, ())
    est, failed = refit_replicates(fit, task.frame, task.w, task.stats, task.replicates, task.control)
    return PVFit(task.index, fit, est, failed)


def run_tasks(tasks: list[FitTask], opts: PVOptions) -> list[PVFit]:
    """Fit the first PV, then the others started at its θ̂ (serially or with joblib)."""
    n_rep = 0 if tasks[0].replicates is None else tasks[0].replicates.shape[1]
    total = len(tasks) * (1 + n_rep)
    bar = Progress(total, bool(opts.progress if opts.progress is not None else total > 20))
    out: list[PVFit | None] = [None] * len(tasks)
    out[0] = fit_task(tasks[0])
    bar.update(1 + n_rep)
    start = tuple(out[0].fit.theta.to_numpy())
    rest = [dataclasses.replace(t, start=start) for t in tasks[1:]]
    if opts.n_jobs == 1 or len(rest) <= 1:
        results = map(fit_task, rest)
    else:
        from joblib import Parallel, delayed
        results = Parallel(n_jobs=opts.n_jobs, return_as="generator")(delayed(fit_task)(t) for t in rest)
    for res in results:
        out[res.index] = res
        bar.update(1 + n_rep)
    bar.close()
    return out


def check_convergence(fits: list[PVFit], draws: tuple[Draw, ...], opts: PVOptions) -> list[int]:
    """The draws to pool: a PV fit that did not converge raises, is kept with a warning or is
    left out with one (``nonconverged``); replicate refits that did not converge are warned
    about. Returns the indices of the fits kept."""
    m = len(fits)
    bad = [k for k in range(m) if not fits[k].converged]
    keep = list(range(m))
    if bad:
        names = [draws[k].label for k in bad]
        if opts.nonconverged == "error":
            raise EstimationError(f"the fit did not converge for plausible value(s) {names}; not pooled. "
                                  f"Pass nonconverged='warn' to pool anyway or 'drop' to leave them out, "
                                  f"or adjust control=MixedControl(...)")
        drop = opts.nonconverged == "drop"
        warn(f"the fit did not converge for plausible value(s) {names}"
             + ("; they were left out of the pooling" if drop else "; pooled anyway"), ConvergenceWarning)
        if drop:
            keep = [k for k in range(m) if k not in bad]
            if len(keep) < (1 if opts.allow_single else 2):
                raise EstimationError(f"too few converged plausible values to pool: {len(keep)} of {m}")
    rep_failed = [(draws[k].label, fits[k].failed) for k in keep if fits[k].failed]
    if rep_failed:
        warn("replicate refits did not converge (PV: replicate numbers, 1-based): "
             + "; ".join(f"{lab}: {[r + 1 for r in f][:10]}" for lab, f in rep_failed), ConvergenceWarning)
    return keep


class Progress:
    """A one-line progress counter on stderr."""

    def __init__(self, total: int, show: bool, what: str = "fits"):
        self.total, self.show, self.what = total, show, what
        self.done = 0
        self.t0 = time.perf_counter()

    def update(self, k: int = 1) -> None:
        self.done += k
        if self.show:
            el = time.perf_counter() - self.t0
            sys.stderr.write(f"\rmix_pv: {self.done}/{self.total} {self.what} ({el:.1f} s)")
            sys.stderr.flush()

    def close(self) -> None:
        if self.show:
            sys.stderr.write("\n")
            sys.stderr.flush()
