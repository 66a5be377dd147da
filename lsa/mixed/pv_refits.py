"""The fits of :func:`lsa.mix_pv`: one per plausible value, and its replicate refits.

The engine's public steps are reused so that the M fits are cheap: the model frame and the
per-cluster sufficient statistics are built once when only the outcome changes between PVs (a
new PV changes only the y-parts, :meth:`lsa.mixed.ClusterStats.with_y`); every PV is fitted by
:func:`lsa.mixed.fit.fit_prepared` (identifiability, optimiser, boundary notes); every PV after
the first starts the optimiser at the first PV's θ̂, every replicate refit at its PV's θ̂
(:func:`lsa.mixed.replicate.refit_replicates`). The start of each fit does not depend on
``n_jobs``, so parallel and serial runs give identical results.

The loop runs through :func:`lsa.parallel.run` under any joblib backend (Dask included). What
all PV fits share — the first PV's model frame, level weights and statistics, the replicate
weight matrix — travels once per run as a :class:`SharedData` argument (sent once to a Dask
cluster); a task whose frame differs from the first PV's only in y carries just that y, and the
worker rebuilds its statistics (``ClusterStats.with_y``).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from lsa.errors import ConvergenceWarning, EstimationError, FormulaError, MissingDataWarning, warn
from lsa.mixed.fit import (MixedControl, build_stats, check_weighted_terms, domain_frame, fit_prepared,
                           level_weights)
from lsa.mixed.formula import parse_formula
from lsa.mixed.glmm_family import with_response
from lsa.mixed.pv_formula import Draw, PVPlan, draw_frame, has_ident
from lsa.mixed.pv_options import PVOptions
from lsa.mixed.replicate import refit_replicates
from lsa.mixed.results import MixedResult
from lsa.parallel import run
from lsa.progress import progress_bar, wants_progress
from lsa.validation import numeric_column

__all__ = ["FitTask", "PVFit", "SharedData", "prepare_tasks", "fit_task", "run_tasks", "check_convergence"]


@dataclass(frozen=True)
class FitTask:
    """Everything one worker needs to fit one PV (and its replicate refits); ``frame``, ``w``,
    ``stats`` and ``replicates`` left ``None`` are the :class:`SharedData`'s (with outcome ``y``)."""

    index: int
    draw: Draw
    parsed: object
    frame: object
    w: object
    stats: object
    start: tuple | None
    control: MixedControl
    replicates: np.ndarray | None       # replicate weights (n, R) in frame order, or None
    glmm: tuple | None = None           # (family, link, n_quad) of a GLMM, None for the linear model
    y: np.ndarray | None = None         # the outcome, when frame and stats are the shared ones


@dataclass(frozen=True, eq=False)
class SharedData:
    """What the tasks of a run share (the first PV's frame, level weights and statistics, the
    replicate weights), passed to every task as one argument so that :func:`lsa.parallel.run`
    sends it once; ``__sizeof__`` reports its arrays' bytes (what Dask's memory accounting reads)."""

    frame: object
    w: object
    stats: object
    replicates: np.ndarray | None

    def __sizeof__(self) -> int:
        arrays = [self.replicates, self.stats.S, self.stats.V, self.frame.y]
        return sum(int(getattr(a, "nbytes", 0)) for a in arrays if a is not None) + 64

    def complete(self, task: FitTask) -> FitTask:
        """``task`` with its missing parts taken from here (statistics rebuilt for its y)."""
        if task.frame is not None and task.replicates is not None:
            return task
        frame, stats = task.frame, task.stats
        if frame is None:
            frame = dataclasses.replace(self.frame, y=task.y, response=task.draw.response)
            stats = self.stats.with_y(task.y)
        reps = task.replicates if task.replicates is not None else self.replicates
        return dataclasses.replace(task, frame=frame, w=task.w if task.w is not None else self.w, stats=stats,
                                   replicates=reps, y=None)


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
    domain = None if plan.datasets or not inp.has_domain else inp.domain
    only_y = not plan.datasets and all(_outcome_only(d) for d in draws)
    pv_cols = [dict(d.alias).get(d.response, d.response) for d in draws]
    if only_y and len(draws) > 1:
        used = list(dict.fromkeys(c for d in draws for c in ([c for _, c in d.alias] or [d.response])))
        only_y = not inp.data[used].isna().to_numpy().any()
    tasks, dropped, base, reps, order = [], [], None, None, None
    glmm = None if opts.family == "gaussian" else (opts.family, opts.link, opts.n_quad)
    for k, d in enumerate(draws):
        if base is None or not only_y:
            parsed, frame, dm = draw_frame(d, plan.frame_data(k), inp.weights, domain)
            if domain is not None:
                frame = domain_frame(frame, inp)
            w = level_weights(frame, dm, inp.weights, inp.conditional, opts.scaling, domain)
            stats = build_stats(frame, w)
            if domain is not None:
                check_weighted_terms(frame, stats)
            base = (frame, w, stats)
        else:
            frame0, w, stats0 = base
            if pv_cols[k] in inp.data.columns:
                y = numeric_column(inp.data, pv_cols[k], "response")[frame0.order]     # text and inf: errors
            else:                                   # I(expr) of this draw's PVs
                dm = inp.data.assign(**{a: inp.data[c] for a, c in d.alias})
                y = with_response(dm, d.response)[d.response].to_numpy(dtype=float)[frame0.order]
            if not np.all(np.isfinite(y)):
                raise FormulaError(f"plausible value {pv_cols[k]!r} must be numeric and finite")
            parsed = dataclasses.replace(parse_formula(d.formula), formula=d.formula)
            dropped.append(frame0.n_dropped)                # frame, w, stats: the shared first PV's
            tasks.append(FitTask(k, d, parsed, None, None, None, None, opts.control, None, glmm, y))
            continue
        dropped.append(frame.n_dropped)
        if plan.replicate_weights is not None and (order is None or not np.array_equal(frame.order, order)):
            order, reps = frame.order, plan.replicate_weights[frame.order]     # one copy per row order
        tasks.append(FitTask(k, d, parsed, frame, w, stats, None, opts.control, reps, glmm))
    if any(dropped):
        if len(set(dropped)) == 1:
            msg = f"{dropped[0]} row(s) with missing values in model variables or weights were removed"
        else:
            msg = ("rows with missing values were removed, differently per PV: "
                   + ", ".join(f"{d.label}: {n}" for d, n in zip(draws, dropped)))
        used = int(np.count_nonzero(tasks[0].w.w1 > 0)) if domain is not None else len(tasks[0].frame.y)
        warn(msg + f" ({used} used in the first PV)", MissingDataWarning)
    return tasks, dropped


def _outcome_only(d: Draw) -> bool:
    """Only the outcome changes with the draw: a PV set (or the R form's column) as the response,
    or a response ``I(expr)`` whose PV sets appear nowhere else in the formula (its rows missing
    are then the same for every PV without missing values)."""
    if len(d.alias) == (1 if d.alias and d.alias[0][0] == d.response else 0):
        return True
    rhs = d.formula.split("~", 1)[1]
    return (d.response.startswith("I(") and "scale(" not in d.response
            and not any(has_ident(rhs, a) for a, _ in d.alias))


def fit_task(task: FitTask, shared: SharedData | None = None) -> PVFit:
    """Fit one PV (:func:`lsa.mixed.fit.fit_prepared`: identifiability, optimiser, notes); with
    replicate weights, also refit it once per replicate weight set. ``shared`` fills the parts
    the task leaves ``None`` (:meth:`SharedData.complete`)."""
    if shared is not None:
        task = shared.complete(task)
    ctrl = task.control if task.start is None else dataclasses.replace(task.control, start=tuple(task.start))
    if task.glmm is not None:                       # (family, link, n_quad): a GLMM per PV
        from lsa.mixed.glmm_family import get_family
        from lsa.mixed.glmm_fit import fit_glmm_prepared
        from lsa.mixed.glmm_optimize import refit_replicates as refit_glmm

        fit = fit_glmm_prepared(task.parsed, task.frame, task.w, get_family(*task.glmm[:2]), task.glmm[2],
                                ctrl, warn_convergence=False)
        if task.replicates is None:
            return PVFit(task.index, fit, None, ())
        est, failed = refit_glmm(fit, task.replicates, task.control)
        return PVFit(task.index, fit, est, failed)
    fit = fit_prepared(task.parsed, task.frame, task.w, task.stats, False, ctrl, warn_convergence=False)
    if task.replicates is None:
        return PVFit(task.index, fit, None, ())
    try:
        est, failed = refit_replicates(fit, task.frame, task.w, task.stats, task.replicates, task.control)
    except EstimationError as exc:                       # "replicate r: ..." gets its PV
        raise EstimationError(f"{task.draw.label}: {exc}") from exc
    return PVFit(task.index, fit, est, failed)


def run_tasks(tasks: list[FitTask], opts: PVOptions) -> list[PVFit]:
    """Fit the first PV, then the others started at its θ̂ (serially or with joblib)."""
    n_rep = 0 if tasks[0].replicates is None else tasks[0].replicates.shape[1]
    total = len(tasks) * (1 + n_rep)
    bar = progress_bar(total, wants_progress(opts.progress, total > 20), "mix_pv", unit="fit")
    out: list[PVFit | None] = [None] * len(tasks)
    first = tasks[0]
    shared = SharedData(first.frame, first.w, first.stats, first.replicates)
    labels = [t.draw.label for t in tasks]
    out[0] = fit_task(first)          # unlabelled: an error of the model reads as lsa.mixed's
    bar.update(1 + n_rep)
    start = tuple(out[0].fit.theta.to_numpy())
    rest = [dataclasses.replace(t, start=start, replicates=None if t.replicates is shared.replicates else t.replicates)
            for t in tasks[1:]]
    for _, res in run(fit_task, rest, labels[1:], n_jobs=opts.n_jobs, shared=(shared,)):
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
