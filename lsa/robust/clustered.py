"""``clustered()``: OLS / WLS / GLM with cluster-robust (CR0-CR3) inference for few clusters.

References: Liang & Zeger (1986); Bell & McCaffrey (2002); Cameron & Miller (2015, JHR 50:317);
Pustejovsky & Tipton (2018, JBES 36:672); Huang & Li (2022, BRM 54:1181); Huang, Zhang & Li
(2023, JREE 16:213). R equivalents: ``clubSandwich::vcovCR`` + ``coef_test``/``Wald_test``,
``CR2::clustSE``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import DesignError, LsaError, MissingDataWarning, warn
from ..separation import GlmCheck, report
from .irls import family_kind, irls
from .blocks import ClusterBlocks, make_blocks
from .checks import check_alpha, check_response, check_weights, column_or_values, weight_values
from .cr import CovarianceType, get_covariance_type
from ..formula import r_name
from ..design import SurveyDesign
from ..model_inputs import model_inputs
from ..threads import single_blas_thread
from ..validation import check_frame, has_column, reads_named_columns
from .formula import build_design
from .gstar import effective_clusters_from_blocks
from .satterthwaite import DfMethod, PArrayStats, df_method_option, get_df_method
from .wald import wald_test
from ..results import TIDY_COLUMNS, ConfInt, WaldTest, conf_int_frame, renamed_option

_FAMILIES = ("gaussian", "binomial", "logit", "probit", "poisson")


class DefaultCluster(str):
    """The default of ``cluster``: the column ``"schid"`` of a DataFrame (as before), the
    top-level id of a design; told apart from an explicit ``"schid"`` by identity."""


DEFAULT_CLUSTER = DefaultCluster("schid")


# ---------------------------------------------------------------------------------------------
# result
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusteredResult:
    """Immutable result of :func:`clustered` (statsmodels-style names).

    Attributes: ``params``, ``bse``, ``df`` (pandas Series by term), ``cov_type``,
    ``df_method``, ``nobs``, ``n_clusters``, ``n_dropped`` (rows dropped for missing values),
    ``family``, ``se_model`` (model-based / unadjusted SEs), ``blocks`` (per-cluster pieces),
    ``converged`` (False when an iterative fit stopped without reaching a finite optimum:
    iteration limit, or separation), ``separation`` (terms whose coefficients diverge under
    (quasi-)complete separation, see :mod:`lsa.separation`; their ``bse``, ``se_model``,
    statistics, p-values and confidence limits are NaN, and so for every term when
    ``complete_separation`` is True).
    """

    terms: tuple
    beta: np.ndarray = field(repr=False)
    cov: np.ndarray = field(repr=False)
    df_values: np.ndarray = field(repr=False)
    cov_type: str
    df_method: str
    blocks: ClusterBlocks = field(repr=False)
    estimating: tuple = field(repr=False)
    se_model_values: np.ndarray = field(repr=False)
    nobs: int
    n_clusters: int
    n_dropped: int = 0
    family: str = "gaussian"
    label: str = ""
    extra: dict = field(default_factory=dict, repr=False, compare=False)
    converged: bool = True
    separation: tuple = ()
    complete_separation: bool = False

    # -- statsmodels-like accessors ----------------------------------------------------------
    @property
    def params(self) -> pd.Series:
        return pd.Series(self.beta, index=list(self.terms), name="estimate")

    @property
    def bse(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self.cov)), index=list(self.terms), name="std_error")

    @property
    def df(self) -> pd.Series:
        return pd.Series(self.df_values, index=list(self.terms), name="df")

    @property
    def se_model(self) -> pd.Series:
        return pd.Series(self.se_model_values, index=list(self.terms), name="se_model")

    @property
    def tvalues(self) -> pd.Series:
        return pd.Series(self.beta / self.bse.to_numpy(), index=list(self.terms), name="statistic")

    @property
    def pvalues(self) -> pd.Series:
        t = np.abs(self.tvalues.to_numpy())
        p = np.where(np.isinf(self.df_values), 2 * stats.norm.sf(t), 2 * stats.t.sf(t, self.df_values))
        return pd.Series(p, index=list(self.terms), name="p_value")

    def cov_params(self) -> pd.DataFrame:
        """Cluster-robust covariance matrix of the estimates (terms x terms)."""
        return pd.DataFrame(self.cov, index=list(self.terms), columns=list(self.terms))

    def conf_int(self, alpha: float = 0.05) -> ConfInt:
        """``estimate -/+ t_{1-alpha/2, df_c} * SE_c`` with each coefficient's own df; columns
        ``conf_low``, ``conf_high``."""
        alpha = check_alpha(alpha, "alpha")
        q = np.where(np.isinf(self.df_values), stats.norm.ppf(1 - alpha / 2),
                     stats.t.ppf(1 - alpha / 2, np.where(np.isinf(self.df_values), 1, self.df_values)))
        se = self.bse.to_numpy()
        return conf_int_frame(self.beta - q * se, self.beta + q * se, index=list(self.terms))

    def tidy(self, conf_level: float | None = None, *, alpha: float = 0.05) -> pd.DataFrame:
        """One row per term: term, estimate, std_error, statistic, df, p_value, conf_low,
        conf_high (:data:`lsa.results.TIDY_COLUMNS`), intervals at level 1 − ``alpha``.
        ``conf_level`` (= 1 − alpha) is the deprecated name of the option."""
        if conf_level is not None:
            alpha = 1 - check_alpha(renamed_option("tidy", "conf_level", "alpha", conf_level, alpha, 0.05),
                                    "conf_level")
        ci = self.conf_int(alpha)
        values = {"term": list(self.terms), "estimate": self.beta, "std_error": self.bse.to_numpy(),
                  "statistic": self.tvalues.to_numpy(), "df": self.df_values, "p_value": self.pvalues.to_numpy(),
                  "conf_low": ci["conf_low"].to_numpy(), "conf_high": ci["conf_high"].to_numpy()}
        return pd.DataFrame({c: values[c] for c in TIDY_COLUMNS})

    def summary(self) -> str:
        """Printable summary (header + tidy table with model-based SEs beside)."""
        tab = self.tidy()
        tab.insert(3, "se_model", self.se_model_values)
        head = [
            f"Cluster-robust inference{(' - ' + self.label) if self.label else ''}",
            f"family: {self.family}   covariance: {self.cov_type}   df: {self.df_method}",
            f"observations: {self.nobs}   clusters: {self.n_clusters}"
            + (f"   rows dropped (missing): {self.n_dropped}" if self.n_dropped else ""),
        ]
        if self.separation:
            head.append(f"SEPARATION: coefficients of {list(self.separation)} diverge; standard errors "
                        f"not reported (NaN){' for any term (complete separation)' if self.complete_separation else ''}")
        elif not self.converged:
            head.append("NOT CONVERGED: the estimates are not reliable")
        head.append("")
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            return "\n".join(head) + tab.to_string(index=False, float_format=lambda v: f"{v:.6g}")

    def __str__(self) -> str:  # pragma: no cover - display only
        return self.summary()

    def _repr_html_(self) -> str:
        from ..report.tables import result_html

        return result_html(f"Cluster-robust {self.family} model" + (f" - {self.label}" if self.label else ""),
                           f"{self.nobs:,} observations, {self.n_clusters} clusters; {self.cov_type}, "
                           f"{self.df_method} df", self.tidy(), drop=("conf_low", "conf_high"))

    def to_excel(self, path, sheet: str | None = None):
        """Write :meth:`tidy` to a new ``.xlsx`` workbook (:mod:`lsa.report.excel`); returns the path."""
        from ..report.excel import result_to_excel

        return result_to_excel(self, path, sheet, title=f"Cluster-robust {self.family} model", note="")

    # -- derived results -----------------------------------------------------------------------
    @cached_property
    def _pstats(self) -> PArrayStats:
        return PArrayStats.from_blocks(self.blocks, list(self.estimating))

    def wald_test(self, constraints, rhs=None, test: str = "HTZ") -> WaldTest:
        """Joint test of ``C beta = rhs`` (``constraints``: term names tested = 0, or a q x p
        matrix). ``test``: ``"HTZ"`` (Hotelling T^2 approximation, clubSandwich ``Wald_test``),
        ``"chi2"`` or ``"naive-F"`` (F with G - 1 denominator df). Returns
        :class:`lsa.results.WaldTest` (``method`` = the test)."""
        return wald_test(self.beta, self.cov, self._pstats, self.n_clusters, constraints,
                         self.terms, rhs=rhs, test=test)

    def with_vcov(self, type: str | CovarianceType, df_method: str | DfMethod | None = None, *,
                  df: str | DfMethod | None = None) -> "ClusteredResult":
        """A new result with another covariance type (and optionally df method; ``df=`` is the
        deprecated name of ``df_method``)."""
        df_method = df_method_option("with_vcov", df_method, df, None)
        return finish_result(self.blocks, self.beta, self.terms, type,
                       self.df_method if df_method is None else df_method, self.se_model_values,
                       self.n_dropped, self.family, self.label, self.extra,
                       check=GlmCheck(self.converged, self.separation, self.complete_separation))

    def effective_clusters(self):
        """Coefficient-specific effective number of clusters (see :mod:`lsa.robust.effective`)."""
        return effective_clusters_from_blocks(self.blocks)


def finish_result(blocks, beta, terms, type, df_method, se_model, n_dropped, family, label="",
            extra=None, *, check: GlmCheck | None = None) -> ClusteredResult:
    """Covariance and df for ``blocks``; under separation (``check``) the rows and columns of the
    covariance (and the model-based SEs) of the diverging terms, or of all terms under complete
    separation, are NaN, so no test or interval is reported for them."""
    ct = get_covariance_type(type)
    dm = get_df_method(df_method, "df_method")
    E = ct.estimating_matrices(blocks)
    cov = ct.vcov(blocks, E)
    dfv = dm.df(blocks, ct, E)
    check = check or GlmCheck()
    if check.separation:
        bad = np.ones(len(terms), bool) if check.complete else np.isin(list(terms), list(check.separation))
        cov = np.array(cov, float)
        cov[bad, :] = cov[:, bad] = np.nan
        se_model = np.where(bad, np.nan, np.asarray(se_model, float))
    return ClusteredResult(
        terms=tuple(terms), beta=np.asarray(beta, float), cov=cov, df_values=np.asarray(dfv, float),
        cov_type=ct.name, df_method=dm.name, blocks=blocks, estimating=tuple(E),
        se_model_values=np.asarray(se_model, float), nobs=blocks.nobs,
        n_clusters=blocks.n_clusters, n_dropped=int(n_dropped), family=family, label=label,
        extra=dict(extra or {}), converged=check.converged, separation=tuple(check.separation),
        complete_separation=check.complete,
    )


# ---------------------------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------------------------


@single_blas_thread
@reads_named_columns
def clustered(
    formula,
    data: pd.DataFrame | None = None,
    cluster=DEFAULT_CLUSTER,
    family: str | None = None,
    weights=None,
    type: str = "CR2",
    df_method: str = "satterthwaite",
    *,
    df: str | None = None,
) -> ClusteredResult:
    """Fit OLS/WLS/GLM and return cluster-robust inference that holds with few clusters.

    Parameters
    ----------
    formula : str or fitted statsmodels results
        ``"y ~ x1 + x2 + f"`` (R semantics, treatment coding, R-style term names such as
        ``(Intercept)`` and ``sectorCatholic``), or a fitted statsmodels ``OLS``/``WLS``/``GLM``
        results object; then ``cluster`` is an array aligned with the model rows or a column
        of ``data`` (aligned through the model's row labels).
    data : DataFrame, or an :class:`lsa.SurveyDesign` (through :func:`lsa.model_inputs`):
        then the weights are the design's full (final) weight, ``cluster`` defaults to the
        design's top-level id, and a domain (``design.subset(...)``) is applied by the domain
        rule of :mod:`lsa.model_inputs`: its rows have weight 0, contribute nothing to the
        estimating equation and are left out of the point estimate and of the per-cluster
        pieces; clusters without a row in the domain have a zero score and are not counted
        (as in :func:`lsa.mixed`). The fit equals the fit on the domain's rows.
    cluster : str or array-like
        Cluster ids (column name or values, one per row of ``data``). Missing ids are an
        error. Default: the design's top-level id; with a DataFrame, the column ``"schid"``.
    family : None, "gaussian", "binomial" (logit), "probit", "poisson", or a statsmodels family
        ``None``/``"gaussian"`` fit least squares (the linear probability model for a 0/1
        outcome).
    weights : str or array-like, optional
        Sampling weights (finite and > 0; a row with a missing weight is dropped and counted, as
        a missing value of the model's variables). Least squares: WLS with ``W = diag(w)`` and working model
        ``Theta = I`` for CR2/df (clubSandwich's ``vcovCR.lm`` with weights). GLM: prior weights.
    type : "CR0", "CR1", "CR1S", "CR2" (default), "CR3", "CR3J"
        See :mod:`lsa.robust.cr`. ``CR1`` = G/(G-1) (clubSandwich); ``CR1S`` = Stata / clustSE.
    df_method : "satterthwaite" (default), "bell-mccaffrey", "between-within", "naive", "residual", "z"
        See :mod:`lsa.robust.satterthwaite`.
    df : deprecated name of ``df_method`` (the same values; ``DeprecationWarning``).

    Notes
    -----
    GLM working-weight adjustment for CR2 follows **CR2::clustSE** (Huang, Zhang & Li 2023):
    the design is row-scaled by the square roots of the IRLS working weights
    ``w = prior / (V(mu) g'(mu)^2)``, residuals are Pearson residuals, and CR2/df are then
    computed as for OLS on that scale (``A_j = (I - H~_jj)^{-1/2}``, ``H~ = W^{1/2} X M X' W^{1/2}``).
    All computations are per cluster; no n x n matrix is formed.

    Arguments are checked before anything is fitted (:mod:`lsa.robust.checks`,
    :mod:`lsa.validation`): a bad ``data``, ``cluster``, ``weights``, ``type``, ``df_method`` or
    ``family``, or a response outside the family's range (binomial: [0, 1]; Poisson: >= 0), is an
    :class:`~lsa.errors.LsaError` naming it.

    Binomial (logit, probit) and Poisson fits are checked for separation and non-convergence
    (:mod:`lsa.separation`): under separation the estimates are kept where IRLS stopped (as R's
    ``glm``), a :class:`~lsa.errors.SeparationWarning` names the diverging terms, their SEs,
    tests and intervals are NaN (every term's under complete separation), and
    ``result.separation`` / ``result.converged`` flag it; a fit that hits the iteration limit
    otherwise gives a :class:`~lsa.errors.ConvergenceWarning` and ``converged`` False.

    Returns
    -------
    ClusteredResult

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> d = pd.DataFrame({"g": np.repeat(np.arange(12), 10), "x": rng.normal(size=120)})
    >>> d["y"] = d.x + rng.normal(size=12).repeat(10) + rng.normal(size=120)
    >>> r = clustered("y ~ x", d, cluster="g")
    >>> list(r.tidy().columns)[:4]
    ['term', 'estimate', 'std_error', 'statistic']
    """
    df_method = df_method_option("clustered", df_method, df)
    if not isinstance(formula, str):
        return _from_statsmodels(formula, data, cluster, type, df_method)
    if data is None:
        raise LsaError("data must be given with a formula")
    data, cluster, weights = frame_of(data, formula, cluster, weights)
    fam = glm_family(family)                                  # argument errors before any fitting
    get_covariance_type(type)
    cl_name, cl_values = column_or_values(cluster, data, "cluster")
    w_name, w_values = (None, None) if weights is None else weight_values(weights, data)
    design = build_design(formula, data)
    pos = design.rows
    y, X = design.y, design.X
    n_dropped = design.n_dropped
    cl = cl_values[pos]
    w = None
    if w_values is not None:
        w = np.asarray(w_values, float)[pos]
        bad_na = np.isnan(w)
        if bad_na.any():
            keep = ~bad_na
            y, X, cl, w = y[keep], X[keep], cl[keep], w[keep]
            n_dropped += int(bad_na.sum())
        check_weights(w, w_name or "weights")
    if n_dropped:
        warn(
            f"{n_dropped} of {len(data)} rows dropped for missing values in the model's variables"
            + (f" ({int(bad_na.sum())} of them for a missing weight in {w_name!r})"
               if w_values is not None and bad_na.any() else ""),
            MissingDataWarning
        )
    if fam is None:
        blocks, beta, se_model = _least_squares(y, X, cl, w, design.terms, cl_name)
        fam_name = "gaussian"
        check = None
    else:
        check_response(y, family_kind(fam), formula)
        fam_name = f"{type_name(fam).lower()}({type_name(fam.link).lower()})"
        blocks, beta, se_model, check = _glm(y, X, cl, w, design.terms, fam, cl_name)
        report(f"clustered {fam_name} fit of {formula!r}", check, family=family_kind(fam))
    return finish_result(blocks, beta, design.terms, type, df_method, se_model, n_dropped, fam_name, formula,
                   check=check)


def frame_of(data, formula, cluster, weights):
    """(frame, cluster, weights) of a single-level cluster-robust fit from a DataFrame or a
    design (:func:`lsa.model_inputs`): a design gives its domain's rows (the rows of zero
    weight, left out), its full weight and, unless ``cluster`` is given, its top-level id;
    ``cluster`` values given for every row of the design are restricted to the domain too."""
    if not isinstance(data, SurveyDesign):
        data = check_frame(data, "data")
        return data.reset_index(drop=True), ("schid" if cluster is DEFAULT_CLUSTER else cluster), weights
    inp = model_inputs(data, formula, weights)
    if cluster is None or cluster is DEFAULT_CLUSTER:
        if inp.cluster is None:
            raise DesignError("cluster: the design declares no id (ids={...}) to cluster on; "
                              "give cluster= (a column name)")
        cluster = inp.cluster
    keep = inp.domain
    if not isinstance(cluster, str) and np.ndim(cluster) == 1 and len(cluster) == len(keep):
        cluster = np.asarray(cluster)[keep]
    w = inp.row_weights() if inp.weights is not None else None
    frame = check_frame(inp.data, "data").loc[keep].reset_index(drop=True)
    return frame, cluster, None if w is None else w[keep]


def type_name(obj) -> str:
    return obj.__class__.__name__


def glm_family(family):
    if family is None:
        return None
    import statsmodels.api as sm

    if isinstance(family, sm.families.Family):
        if isinstance(family, sm.families.Gaussian) and isinstance(family.link, sm.families.links.Identity):
            return None
        return family
    key = str(family).lower()
    if key == "gaussian":
        return None
    if key in ("binomial", "logit"):
        return sm.families.Binomial()
    if key == "probit":
        return sm.families.Binomial(link=sm.families.links.Probit())
    if key == "poisson":
        return sm.families.Poisson()
    raise LsaError(f"family must be None or one of {_FAMILIES} or a statsmodels family; got {family!r}")


def _least_squares(y, X, cl, w, terms, cl_name):
    """OLS (``w`` None) or WLS fit; blocks hold the raw residuals."""
    sw = np.ones_like(y) if w is None else np.sqrt(w)
    beta, *_ = np.linalg.lstsq(X * sw[:, None], y * sw, rcond=None)
    e = y - X @ beta
    blocks = make_blocks(X, e, cl, terms, weights=w, X_raw=X, cluster_name=cl_name)
    n, p = X.shape
    sigma2 = float(np.sum((sw * e) ** 2) / (n - p))
    return blocks, beta, np.sqrt(np.diag(blocks.bread) * sigma2)


def _glm(y, X, cl, w, terms, fam, cl_name):
    from .blocks import safe_inverse

    prior = np.ones_like(y) if w is None else w
    safe_inverse(X.T @ X, terms)  # clear error for a singular design before fitting
    beta, ww, scale, check = irls(y, X, fam, prior, terms=terms)
    with np.errstate(over="ignore", under="ignore"):       # fitted values at their bounds
        blocks, beta, se_model = _glm_blocks(y, X, cl, prior, fam, beta, terms, cl_name, scale,
                                             working_weights=ww)
    return blocks, beta, se_model, check


def _glm_blocks(y, X, cl, prior, fam, beta, terms, cl_name, scale, working_weights=None):
    eta = X @ beta
    mu = fam.link.inverse(eta)
    var = fam.variance(mu)
    if working_weights is None:
        ww = prior / (var * fam.link.deriv(mu) ** 2)  # IRLS working weights at the estimate
    else:
        ww = working_weights
    pearson = (y - mu) * np.sqrt(prior / var)
    Xw = X * np.sqrt(ww)[:, None]
    blocks = make_blocks(Xw, pearson, cl, terms, weights=None, X_raw=X, cluster_name=cl_name)
    se_model = np.sqrt(np.diag(blocks.bread) * scale)
    return blocks, beta, se_model


# ---------------------------------------------------------------------------------------------
# statsmodels results in place of a formula
# ---------------------------------------------------------------------------------------------


def _from_statsmodels(res, data, cluster, type, df_method) -> ClusteredResult:
    model = getattr(res, "model", None)
    mname = type_name(model) if model is not None else type_name(res)
    if mname not in ("OLS", "WLS", "GLM"):
        raise LsaError(
            f"a fitted statsmodels OLS, WLS or GLM results object or a formula string is "
            f"required; got {type_name(res)} (model {mname})"
        )
    X = np.asarray(model.exog, float)
    y = np.asarray(model.endog, float)
    terms = tuple(r_name(t) for t in model.exog_names)
    cl = _cluster_for_model(model, data, cluster, X.shape[0])
    cl_name = cluster if isinstance(cluster, str) else "cluster"
    beta = np.asarray(res.params, float)
    if mname in ("OLS", "WLS"):
        w = np.asarray(model.weights, float) if mname == "WLS" else None
        if w is not None and w.ndim == 0:
            w = np.full(len(y), float(w))
        if w is not None:
            check_weights(w, "weights")
        e = y - X @ beta
        blocks = make_blocks(X, e, cl, terms, weights=w, X_raw=X, cluster_name=cl_name)
        se_model = np.asarray(res.bse, float)
        return finish_result(blocks, beta, terms, type, df_method, se_model, 0, "gaussian", mname)
    fam = model.family
    prior = np.asarray(model.var_weights, float) * np.asarray(model.freq_weights, float)
    blocks, beta, se_model = _glm_blocks(y, X, cl, prior, fam, beta, terms, cl_name, res.scale)
    fam_name = f"{type_name(fam).lower()}({type_name(fam.link).lower()})"
    return finish_result(blocks, beta, terms, type, df_method, se_model, 0, fam_name, mname)


def _cluster_for_model(model, data, cluster, n):
    if isinstance(cluster, str):
        if data is None:
            raise LsaError(f"cluster={cluster!r} names a column, so data must be given")
        check_frame(data, "data", allow_empty=True)
        if not has_column(data, cluster):
            raise DesignError(f"cluster column {cluster!r} is not in the data")
        labels = getattr(getattr(model, "data", None), "row_labels", None)
        col = data[cluster]
        vals = col.loc[labels].to_numpy() if labels is not None and len(labels) == n else col.to_numpy()
    elif cluster is None or np.ndim(cluster) != 1:
        raise DesignError(f"cluster must be a column name of data or an array with one id per row of the "
                          f"fitted model ({n}); got {cluster!r:.80}.")
    else:
        vals = np.asarray(cluster)
    if len(vals) != n:
        raise DesignError(f"cluster has {len(vals)} values but the fitted model has {n} rows")
    return vals
