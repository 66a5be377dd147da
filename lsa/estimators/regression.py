"""Design-based linear and logistic regression with plausible values and replicate weights.

Formulas follow R/patsy syntax (``"MATH ~ ESCS + gender"``); a plausible-value set name may
stand on either side. Factors use R's treatment coding (first level the reference) and terms
are named as R names them (``(Intercept)``, ``st04q01Male``).

For every PV m and every weight column r the coefficients are

    linear:    β_{m,r} = (X' W_r X)⁻¹ X' W_r y_m                       (weighted least squares)
    logistic:  the root of X' W_r (y − expit(X β)) = 0                  (weighted ML, IRLS)

computed for all weight columns at once: X' W X for all R + 1 columns is one matrix product
of the n × p² row-wise outer products with the n × (1 + R) weight matrix, followed by a batched
solve. The replicate variance of β and Rubin's rules then follow as for every estimator. The
complete-data df is the design df − p + 1 (as ``survey::svyglm``).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..design import SurveyDesign
from ..errors import EstimationError, FormulaError
from ..formula import check_known_names, fixed_matrix, load_formula_columns, response_matrix
from ..validation import check_formula, check_no_random_effects, reads_named_columns
from . import influence
from ._core import DesignResult, DfMethod, Draws, over_completed, pv_columns, run_by_groups
from .logistic import flags, logit_fit, report_fits, withhold

@dataclass(frozen=True)
class ModelData:
    """Model matrices of one formula for every PV: ``y`` (n_ok, M), ``x`` list of M (n_ok, p)
    matrices (one shared object when no PV is a predictor), rows used, term names."""

    y: np.ndarray
    x: list[np.ndarray]
    rows: np.ndarray
    terms: list[str]


@dataclass(frozen=True)
class PVModelFrame:
    """A single-level formula parsed against a design, shared by every design-based model:
    the response (``lhs``, wrapped by :func:`response_expression`) and the names it uses,
    the M columns behind every name (``cols``), the complete rows (``rows``: no model variable
    missing in any PV), and the predictor matrices (``x``: one, or one per PV when a PV set is
    a predictor) with their R ``terms``."""

    design: SurveyDesign
    lhs: str
    lhs_vars: list[str]
    used: list[str]
    m: int
    cols: dict
    rows: np.ndarray
    x: list[np.ndarray]
    terms: tuple[str, ...]

    def frame(self, names, i: int) -> pd.DataFrame:
        """The complete rows of ``names`` for PV ``i`` (columns keep their dtype)."""
        data = self.design.data
        index = data.index[self.rows]
        return pd.DataFrame({n: data[self.cols[n][i]][self.rows] for n in names}, index=index)


def pv_model_frame(design: SurveyDesign, formula: str, function: str) -> PVModelFrame:
    """Parse ``formula`` for ``function`` (its name in messages): the checks of
    :mod:`lsa.validation` and :mod:`lsa.formula`, the PV columns, the complete rows and the
    predictor matrices by :func:`lsa.formula.fixed_matrix`."""
    check_formula(formula)
    check_no_random_effects(formula, function)
    lhs, rhs = (part.strip() for part in formula.split("~", 1))
    lhs = response_expression(lhs)
    data = design.data
    load_formula_columns(data, lhs, rhs)
    lhs_vars = check_known_names(lhs, data.columns, f"response of {formula!r}", design.pvs)
    rhs_vars = check_known_names(rhs, data.columns, f"predictors of {formula!r}", design.pvs)
    if not lhs_vars:
        raise FormulaError(f"{function}: formula {formula!r} has no variable on the left of '~'.")
    used = list(dict.fromkeys(lhs_vars + rhs_vars))
    m, cols = pv_columns(design, used)
    rows = data[sorted({c for n in used for c in cols[n]})].notna().all(axis=1).to_numpy()
    if not rows.any():
        raise FormulaError(f"{function}: no row has data on every variable of {formula!r}.")
    pf = PVModelFrame(design, lhs, lhs_vars, used, m, cols, rows, [], ())
    xs, names = [], ()
    for i in range(m if any(design.is_pv(n) for n in rhs_vars) else 1):
        x, names = fixed_matrix(rhs, pf.frame(rhs_vars, i), f"predictors of {formula!r}", function)
        xs.append(x)
    return PVModelFrame(design, lhs, lhs_vars, used, m, cols, rows, xs, names)


def model_data(design: SurveyDesign, formula: str, binary: bool = False) -> ModelData:
    """Parse ``formula`` against the design's data, one model frame per plausible value.

    Rows missing any model variable (in any PV) are excluded. The matrices are built by
    :func:`lsa.formula.fixed_matrix` (the builder shared by every model: R's factor coding with
    a Categorical's declared level order, R's names, and the checks on random-effect terms,
    unknown names, factor levels and non-finite values). The columns keep their dtype, so a
    Categorical's first level is the reference. The predictor matrix is built once unless a PV
    set is among the predictors; a response that is a bare numeric column or PV set is read
    directly.
    """
    function = "lsa.logit" if binary else "lsa.lm"
    pf = pv_model_frame(design, formula, function)
    lhs, lhs_vars, used, m, cols, rows, data = pf.lhs, pf.lhs_vars, pf.used, pf.m, pf.cols, pf.rows, design.data
    frame, xs, names, pv_rhs = pf.frame, pf.x, pf.terms, len(pf.x) > 1
    what = f"response of {formula!r}"
    first = data[cols[lhs][0]] if lhs in used else None
    if first is not None and pd.api.types.is_numeric_dtype(first) and not pd.api.types.is_bool_dtype(first) \
            and not isinstance(first.dtype, pd.CategoricalDtype):
        y = np.column_stack([design.numeric(cols[lhs][i], what)[rows] for i in range(m)])
        y = np.column_stack([_response(y[:, [i]], lhs, binary) for i in range(m)])
    else:
        y = np.column_stack([_response(response_matrix(lhs, frame(lhs_vars, i), what, binary), lhs, binary)
                             for i in range(m)])
    return ModelData(y, xs if pv_rhs else xs * m, rows, names)


def response_expression(lhs: str) -> str:
    """The response as R evaluates it: an arithmetic or logical expression on the left of ``~``
    (``MATH - READ``, ``MATH < 420``, ``-MATH``) is one value per row, not formula algebra (where
    ``MATH - READ`` would drop a term), so it is wrapped in ``I(...)``; names and calls
    (``np.log(MATH)``, ``I(MATH < 420)``) are kept. With a PV set the expression is then
    evaluated for each PV m on PV m of every set (:func:`model_data`)."""
    try:
        node = ast.parse(lhs, mode="eval").body
    except SyntaxError:
        return lhs                                         # the parser reports it in one line
    if isinstance(node, (ast.BinOp, ast.UnaryOp, ast.Compare, ast.BoolOp)):
        return f"I({lhs})"
    return lhs


def _response(y, lhs: str, binary: bool) -> np.ndarray:
    """One response column: a two-level factor (indicator columns of both levels) in a
    logistic model gives its second level as the event; 0/1 is required there."""
    y = np.asarray(y, dtype=float)
    if y.shape[1] == 2 and binary:        # a two-level factor: the second level is the event
        y = y[:, 1:]
    if y.shape[1] != 1:
        what = "logistic regression needs a 0/1 or two-level response" if binary else "the response must be one numeric column"
        raise FormulaError(f"{what}; {lhs.strip()!r} gives {y.shape[1]} columns (a factor with "
                           f"{y.shape[1]} levels?).")
    if binary and not np.isin(y[:, 0], (0.0, 1.0)).all():
        raise FormulaError(f"logistic regression needs a 0/1 response; {lhs.strip()!r} has other values.")
    return y[:, 0]


def rows_outer(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise outer products a_i b_i' flattened, (n, p·q): ``rows_outer(x, x).T @ w`` is X'WX per column of w."""
    return (a[:, :, None] * b[:, None, :]).reshape(len(a), -1)


def check_rank(a: np.ndarray, terms: list[str]) -> None:
    """Error naming the terms that make a full-sample cross-product or information singular."""
    d = np.sqrt(np.clip(np.diag(a), 0, None))
    zero = [t for t, v in zip(terms, d) if v == 0]
    if zero:
        raise EstimationError(f"no weighted variation in {zero} (a category or predictor absent from the "
                              f"domain or group); drop it from the formula.")
    scaled = a / np.outer(d, d)
    if np.linalg.cond(scaled) > 1e12:
        raise EstimationError(f"the design matrix of {terms} is singular or nearly so (collinear predictors).")


def wls_draws(md: ModelData, w: np.ndarray) -> np.ndarray:
    """β for every PV and weight column: (M, C, p). With one predictor matrix for all PVs,
    X'W y_m for all m and columns is a single product of the n × pM matrix [x ⊙ y_m] with W.

    The full-sample X'W X must be of full rank (:func:`check_rank` names the terms). A replicate
    column whose X'W_r X is singular (a category or predictor without weight in that replicate:
    a small domain, a rare category that falls into a single zone) is solved by the
    pseudo-inverse (:func:`lsa.separation.solve_batched`, one batched call); as in
    :func:`lsa.logit` (:func:`lsa.estimators.logistic.withhold`), the terms spanning its null
    space (:func:`lsa.separation.null_terms`) get NaN replicate estimates for that PV, so their
    standard errors are NaN, and a :class:`~lsa.errors.MissingDataWarning` names them and the
    number of replicate fits. The other terms are estimable there and keep their estimates.
    """
    from ..errors import MissingDataWarning, warn
    from ..separation import null_terms, solve_batched
    from .logistic import LogitChecks, where_text

    n, m = md.y.shape
    p, c = len(md.terms), w.shape[1]
    shared = all(x is md.x[0] for x in md.x)
    out = np.empty((m, c, p))
    lost = np.zeros((m, c, p), bool)                                          # term not identified
    for i in range(1 if shared else m):
        x = md.x[i]
        a = (rows_outer(x, x).T @ w).T.reshape(-1, p, p)                       # (C, p, p)
        check_rank(a[0], md.terms)
        ys = md.y if shared else md.y[:, [i]]
        k = ys.shape[1]
        b = ((x[:, :, None] * ys[:, None, :]).reshape(n, -1).T @ w)          # (p·M', C)
        b = b.reshape(p, k, -1).transpose(1, 2, 0)                           # (M', C, p)
        sol, sing = solve_batched(np.broadcast_to(a, (k,) + a.shape).reshape(-1, p, p), b.reshape(-1, p))
        at = slice(None) if shared else i
        out[at] = sol.reshape(k, c, p)
        sing = sing.reshape(k, c)[0]
        if sing.any():
            lost[at, sing] = null_terms(a[sing])
    if not lost.any():
        return out
    none = np.zeros((m, c), bool)
    out = withhold(out, LogitChecks(np.zeros_like(lost), none, none, lost))
    where = lost.any(axis=2)
    terms = np.array(md.terms)[lost.any(axis=(0, 1))].tolist()
    warn(f"lsa.lm: {terms} have no weighted variation {where_text(where[:1] if shared else where)} (a "
         f"category or predictor absent from a replicate); their replicate variance and standard errors "
         f"are not reported (NaN).", MissingDataWarning)
    return out


def _logit_draws(md: ModelData, w: np.ndarray, max_iter: int = 100, tol: float = 1e-10):
    """Weighted logistic ML by Newton–Raphson, all weight columns at once, with the separation and
    convergence checks of :mod:`lsa.estimators.logistic`. Returns ``(theta, checks)``: θ is
    (M, C, p), with the replicate estimates of terms whose coefficients diverge set to NaN."""
    theta, checks = logit_fit(md.x, md.y, w, md.terms, check_rank, max_iter, tol)
    return withhold(theta, checks), checks


def _regression(design, formula, by, df_method, binary: bool, statistic: str) -> DesignResult:
    md = model_data(design, formula, binary=binary)
    p = len(md.terms)
    checks = []                                          # logistic: one per group, in group order

    position = np.cumsum(md.rows) - 1                    # row → its row of md.y / md.x

    def compute(w: np.ndarray, rows=None) -> Draws:
        sub, wr = (md, w[md.rows]) if rows is None else group_model(md, position, rows, w)
        extra = {}
        if binary:
            theta, check = _logit_draws(sub, wr)
            checks.append(check)
            extra = flags(check)
        else:
            theta = wls_draws(sub, wr)
        used = int((wr[:, 0] > 0).sum())
        missing = int((w[:, 0] > 0).sum()) - used
        infl = _influence(md, wr[:, 0], theta[:, 0, :], binary, design.n) if influence.wanted(design) else None
        return Draws(theta, md.terms, np.full(p, used), np.full(p, missing), design.df - p + 1, extra, infl)

    result = run_by_groups(design, by, compute, statistic=f"{statistic}: {formula}", df_method=df_method, rows=True)
    return report_fits(result, checks, f"lsa.logit({formula!r})") if binary else result


def group_model(md: ModelData, position: np.ndarray, rows, w: np.ndarray) -> tuple[ModelData, np.ndarray]:
    """The model data and weights of one group's rows (``rows``: positions, or a slice; ``w``
    their weights, ``run_by_groups(..., rows=True)``; ``position = cumsum(md.rows) − 1`` computed
    once): complete rows only, views when the group's rows are contiguous and complete."""
    ok = md.rows[rows]
    if isinstance(rows, slice) and ok.all():
        take = slice(int(position[rows.start]), int(position[rows.start]) + len(ok))
        wr = w
    else:
        take = position[rows][ok]
        wr = w[ok]
    xs = [md.x[0][take]] * len(md.x) if all(x is md.x[0] for x in md.x) else [x[take] for x in md.x]
    return ModelData(md.y[take], xs, ok, md.terms), wr


def _influence(md: ModelData, w: np.ndarray, beta: np.ndarray, binary: bool, n: int) -> np.ndarray:
    """(M, n, p) linearised values of β per PV: (X'WVX)⁻¹ x_i w_i r_i with r = y − x'β, V = 1 (lm)
    or r = y − μ, V = μ(1 − μ) (logit), as ``survey::svyglm`` (:func:`influence.estimating_equation`)."""
    from scipy.special import expit

    out = []
    for i in range(md.y.shape[1]):
        x = md.x[i]
        eta = x @ beta[i]
        if binary:
            mu = expit(eta)
            resid, v = md.y[:, i] - mu, mu * (1 - mu)
        else:
            resid, v = md.y[:, i] - eta, np.ones_like(eta)
        if not np.isfinite(beta[i]).all():
            out.append(np.full((x.shape[0], len(md.terms)), np.nan))
            continue
        out.append(influence.estimating_equation(x, w, resid, (x * (w * v)[:, None]).T @ x))
    return influence.scatter(np.stack(out), md.rows, n)


@over_completed
@reads_named_columns
def lm(design: SurveyDesign, formula: str, by=None, *, df_method: DfMethod = "barnard_rubin") -> DesignResult:
    """Weighted linear regression by formula; PV sets may be the response and/or predictors.

    Examples
    --------
    >>> lsa.lm(design, "MATH ~ ESCS + gender").tidy()                     # doctest: +SKIP
    """
    return _regression(design, formula, by, df_method, False, "Linear regression")


@over_completed
@reads_named_columns
def logit(design: SurveyDesign, formula: str, by=None, *, df_method: DfMethod = "barnard_rubin") -> DesignResult:
    """Weighted logistic regression by formula (response 0/1, logical, or a two-level factor whose
    second level is the event); coefficients are log-odds as ``survey::svyglm(family = quasibinomial)``.

    Separation (:mod:`lsa.separation`, :mod:`lsa.estimators.logistic`) is checked in the fit of
    every PV and every replicate weight column. Where coefficients diverge, the estimates are
    kept where the iterations stopped (as R's ``glm``), their standard errors, statistics,
    p-values and confidence limits are NaN (all terms under complete separation), a
    :class:`~lsa.errors.SeparationWarning` names the terms and the fits (full sample or how many
    replicates, which PV), and the table's ``separation`` column marks them; ``note`` says the
    same. A fit that stops at the iteration limit without separation gives a
    :class:`~lsa.errors.ConvergenceWarning` (step size and score norm) and ``converged`` False.
    """
    return _regression(design, formula, by, df_method, True, "Logistic regression")
