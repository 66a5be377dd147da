"""GEE for cross-sectionally clustered data with small-sample corrections (spec section 12).

Huang (2022), "Analyzing cross-sectionally clustered data using generalized estimating
equations", JEBS 47:101-125; Liang & Zeger (1986); Mancl & DeRouen (2001, Biometrics 57:126);
Kauermann & Carroll (2001, JASA 96:1387).

Estimation follows geepack::geeglm (the reference of the JEBS paper):

* Pearson residuals ``r = (y - mu) / sqrt(v(mu))``; scale ``phi = sum r^2 / N``;
* exchangeable correlation (moment estimator, Hardin & Hilbe 2013 eq. 3.28)
  ``alpha = [sum_j sum_{t<t'} r_jt r_jt'] / [sum_j n_j (n_j - 1) / 2] / phi``;
* Fisher scoring for beta with ``V_j = phi A_j^{1/2} R_j(alpha) A_j^{1/2}`` and
  ``D_j = diag(dmu/deta) X_j``, alternating with alpha/phi until beta changes < ``tol``.

Robust covariance on the linearised equation ``sum_j D_j' V_j^{-1} (y_j - mu_j) = 0``
(``W_j = V_j^{-1}``, ``Theta_j = V_j`` in :mod:`lsa.robust.blocks`):

* ``type="CR0"``: Liang-Zeger sandwich (geepack's ``std.err = "san.se"``);
* ``type="CR3"``: Mancl-DeRouen bias correction, meat from ``(I - H_jj)^{-1} e_j``,
  ``H_jj = D_j M D_j' V_j^{-1}``;
* ``type="CR2"``: the bias-reduced linearisation with ``(I - H_jj)^{-1/2}`` in its symmetric
  form (clubSandwich's CR2 for ``geeglm``), a Kauermann-Carroll-type correction.

Default tests are Wald z tests (``df_method="z"``), as geepack; ``df_method="satterthwaite"``
or ``"naive"`` give small-sample t tests.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from ..errors import DesignError, MissingDataWarning, warn
from ..design import SurveyDesign
from ..model_inputs import model_inputs
from ..separation import fitted_at_bounds, max_step, report, steps_diverge
from .blocks import ClusterBlocks, cluster_codes, safe_inverse, split_by_cluster
from ..threads import single_blas_thread
from ..validation import check_choice, check_frame, check_number, reads_named_columns
from .checks import check_response, column_or_values
from .clustered import finish_result, glm_family, type_name
from .cr import get_covariance_type
from .satterthwaite import df_method_option
from .irls import family_kind, irls, irls_check
from .formula import build_design


@single_blas_thread
@reads_named_columns
def gee(
    formula: str,
    data: pd.DataFrame,
    cluster=None,
    family=None,
    corstr: Literal["exchangeable", "independence"] = "exchangeable",
    type: str = "CR0",
    df_method: str = "z",
    tol: float = 1e-10,
    maxit: int = 100,
    *,
    df: str | None = None,
):
    """Fit a GEE and return a :class:`~lsa.robust.clustered.ClusteredResult` whose
    ``extra`` dict holds ``alpha`` (working correlation), ``scale`` and ``iterations``.

    Parameters
    ----------
    formula, data, cluster : model, data and cluster (a column name or one id per row; missing
        ids are an error). ``data`` may be an :class:`lsa.SurveyDesign` (through
        :func:`lsa.model_inputs`): ``cluster`` then defaults to its top-level id and only the
        rows of its domain are used (the rows of zero weight of the domain rule). This GEE has no
        sampling weights, so a design with weights is refused (use
        :func:`lsa.robust.clustered` with ``family=`` for a weighted GLM with cluster-robust
        inference).
    family : None (gaussian, identity link), "binomial", "poisson", or a statsmodels family.
    corstr : "exchangeable" or "independence".
    type : "CR0" (Liang-Zeger), "CR3" (Mancl-DeRouen), "CR2" (BRL / Kauermann-Carroll type).
    df_method : "z" (default, as geepack), "satterthwaite", "naive", ...
        (:mod:`lsa.robust.satterthwaite`).
    tol, maxit : convergence tolerance (largest relative change of beta) and iteration limit.
    df : deprecated name of ``df_method`` (the same values; ``DeprecationWarning``).

    Binomial and Poisson fits are checked for separation (:mod:`lsa.separation`): a
    :class:`~lsa.errors.SeparationWarning` names the diverging terms, which stay at the GLM
    estimate with NaN standard errors (all terms under complete separation); the result's
    ``separation`` and ``converged`` say the same.
    """
    import statsmodels.api as sm

    df_method = df_method_option("gee", df_method, df, "z")
    check_choice(corstr, ("exchangeable", "independence"), "corstr")
    data, cluster = _gee_frame(data, formula, cluster)
    fam = glm_family(family) or sm.families.Gaussian()
    get_covariance_type(type)
    check_number(tol, "tol", low=0, low_open=True)
    check_number(maxit, "maxit", low=1, integer=True)
    cl_name, cl_values = column_or_values(cluster, data, "cluster")
    design = build_design(formula, data)
    if design.n_dropped:
        warn(f"{design.n_dropped} of {len(data)} rows dropped for missing values in the model's variables",
             MissingDataWarning)
    check_response(design.y, family_kind(fam), formula)
    codes, labels = cluster_codes(cl_values[design.rows], cl_name)
    idx, (yb, Xb) = split_by_cluster(codes, design.y, design.X)
    y = np.concatenate(yb)
    X = np.vstack(Xb)
    safe_inverse(X.T @ X, design.terms)
    beta, _, _, start = irls(y, X, fam, np.ones_like(y), terms=design.terms)
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        beta, phi, alpha, it, check = _fit(yb, Xb, y, X, beta, fam, corstr, tol, maxit, design.terms, start)
        _, (D, V, e), M = _score_step(yb, Xb, beta, fam, phi, alpha)
        Vinv = tuple(_inv(v) for v in V)
    name = f"gee {type_name(fam).lower()} {corstr}"
    report(f"{name} fit of {formula!r}", check, family=family_kind(fam))
    blocks = ClusterBlocks(
        X=tuple(D), e=tuple(e), W=Vinv, Theta=tuple(V), inverse_var=True, labels=labels,
        terms=design.terms, X_raw=tuple(Xb), bread=M,
    )
    return finish_result(blocks, beta, design.terms, type, df_method, np.sqrt(np.diag(M)), design.n_dropped,
                   name, formula, extra={"alpha": float(alpha), "scale": float(phi), "iterations": it},
                   check=check)


def _gee_frame(data, formula, cluster):
    """(frame, cluster) from a DataFrame or an unweighted design (see :func:`gee`)."""
    if not isinstance(data, SurveyDesign):
        data = check_frame(data, "data")
    inp = model_inputs(data, formula)
    if inp.is_design:
        if inp.weights is not None:
            raise DesignError(f"data: gee fits an unweighted GEE, but the design has weights "
                              f"{list(inp.design.weights.values())}; use lsa.robust.clustered(formula, "
                              f"design, family=...) for a weighted fit, or pass design.data")
        if cluster is None:
            cluster = inp.cluster
        if not isinstance(cluster, str) and np.ndim(cluster) == 1 and len(cluster) == len(inp.domain):
            cluster = np.asarray(cluster)[inp.domain]
        data = inp.data.loc[inp.domain]
    if cluster is None:
        raise DesignError("cluster: give the cluster id column (or one id per row) of the GEE")
    return check_frame(data, "data").reset_index(drop=True), cluster


def _fit(yb, Xb, y, X, beta, fam, corstr, tol, maxit, terms, start):
    """Fisher scoring for beta alternating with (phi, alpha), from the GLM estimate ``beta``
    (whose separation check is ``start``).

    Separated data (``start`` names diverging terms): the data have no finite maximum-likelihood
    fit, and a finite root of the GEE equations can only come from the working correlation
    mixing residuals of separated and other rows, so the diverging terms are kept at their GLM
    values (where their fitted values are at the bounds and the rows carry no information) and
    only the other terms are updated; under complete separation nothing is updated. Otherwise
    the steps in the linear predictor ``X beta`` are watched for separation of the GEE itself
    (:mod:`lsa.separation`). A singular information matrix or working covariance (a degenerate
    fit) is solved by the pseudo-inverse. Returns ``(beta, phi, alpha, iterations, check)``.
    """
    kind = family_kind(fam)
    used = np.ones(len(y), bool)
    free = ~np.isin(list(terms), list(start.separation))
    if start.complete:
        free[:] = False
    eta = X @ beta
    sizes = np.array([len(b) for b in yb])
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    steps, step, converged, it = [], np.zeros_like(beta), False, 0
    for it in range(1, (maxit if free.any() else 0) + 1):
        phi, alpha = scale_alpha(y, X, starts, sizes, beta, fam, corstr)
        step = score_step(y, X, starts, sizes, beta, fam, phi, alpha, free)
        if step is None:                            # a singular working correlation: cluster by cluster
            step, _, _ = _score_step(yb, Xb, beta, fam, phi, alpha, free)
        beta = beta + step
        eta_new = X @ beta
        steps.append(float(max_step(eta_new, eta, used)))
        eta = eta_new
        if np.max(np.abs(step) / (np.abs(beta) + 1e-8)) < tol:
            converged = True
            break
        if kind is not None and steps_diverge(np.array(steps[-3:])) and \
                fitted_at_bounds(fam.link.inverse(eta), kind, used).any():
            break
    phi, alpha = scale_alpha(y, X, starts, sizes, beta, fam, corstr)
    if not np.isfinite(alpha):
        alpha = 0.0
    if start.separation:
        return beta, phi, alpha, it, start
    check = irls_check(kind, y, X, fam, used.astype(float), fam.link.inverse(eta), beta, beta - step,
                       steps, used, terms, converged, f"{it} iterations of at most {maxit}; "
                       f"largest relative step {np.max(np.abs(step) / (np.abs(beta) + 1e-8)):.3g}")
    return beta, phi, alpha, it, check


def _inv(a):
    try:
        return np.linalg.inv(a)
    except np.linalg.LinAlgError:
        return np.linalg.pinv(a, hermitian=True)


def scale_alpha(y, X, starts, sizes, beta, fam, corstr):
    """Moment estimates of the scale φ = Σ r²/N and the exchangeable correlation
    α = Σ_i Σ_{j<k} r_ij r_ik / (φ Σ_i n_i(n_i − 1)/2) from the Pearson residuals r (Liang &
    Zeger 1986), for all clusters at once (rows sorted by cluster, ``starts`` and ``sizes``);
    Σ_{j<k} r_j r_k = ((Σ r)² − Σ r²)/2 per cluster."""
    mu = fam.link.inverse(X @ beta)
    r = (y - mu) / np.sqrt(fam.variance(mu))
    ss = float(r @ r)
    phi = ss / len(r)
    pairs = float(np.sum(sizes * (sizes - 1) / 2.0))
    if corstr == "independence" or pairs == 0:
        return phi, 0.0
    s = np.add.reduceat(r, starts)
    return phi, (float(s @ s) - ss) / 2.0 / pairs / phi


def score_step(y, X, starts, sizes, beta, fam, phi, alpha, free=None):
    """The Fisher-scoring step of :func:`_score_step` for all clusters at once, through the
    closed-form inverse of the exchangeable correlation R_i = (1 − α) I + α 11':
    R_i⁻¹ = (I − c_i 11') / (1 − α), c_i = α / (1 + (n_i − 1) α). With D̃ = A^{-1/2} D and
    ẽ = A^{-1/2} e (A the variances), D'V⁻¹D = (D̃'D̃ − Σ_i c_i (1'D̃_i)'(1'D̃_i)) / (φ(1 − α))
    and D'V⁻¹e likewise. ``None`` when some R_i is (numerically) singular."""
    denom = 1.0 + (sizes - 1) * alpha
    if abs(1.0 - alpha) < 1e-10 or np.any(np.abs(denom) < 1e-10):
        return None
    mu = fam.link.inverse(X @ beta)
    sd = np.sqrt(fam.variance(mu))
    Dt = (1.0 / fam.link.deriv(mu) / sd)[:, None] * X
    et = (y - mu) / sd
    c = alpha / denom
    sD = np.add.reduceat(Dt, starts, axis=0)
    k = 1.0 / (phi * (1.0 - alpha))
    info = k * (Dt.T @ Dt - (sD * c[:, None]).T @ sD)
    score = k * (Dt.T @ et - (sD * c[:, None]).T @ np.add.reduceat(et, starts))
    return _step(info, score, free)


def _step(info, score, free=None, inverse=None):
    """The Fisher-scoring step ``info⁻¹ score`` (``inverse``: ``info⁻¹`` if already computed); only
    the ``free`` coefficients move when a mask is given (their block of the information)."""
    if free is None or free.all():
        return (_inv(info) if inverse is None else inverse) @ score
    step = np.zeros(len(score))
    step[free] = _inv(info[np.ix_(free, free)]) @ score[free]
    return step


def _score_step(yb, Xb, beta, fam, phi, alpha, free=None):
    """Fisher-scoring step ``M U`` (``M`` the inverse information; only the ``free`` coefficients
    move when a mask is given), the per-cluster ``(D, V, e)`` and ``M``."""
    p = len(beta)
    info = np.zeros((p, p))
    score = np.zeros(p)
    Ds, Vs, es = [], [], []
    for y, X in zip(yb, Xb):
        mu = fam.link.inverse(X @ beta)
        dmu = 1.0 / fam.link.deriv(mu)
        D = dmu[:, None] * X
        sd = np.sqrt(fam.variance(mu))
        n = len(y)
        R = np.full((n, n), alpha)
        np.fill_diagonal(R, 1.0)
        V = phi * (sd[:, None] * R * sd[None, :])
        e = y - mu
        try:
            VinvD = np.linalg.solve(V, D)
        except np.linalg.LinAlgError:          # degenerate fit (separation): pseudo-inverse
            VinvD = _inv(V) @ D
        info += D.T @ VinvD
        score += VinvD.T @ e
        Ds.append(D), Vs.append(V), es.append(e)
    M = _inv(info)
    return _step(info, score, free, M), (Ds, Vs, es), M
