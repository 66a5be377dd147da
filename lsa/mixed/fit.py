"""``mixed()``: parse → per-cluster statistics → profiled objective → optimiser → result.

Each step is a public function that can be run by hand (as lme4's modular functions):

>>> parsed = parse_formula("pv1math ~ escs + (1 | schoolid)")            # doctest: +SKIP
>>> frame = model_frame(parsed, df, ("w_fstuwt", "w_fschwt"))              # doctest: +SKIP
>>> w = level_weights(frame, df, ["w_fstuwt", "w_fschwt"])                 # doctest: +SKIP
>>> stats = build_stats(frame, w)                                          # doctest: +SKIP
>>> opt = optimize(stats, ThetaMap.from_blocks(frame.blocks))              # doctest: +SKIP
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from typing import Literal, Sequence

import numpy as np
import pandas as pd
import scipy.optimize

from lsa.errors import ConvergenceWarning, DesignError, EstimationError, MissingDataWarning, warn
from lsa.mixed.formula import ModelFrame, ParsedFormula, model_frame, parse_formula
from lsa.model_inputs import ModelInputs, model_inputs
from lsa.mixed.pml import Profile, ThetaMap, profiled
from lsa.mixed.stats import ClusterStats, build_stats, positive_groups
from lsa.threads import single_blas_thread
from lsa.weights import check_constant_within, scale_within
from lsa.validation import reads_named_columns

__all__ = ["MixedControl", "LevelWeights", "level_weights", "build_stats", "optimize",
           "mixed", "OptimResult", "check_identifiable", "fit_prepared", "positive_groups",
           "check_weighted_terms", "domain_frame", "frame_and_weights", "weighted_rows", "FAMILY_ENGINES"]

Scaling = Literal["none", "cluster", "ecluster"]

#: the engine of ``family != "gaussian"`` (``"glmm"``: :func:`lsa.mixed.glmm_fit.glmm`), registered by
#: that module (imported by ``lsa.mixed``), so that this module does not import it (no cycle)
FAMILY_ENGINES: dict = {}


@dataclass(frozen=True)
class MixedControl:
    """Optimiser settings. ``gtol``: convergence when the projected gradient of ℓ/N has
    max-norm below it; ``newton``: polish L-BFGS-B's solution by Newton steps on the
    analytic gradient; ``start``: θ start (lme4 order), default 1/RMS(z_k) on diagonals (1 for an
    intercept, as lme4), 0 elsewhere."""

    maxiter: int = 1000
    gtol: float = 1e-7
    newton: int = 5
    start: Sequence[float] | None = None


@dataclass(frozen=True)
class LevelWeights:
    """Conditional weights: ``w1`` per row (level 1 given level 2), ``groups`` per level ≥ 2
    (given the parent; top level unconditional); ``unconditional`` per level, rows for level 1
    and groups above; ``columns`` the weight columns used (None if unweighted);
    ``conditional``: the columns were given as conditional weights."""

    w1: np.ndarray
    groups: tuple[np.ndarray, ...]
    unconditional: tuple[np.ndarray, ...]
    columns: tuple[str, ...] | None
    scaling: str
    conditional: bool = False


def _check_positive(values: np.ndarray, col: str, frame: ModelFrame) -> None:
    bad = ~np.isfinite(values) | (values <= 0)
    if bad.any():
        raise DesignError(f"weight column {col!r} has {bad.sum()} non-positive or non-finite "
                          f"value(s), e.g. {list(values[bad][:5])} in rows "
                          f"{list(frame.row_index[bad][:5])}; drop or fix these rows")


def level_weights(frame: ModelFrame, data: pd.DataFrame, weights: Sequence[str] | None,
                  conditional_weights: bool = False, scaling: Scaling = "none",
                  domain: np.ndarray | None = None) -> LevelWeights:
    """Conditional weights per level from weight columns (level 1 first).

    Total weights (default): w_{i|j} = w_ij / w_j, w_{j|k} = w_j / w_k, top as given.
    ``conditional_weights=True``: used as given. ``scaling`` rescales w_{i|j} within level-2
    clusters (:func:`lsa.weights.scale_within`). Level-l weights must be constant within
    level-l groups.

    ``domain`` (a boolean mask over the rows of ``data``; :mod:`lsa.model_inputs`): the rows
    outside it keep their place with level-1 weight 0 (w_{i|j} and the unconditional level-1
    weight), so they contribute nothing to any cluster sum; their weights need not be positive.
    Scaling uses the domain's rows only (a cluster without any has weight 0 throughout).
    """
    nl = len(frame.codes) + 1
    inside = np.ones(len(frame.y), bool) if domain is None else np.asarray(domain, bool)[frame.order]
    if weights is None:
        one = inside.astype(float)
        grp = tuple(np.ones(int(c[-1]) + 1) for c in frame.codes)
        return LevelWeights(one, grp, (one,) + grp, None, "none")
    weights = [weights] if isinstance(weights, str) else list(weights)
    if len(weights) != nl:
        raise DesignError(f"weights must name one column per level (level 1 first): the model "
                          f"has {nl} levels {['observation'] + list(frame.group_names)}, got "
                          f"{weights}")
    rows = []
    for k, col in enumerate(weights):
        v = pd.to_numeric(data[col], errors="coerce").to_numpy(dtype=float)[frame.order]
        _check_positive(np.where(inside, v, 1.0) if k == 0 else v, col, frame)
        if k > 0:
            check_constant_within(v, frame.codes[k - 1], col, frame.group_names[k - 1],
                                  frame.group_ids[k - 1])
        rows.append(v)
    rows[0] = np.where(inside, rows[0], 0.0)
    firsts = [np.flatnonzero(np.r_[True, c[1:] != c[:-1]]) for c in frame.codes]
    if conditional_weights:
        cond = rows
        total = [np.prod(rows[k:], axis=0) for k in range(nl)]
    else:
        total = rows
        cond = [rows[k] / rows[k + 1] for k in range(nl - 1)] + [rows[-1]]
    w1 = np.zeros(len(frame.y))
    w1[inside] = scale_within(cond[0][inside], frame.codes[0][inside], scaling)
    groups = tuple(cond[k + 1][firsts[k]] for k in range(nl - 1))
    unc = (total[0],) + tuple(total[k + 1][firsts[k]] for k in range(nl - 1))
    return LevelWeights(w1, groups, unc, tuple(weights), scaling, bool(conditional_weights))


def check_identifiable(frame: ModelFrame, stats: ClusterStats) -> None:
    """Raise :class:`DesignError` when the data cannot identify the random effects:

    * as lme4's ``check.nobs.vs.nRE``: n ≤ q_l·J_l (as many random effects as rows);
    * the q_l columns of Z_l are linearly dependent within *every* level-l group (fewer than
      q_l distinct rows of Z in each group, or a random slope on a variable constant within
      every group): the covariance of those random effects is not identified.
    """
    from lsa.mixed.stats import group_sum

    n = int(np.count_nonzero(stats.w1 > 0))
    h = stats.hierarchy
    counts = positive_groups(stats)
    off = 0
    for l, (g, zn) in enumerate(zip(frame.group_names, frame.znames)):
        q, J = len(zn), counts[l]
        term = f"({' + '.join(zn)} | {g})"
        if n <= q * J:
            raise DesignError(f"number of observations ({n}) <= number of random effects "
                              f"({q * J} = {q} × {J} groups) for {term}: the random-effect "
                              f"variances and the residual variance are not identifiable")
        B = stats.S[:, off:off + q, off:off + q]
        for k in range(l):
            B = group_sum(B, h.starts[k + 1])
        off += q
        ranks = _group_ranks(B)
        if ranks.max() >= q:
            continue
        redundant = [zn[k] for k in range(q)
                     if np.all(_group_ranks(np.delete(np.delete(B, k, 1), k, 2)) == ranks)]
        raise DesignError(f"random-effect columns {redundant or list(zn)} of {term} are linearly "
                          f"dependent within every group of {g!r} (at most {ranks.max()} of "
                          f"{q} independent in any group: a random slope on a variable constant "
                          f"within groups, or fewer than {q} distinct rows per group); their "
                          f"covariance cannot be identified: drop the random slope(s)")


def weighted_rows(frame: ModelFrame, w: LevelWeights) -> tuple[ModelFrame, LevelWeights]:
    """The frame and level weights restricted to the rows of positive level-1 weight and the
    groups holding them (a domain fit without its zero-weight rows; group codes renumbered
    0..J−1). Returned unchanged when every row has positive weight. The estimators that work
    row by row (CR2 blocks, replicate refits) use it: a zero-weight row contributes nothing to
    them, and an empty group would otherwise divide by its zero total weight."""
    keep = w.w1 > 0
    if keep.all():
        return frame, w
    kept = [np.unique(c[keep]) for c in frame.codes]
    codes = tuple(np.searchsorted(k, c[keep]) for k, c in zip(kept, frame.codes))
    sub = replace(frame, y=frame.y[keep], X=frame.X[keep], Z=tuple(z[keep] for z in frame.Z),
                  codes=codes, group_ids=tuple(g[k] for g, k in zip(frame.group_ids, kept)),
                  row_index=frame.row_index[keep], order=frame.order[keep])
    wsub = replace(w, w1=w.w1[keep], groups=tuple(g[k] for g, k in zip(w.groups, kept)),
                   unconditional=(w.unconditional[0][keep],)
                   + tuple(u[k] for u, k in zip(w.unconditional[1:], kept)))
    return sub, wsub


def check_weighted_terms(frame: ModelFrame, stats: ClusterStats) -> None:
    """Raise :class:`EstimationError` naming the fixed-effect terms without weighted variation
    (a category or predictor absent from the domain): Σ_i w_i x_ik² = 0."""
    p = frame.X.shape[1]
    q = sum(stats.q)
    diag = np.einsum("jkk->k", stats.S)[q:q + p]
    zero = [t for t, v in zip(frame.xnames, diag) if not v > 0]
    if zero:
        raise EstimationError(f"no weighted variation in {zero} (a category or predictor absent "
                              f"from the domain); drop it from the formula")


def _group_ranks(B: np.ndarray) -> np.ndarray:
    """Rank of each (q, q) cross-product matrix of a stack, on the correlation scale."""
    if B.shape[1] == 0:
        return np.zeros(B.shape[0], int)
    if B.shape[1] == 1:              # C = B/B = 1 where B > 0 (eigenvalue 1), else 0
        return (B[:, 0, 0] > 0).astype(int)
    d = np.sqrt(np.einsum("jkk->jk", B))
    inv = np.where(d > 0, 1 / np.where(d > 0, d, 1), 0.0)
    C = B * inv[:, :, None] * inv[:, None, :]
    ev = np.linalg.eigvalsh(C)
    return (ev > 1e-9).sum(axis=1)


@dataclass(frozen=True)
class OptimResult:
    """The optimum: profile at θ̂, convergence flag, iterations, projected-gradient norm."""

    profile: Profile
    converged: bool
    iterations: int
    grad_norm: float
    message: str


def _projected(theta, grad, lower) -> np.ndarray:
    g = grad.copy()
    at_bound = (theta <= lower + 1e-10) & (g < 0)  # gradient of the minimised −ℓ is −grad
    g[at_bound] = 0.0
    return g


def _newton(theta, stats, tmap, reml, lower, steps) -> np.ndarray:
    """Newton steps on ℓ(θ) with the Hessian from central differences of the analytic
    gradient; coordinates at the bound stay fixed; backtracking keeps ℓ non-decreasing."""
    for _ in range(steps):
        pr = profiled(theta, stats, tmap, reml)
        free = ~((theta <= lower + 1e-10) & (pr.grad <= 0))
        if not free.any():
            break
        idx = np.flatnonzero(free)
        H = np.empty((len(idx), len(idx)))
        for a, k in enumerate(idx):
            h = 1e-6 * max(abs(theta[k]), 1e-2)
            e = np.zeros_like(theta)
            e[k] = h
            H[:, a] = (profiled(theta + e, stats, tmap, reml).grad[idx]
                       - profiled(theta - e, stats, tmap, reml).grad[idx]) / (2 * h)
        H = (H + H.T) / 2
        try:
            step = -np.linalg.solve(H, pr.grad[idx])
        except np.linalg.LinAlgError:
            break
        if np.max(np.abs(step)) < 1e-13:
            break
        for t in (1.0, 0.5, 0.25, 0.1):
            cand = theta.copy()
            cand[idx] = np.maximum(cand[idx] + t * step, lower[idx])
            if profiled(cand, stats, tmap, reml, gradient=False).loglik >= pr.loglik - 1e-12 * abs(pr.loglik):
                theta = cand
                break
        else:
            break
    return theta


def _theta_scale(stats: ClusterStats, tmap: ThetaMap) -> np.ndarray:
    """1/RMS of each random-effect column (weighted), so that a start θ_kk = scale_k gives
    every random effect a contribution of order σ² whatever the units of its covariate."""
    off = np.cumsum((0,) + tmap.q)[tmap.level] + tmap.rows
    ms = np.einsum("jkk->k", stats.S)[off] / stats.nstar.sum()
    return np.where(tmap.diagonal, 1 / np.sqrt(np.maximum(ms, 1e-300)), 1.0)


@single_blas_thread
def optimize(stats: ClusterStats, tmap: ThetaMap, reml: bool = False,
             control: MixedControl | None = None) -> OptimResult:
    """Maximise the profiled ℓ(θ) by L-BFGS-B on −ℓ/N with the analytic gradient, then
    polish with Newton steps. Diagonal θ are bounded below by 0 (lme4)."""
    control = control or MixedControl()
    N = stats.total_weight
    lower = np.where(tmap.diagonal, 0.0, -np.inf)
    scale = _theta_scale(stats, tmap)
    x0 = tmap.start() * scale if control.start is None else np.asarray(control.start, float)

    def fun(theta):
        pr = profiled(theta, stats, tmap, reml)
        return -pr.loglik / N, -pr.grad / N

    bounds = [(lo if np.isfinite(lo) else None, None) for lo in lower]

    def run(x):
        return scipy.optimize.minimize(fun, x, jac=True, method="L-BFGS-B", bounds=bounds,
                                       options={"maxiter": control.maxiter, "ftol": 1e-15,
                                                "gtol": 1e-12, "maxcor": 20})

    res = run(x0)
    # A diagonal θ at its bound 0 can be a saddle (ℓ is even in a zero column of Λ):
    # restart with it moved inside and keep the better optimum.
    for bump in (0.01, 0.1, 1.0):
        zero = tmap.diagonal & (res.x <= 1e-8)
        if not zero.any():
            break
        x1 = res.x.copy()
        x1[zero] = bump * scale[zero]
        alt = run(x1)
        if alt.fun < res.fun - 1e-13 * abs(res.fun):
            res = alt
    theta = _newton(res.x, stats, tmap, reml, lower, control.newton) if control.newton else res.x
    pr = profiled(theta, stats, tmap, reml)
    gnorm = float(np.max(np.abs(_projected(theta, pr.grad / N, lower)))) if tmap.size else 0.0
    converged = gnorm < control.gtol
    if not converged:
        warn(f"the optimiser did not converge: max |projected gradient of ℓ/N| = "
             f"{gnorm:.3g} (tolerance {control.gtol:g}) after {res.nit} L-BFGS-B "
             f"iterations ({res.message}); the estimates may be inaccurate",
             ConvergenceWarning)
    return OptimResult(pr, converged, int(res.nit), gnorm, str(res.message))


@reads_named_columns
def mixed(formula: str, data, weights: Sequence[str] | None = None,
          conditional_weights: bool = False, scaling: Scaling = "none", reml: bool = False,
          control: MixedControl | None = None, family: str = "gaussian", link: str | None = None,
          n_quad: int = 13):
    """Fit a (weighted) linear mixed model by multilevel pseudo-maximum likelihood.

    Parameters
    ----------
    formula : lme4 formula, e.g. ``"pv1math ~ escs + st04q01 + (1 + escs | schoolid)"``;
        three levels as ``(1 | school) + (1 | school:class)`` or ``(1 | school/class)``.
    data : DataFrame, or an ``lsa.SurveyDesign`` (weights by level and domain from it). Design
        levels the formula does not use are collapsed into the level below: ``(1 | school)``
        on a school/class/student design (``from_study("TIMSS", ...)``) uses the school weight
        and the student's total weight / the school weight (:mod:`lsa.model_inputs`). A
        domain (``design.subset(...)``) keeps every row: the rows outside it have level-1
        weight 0 and contribute nothing, so the estimates and standard errors equal those of
        the fit on the domain's rows while the design stays whole (the survey convention;
        ``nobs``, ``ngroups`` and the sandwich's G count rows and groups of positive weight).
    weights : weight columns, level 1 first (``["w_fstuwt", "w_fschwt"]``), total weights by
        default; ``None`` for an unweighted fit (lme4 ML, or REML with ``reml=True``).
    conditional_weights : the level-1 (and level-2 of 3) weights are conditional on the
        selection of the group above, as PISA ``W_FSTUWT/W_FSCHWT`` or TIMSS ``STUWGT``.
    scaling : ``"none"`` (default, as WeMix), ``"cluster"`` (level-1 weights sum to the
        cluster size) or ``"ecluster"`` (to the effective cluster size), spec §5.3.
    reml : REML instead of ML; unweighted fits only.
    control : :class:`MixedControl`.
    family : ``"gaussian"`` (default: the linear model, this function's engine), or
        ``"binomial"`` / ``"poisson"``: a two-level GLMM fitted by weighted pseudo-maximum
        likelihood with adaptive Gauss–Hermite quadrature (WeMix's method, Rabe-Hesketh &
        Skrondal 2006; :mod:`lsa.mixed.glmm_fit`), returning a
        :class:`lsa.mixed.glmm_result.GLMMResult`. The response may be ``I(expr)``, e.g.
        ``I(pv1math < 420.07)``.
    link : the GLMM's link: ``"logit"`` (default) or ``"probit"`` for the binomial, ``"log"``
        for the Poisson.
    n_quad : quadrature points per random effect (n_quad^q per cluster); 1 = Laplace.

    Returns
    -------
    :class:`lsa.mixed.results.MixedResult` — ``params``, ``bse`` (cluster-robust sandwich at
    the top level, as WeMix), ``bse_model``, ``variance_components``, ``llf``, ``icc``, ...

    Notes
    -----
    The estimator is the pseudo-likelihood of Rabe-Hesketh & Skrondal (2006) as WeMix::mix
    implements it for linear models (see :mod:`lsa.mixed.pml`); unit weights give lme4's ML
    fit. Rows with missing values in model variables or weights are dropped
    (:class:`lsa.errors.MissingDataWarning`) and counted in ``result.n_dropped``.

    References
    ----------
    Rabe-Hesketh, S., & Skrondal, A. (2006). Multilevel modelling of complex survey data.
    JRSS A 169(4), 805–827. Bates, D., Mächler, M., Bolker, B., & Walker, S. (2015). Fitting
    linear mixed-effects models using lme4. JSS 67(1).
    """
    if family != "gaussian":
        if reml:
            raise DesignError(f"reml=True is only available for family='gaussian'; got family={family!r}")
        glmm = FAMILY_ENGINES["glmm"]          # lsa.mixed.glmm_fit.glmm, registered when lsa.mixed is imported
        return glmm(formula, data, weights, family, link, n_quad, conditional_weights, scaling, control)
    if link is not None and link != "identity":
        raise DesignError(f"family='gaussian' has the identity link; got link={link!r}")
    if scaling not in ("none", "cluster", "ecluster"):
        raise DesignError(f"scaling must be 'none', 'cluster' or 'ecluster'; got {scaling!r}")
    parsed = parse_formula(formula)
    inp = model_inputs(data, formula, weights, conditional_weights=conditional_weights,
                       groups=parsed.groups)
    if reml and inp.weights is not None:
        raise DesignError("reml=True is only available for unweighted fits (weights=None); "
                          "the weighted pseudo-likelihood is ML")
    frame, w = frame_and_weights(parsed, inp, inp.data, scaling)
    stats = build_stats(frame, w)
    if inp.has_domain:
        check_weighted_terms(frame, stats)
    return fit_prepared(parsed, frame, w, stats, reml, control)


def frame_and_weights(parsed: ParsedFormula, inp: ModelInputs, data: pd.DataFrame,
                      scaling: Scaling) -> tuple[ModelFrame, LevelWeights]:
    """The model frame of ``data`` (the rows of ``inp``; :func:`domain_frame`), a
    :class:`MissingDataWarning` when rows were dropped, and the level weights
    (:func:`level_weights`): the steps after :func:`lsa.model_inputs` that :func:`mixed` and
    :func:`lsa.mixed.glmm_fit.glmm` share."""
    wcols = list(inp.weights) if inp.weights is not None else None
    frame = domain_frame(model_frame(parsed, data, tuple(wcols or ())), inp)
    if frame.n_dropped:
        warn(f"{frame.n_dropped} row(s) with missing values in model variables or "
             f"weights were removed ({int(inp.domain[frame.order].sum())} used)", MissingDataWarning)
    w = level_weights(frame, data, wcols, inp.conditional, scaling, inp.domain if inp.has_domain else None)
    return frame, w


def domain_frame(frame: ModelFrame, inputs: ModelInputs) -> ModelFrame:
    """The model frame with ``n_dropped`` counting only the domain's rows dropped for missing
    values (a row outside the domain weighs 0 whether or not it is complete); an error when no
    row of the domain is left."""
    if not inputs.has_domain:
        return frame
    used = int(inputs.domain[frame.order].sum())
    if used == 0:
        raise DesignError(f"no row of the domain ({inputs.n_domain} rows) has data on every "
                          f"variable of the model")
    return replace(frame, n_dropped=inputs.n_domain - used)


@single_blas_thread
def fit_prepared(parsed: ParsedFormula, frame: ModelFrame, w: LevelWeights, stats: ClusterStats,
                 reml: bool = False, control: MixedControl | None = None, *,
                 warn_convergence: bool = True):
    """The fitting step shared by :func:`mixed` and :func:`lsa.mix_pv`: identifiability
    (:func:`check_identifiable`, raises :class:`DesignError`) → optimiser (:func:`optimize`;
    ``result.converged``, a :class:`ConvergenceWarning` unless ``warn_convergence=False``,
    for callers that report convergence themselves) → :class:`lsa.mixed.MixedResult` with
    its boundary notes (``result.notes``)."""
    from lsa.mixed.results import make_result

    check_identifiable(frame, stats)
    tmap = ThetaMap.from_blocks(frame.blocks)
    with warnings.catch_warnings():
        if not warn_convergence:
            warnings.simplefilter("ignore", ConvergenceWarning)
        opt = optimize(stats, tmap, reml, control)
    return make_result(parsed, frame, w, stats, tmap, opt, reml)
