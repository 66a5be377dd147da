"""Analyse every completed data set and pool the results with :mod:`lsa.pooling`.

* :func:`analyze` applies a fitting function (or an ``lsa.mixed`` formula) to each completed
  data set of an :class:`~lsa.impute.Imputed` (joblib), keeping the PV/imputation tags;
* :func:`pool` pools them **flat** (all M·m fits as one set, Rubin's rules with the
  Barnard–Rubin df of mixPV, as Huang & Keller 2025 do; spec §6.2 step 7) or **nested**
  (Rubin 2003, PVs as between-draws and imputations within, :func:`lsa.pooling.nested`).

Any result object with ``params`` (Series or array) and ``cov_params()`` (or ``bse``) can be
pooled. For :class:`lsa.MixedResult` the variance components are pooled too (estimate and
its SE per fit, as ``summary.mixPV``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Literal, Sequence

import numpy as np
import pandas as pd

from .. import pooling
from ..results import NOT_GIVEN, ConfInt, conf_int_frame
from ..errors import LsaError, MissingDataWarning, warn
from ..validation import check_columns_exist, check_n_jobs, check_number
from .completed import Imputed
from .spec import check_flag, check_name_list

__all__ = ["Analyses", "PooledMI", "analyze", "pool"]

PoolMethod = Literal["flat", "nested"]


class Analyses(list):
    """A list of fitted results with ``pv_index`` / ``imp_index`` tags (same order as the
    :class:`Imputed` analysed). ``.pool(method=...)`` pools them."""

    def __init__(self, results: Sequence[Any], pv_index: Sequence[int], imp_index: Sequence[int]):
        super().__init__(results)
        self.pv_index = np.asarray(pv_index, dtype=int)
        self.imp_index = np.asarray(imp_index, dtype=int)

    def pool(self, method: PoolMethod = "flat", df_method: Any = "barnard_rubin", *,
             df_complete: Any = NOT_GIVEN) -> "PooledMI":
        """:func:`pool` of these results (PV and imputation tags as given)."""
        return pool(self, method=method, df_method=df_method, df_complete=df_complete)


def _formula_columns(formula: str) -> set[str]:
    return set(re.findall(r"[A-Za-z_.][A-Za-z0-9_.]*", formula)) - {"C", "I", "Q", "np", "log", "exp"}


def analyze(imputed: Imputed | Sequence[pd.DataFrame], fit: Callable[[pd.DataFrame], Any] | str, *,
            weights: Sequence[str] | None = None, n_jobs: int | None = None, progress: bool = False,
            **fit_kwargs: Any) -> Analyses:
    """Fit every completed data set.

    Parameters
    ----------
    imputed : an :class:`Imputed` (or a plain list of completed DataFrames: tagged PV 1,
        imputations 1..m).
    fit : a function ``df -> result`` (result with ``params`` and ``cov_params()``), or an
        ``lsa.mixed`` formula string, fitted as ``lsa.mixed(fit, df, weights=weights, **fit_kwargs)``.
    weights : weight columns for the formula form (level 1 first, e.g. ``["w_fstuwt", "w_schgrnrabwt"]``).
    n_jobs : joblib workers under the active backend (``None``: the enclosing
        ``joblib.parallel_config``'s, else 1; :mod:`lsa.parallel`); results do not depend on it.
    progress : print "analysed k/K" on stderr.

    Returns
    -------
    :class:`Analyses` — the results in the order of ``imputed``.
    """
    check_n_jobs(n_jobs)
    check_flag(progress, "progress")
    if not isinstance(imputed, Imputed):
        if isinstance(imputed, pd.DataFrame):
            raise LsaError("imputed must be an lsa.impute.Imputed or a list of completed DataFrames; got one "
                           "DataFrame (a single data set: nothing to pool).")
        imputed = Imputed.from_frames(imputed)
    if isinstance(fit, str):
        if weights is not None:
            check_columns_exist(imputed[0], check_name_list(weights, "weights"), "weights")
        _check_congenial(fit, imputed)
        from ..mixed import mixed
        formula = fit

        def fn(df, _f=formula, _w=weights, _k=fit_kwargs):
            return mixed(_f, df, weights=_w, **_k)
    elif callable(fit):
        if weights is not None or fit_kwargs:
            raise LsaError("weights= and other keyword arguments are only used with a formula; "
                           "bind them into your fitting function instead.")
        fn = fit
    else:
        raise LsaError(f"fit must be a function of a DataFrame or an lsa.mixed formula; got {type(fit).__name__}.")
    from ..progress import progress_bar

    bar = progress_bar(len(imputed), progress, "analysed", unit="data set")
    from ..parallel import run

    frames = list(imputed)
    labels = [f"data set {k + 1}" for k in range(len(frames))]
    results = []
    for _, r in run(fn, frames, labels, n_jobs=n_jobs):
        results.append(r)
        bar.update(1)
    bar.close()
    return Analyses(results, imputed.pv_index, imputed.imp_index)


def _check_congenial(formula: str, imputed: Imputed) -> None:
    """Warn when an analysis variable was not in the imputation model."""
    if not imputed.variables:
        return
    df0 = imputed[0]
    used = [c for c in _formula_columns(formula) if c in df0.columns]
    known = set(imputed.variables) | {imputed.cluster, imputed.pv_column, imputed.weight} | set(imputed.pv_columns)
    absent = [c for c in used if c not in known]
    if absent:
        warn(f"analysis variable(s) {absent} were not in the imputation model {list(imputed.variables)}: "
             f"the imputations assume they are unrelated to the imputed variables, which biases "
             f"their coefficients toward zero (uncongenial imputation). Re-impute with them in "
             f"variables=.", MissingDataWarning)
    still = [c for c in used if df0[c].isna().any()]
    if still:
        warn(f"analysis variable(s) {still} still have missing values in the completed data "
             f"(they were not imputed); lsa.mixed drops those rows.", MissingDataWarning)


# -- pooling ------------------------------------------------------------------------------------

def _params(r: Any) -> tuple[pd.Series, np.ndarray]:
    if not hasattr(r, "params"):
        raise LsaError(f"a result of type {type(r).__name__} has no .params; fit functions must return "
                       f"objects with params and cov_params() (or bse).")
    p = r.params
    p = p if isinstance(p, pd.Series) else pd.Series(np.asarray(p, dtype=float).ravel())
    if hasattr(r, "cov_params"):
        c = r.cov_params()
        c = np.asarray(c.to_numpy() if hasattr(c, "to_numpy") else c, dtype=float)
    elif hasattr(r, "bse"):
        c = np.diag(np.asarray(r.bse, dtype=float) ** 2)
    else:
        raise LsaError(f"a result of type {type(r).__name__} has neither cov_params() nor bse.")
    return p.astype(float), c


def _vc(r: Any) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray] | None:
    """(terms, is-variance mask, estimates, SEs) of a result's variance components, or None."""
    vc = getattr(r, "variance_components", None)
    if not isinstance(vc, pd.DataFrame) or "estimate" not in vc or "std_error" not in vc:
        return None
    terms, is_var = pooling.variance_component_rows(vc)
    return terms, is_var, vc["estimate"].to_numpy(float), vc["std_error"].to_numpy(float)


@dataclass(frozen=True)
class PooledMI:
    """Pooled results of the M·m analyses.

    ``fixed``/``random``: tables (term, estimate, std_error, statistic, df, p_value, conf_low,
    conf_high, riv, fmi); ``pooled``/``pooled_random``: the :class:`lsa.pooling.Pooled`
    objects; ``method``, ``m`` (fits pooled), ``nobs`` (level-1 rows of the first fit).
    """

    fixed: pd.DataFrame
    random: pd.DataFrame | None
    pooled: pooling.Pooled
    pooled_random: pooling.Pooled | None
    method: str
    m: int
    nobs: int | None

    @property
    def params(self) -> pd.Series:
        return self.fixed.set_index("term")["estimate"]

    @property
    def bse(self) -> pd.Series:
        return self.fixed.set_index("term")["std_error"]

    def cov_params(self) -> pd.DataFrame:
        t = self.fixed["term"]
        return pd.DataFrame(self.pooled.total, index=t, columns=t)

    def conf_int(self) -> ConfInt:
        """Confidence limits of the fixed effects (95%, t with the pooled df); columns
        ``conf_low``, ``conf_high``, index term."""
        return conf_int_frame(self.fixed["conf_low"], self.fixed["conf_high"], index=self.fixed["term"])

    def tidy(self) -> pd.DataFrame:
        """``effect`` (``"fixed"``/``"ran_pars"``), then term, estimate, std_error, statistic,
        df, p_value, conf_low, conf_high, riv, fmi (as :meth:`lsa.MixPVResult.tidy`)."""
        parts = [self.fixed.assign(effect="fixed")]
        if self.random is not None:
            parts.append(self.random.assign(effect="ran_pars"))
        out = pd.concat(parts, ignore_index=True)
        return out[["effect", *[c for c in out.columns if c != "effect"]]]

    def _repr_html_(self) -> str:
        from ..report.tables import result_html

        return result_html(f"Pooled over {self.m} completed data sets ({self.method})",
                           f"{self.nobs:,} observations" if self.nobs else "", self.tidy(),
                           drop=("conf_low", "conf_high"))

    def to_excel(self, path, sheet: str | None = None):
        """Write :meth:`tidy` to a new ``.xlsx`` workbook (:mod:`lsa.report.excel`); returns the path."""
        from ..report.excel import result_to_excel

        return result_to_excel(self, path, sheet, title=f"Pooled over {self.m} data sets ({self.method})", note="")

    def summary(self) -> str:
        how = ("flat Rubin pooling (Barnard–Rubin df)" if self.method == "flat"
               else "nested pooling (Rubin 2003)")
        lines = [f"Results of multilevel analyses with {self.m} completed data sets ({how})."]
        if self.nobs:
            lines.append(f"Number of observations: {self.nobs}")
        cols = ["estimate", "std_error", "statistic", "df", "p_value", "fmi"]
        fmt = {"estimate": "{:.3f}", "std_error": "{:.3f}", "statistic": "{:.2f}", "df": "{:.0f}",
               "p_value": "{:.4f}", "fmi": "{:.3f}"}
        for title, tab in (("random effects", self.random), ("fixed effects", self.fixed)):
            if tab is None:
                continue
            lines += ["", f"Estimates for {title}:"]
            t = tab.set_index("term")[cols].copy()
            lines.append(t.to_string(formatters={c: fmt[c].format for c in cols}))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _table(names: Sequence[str], p: pooling.Pooled) -> pd.DataFrame:
    return pooling.t_table(p, names, columns=pooling.MODEL_TABLE_COLUMNS)


def pool(results: Analyses | Sequence[Any], method: PoolMethod = "flat", df_method: Any = "barnard_rubin", *,
         pv_index: Sequence[int] | None = None, imp_index: Sequence[int] | None = None,
         df_complete: Any = NOT_GIVEN) -> PooledMI:
    """Pool fits of completed data sets with Rubin's rules.

    Parameters
    ----------
    results : :class:`Analyses` from :func:`analyze`, or a list of results (then give
        ``pv_index``/``imp_index`` for nested pooling).
    method : ``"flat"`` — all fits as one set (:func:`lsa.pooling.rubin`; Huang & Keller 2025,
        ``class(allres) <- 'mixPV'``); ``"nested"`` — PVs between, imputations within
        (:func:`lsa.pooling.nested`, Rubin 2003; needs ≥ 2 PVs × ≥ 2 imputations, a full grid).
    df_method : flat pooling only, the values of :func:`lsa.mix_pv`'s ``df_method``.
        ``"barnard_rubin"`` (default): Barnard–Rubin df with the complete-data df of
        :func:`lsa.pooling.mixed_df_complete` — n − (fixed effects) and n − (variances, residual
        included, covariances not counted), n = level-1 rows of the first fit — exactly as
        ``summary.mixPV`` and :func:`lsa.mix_pv`; a number: Barnard–Rubin with that ν_com for
        both blocks; ``"rubin"``: Rubin's (1987) df.
    df_complete : deprecated (DeprecationWarning): the former option, ``"mixpv"`` (=
        ``df_method="barnard_rubin"``), a number (ν_com) or ``None``/``inf`` (= ``"rubin"``).
    """
    if isinstance(results, Analyses):
        pv_index = results.pv_index if pv_index is None else pv_index
        imp_index = results.imp_index if imp_index is None else imp_index
    if isinstance(results, (str, bytes, pd.DataFrame)) or not hasattr(results, "__iter__"):
        raise LsaError(f"results must be the Analyses of lsa.impute.analyze or a list of fitted results; got "
                       f"{type(results).__name__}.")
    results = list(results)
    if not results:
        raise LsaError("no results to pool.")
    if not isinstance(method, str) or method not in ("flat", "nested"):
        raise LsaError(f"method must be 'flat' or 'nested'; got {method!r}.")
    df_complete = _df_rule(df_method, df_complete)
    for name, index in (("pv_index", pv_index), ("imp_index", imp_index)):
        if index is not None and (np.ndim(index) != 1 or len(index) != len(results)):
            raise LsaError(f"{name} needs one entry per result ({len(results)}); got {np.shape(index)}.")
    pars = [_params(r) for r in results]
    names = list(pars[0][0].index)
    for k, (p, _) in enumerate(pars[1:], start=2):
        if list(p.index) != names:
            raise LsaError(f"fit {k} has parameters {list(p.index)} but fit 1 has {names}: a factor level is "
                           f"absent from some completed data set, or the models differ.")
    Q = np.vstack([p.to_numpy() for p, _ in pars])
    U = np.stack([c for _, c in pars])
    vcs = [_vc(r) for r in results]
    has_vc = all(v is not None for v in vcs) and len({tuple(v[0]) for v in vcs}) == 1
    nobs = getattr(results[0], "nobs", None)
    nobs = int(nobs) if nobs is not None else None
    nu = _df_complete(df_complete, nobs, Q.shape[1], int(vcs[0][1].sum()) if has_vc else 0)
    if method == "nested" and (pv_index is None or imp_index is None):
        raise LsaError("nested pooling needs pv_index and imp_index (use analyze() on an Imputed).")
    grid = (pv_index, imp_index) if method == "nested" else None
    fixed = pooling.pool_estimates(Q, U, method=method, df_complete=nu[0], grid=grid)
    rand = None
    if has_vc:
        vq = np.vstack([v[2] for v in vcs])
        vu = np.vstack([v[3] ** 2 for v in vcs])
        rand = pooling.pool_estimates(vq, vu, method=method, df_complete=nu[1], grid=grid)
    ftab = _table(names, fixed)
    rtab = _table(vcs[0][0], rand) if rand is not None else None
    return PooledMI(ftab, rtab, fixed, rand, method, len(results), nobs)


def _df_rule(df_method: Any, df_complete: Any) -> Any:
    """``df_method`` (or the deprecated ``df_complete``) as the rule :func:`_df_complete` reads:
    ``"mixpv"``, a number (ν_com) or ``None`` (Rubin 1987)."""
    if df_complete is not NOT_GIVEN:
        if not (isinstance(df_method, str) and df_method == "barnard_rubin"):
            raise LsaError(f"pool: give df_method= only (df_complete= is its deprecated name); got both "
                           f"df_method={df_method!r} and df_complete={df_complete!r}.")
        warn("pool(): df_complete= is deprecated; use df_method= ('barnard_rubin' for 'mixpv', 'rubin' for "
             "None, or the number).", DeprecationWarning)
        if not (df_complete is None or isinstance(df_complete, str)
                or (isinstance(df_complete, float) and df_complete == np.inf)):
            check_number(df_complete, "df_complete", low=0, low_open=True)
        return df_complete
    if df_method is None or (isinstance(df_method, str) and df_method == "mixpv"):
        warn(f"pool(): df_method={df_method!r} is a value of the deprecated df_complete option; use "
             f"{'rubin' if df_method is None else 'barnard_rubin'!r}.", DeprecationWarning)
        return df_method
    if isinstance(df_method, str):
        if df_method not in ("barnard_rubin", "rubin"):
            raise LsaError(f"df_method must be 'barnard_rubin', 'rubin' or a positive number (the complete-data "
                           f"df); got {df_method!r}.")
        return "mixpv" if df_method == "barnard_rubin" else None
    if isinstance(df_method, float) and df_method == np.inf:
        return None
    return check_number(df_method, "df_method", low=0, low_open=True)


def _df_complete(df_complete: Any, nobs: int | None, n_fixed: int, n_variances: int) -> tuple[float, float]:
    """ν_com of the fixed and the variance-component block (flat pooling): ``"mixpv"`` is
    :func:`lsa.pooling.mixed_df_complete` (n − fixed effects, n − variances), as
    ``summary.mixPV`` and :func:`lsa.mix_pv`."""
    if df_complete is None:
        return np.inf, np.inf
    if isinstance(df_complete, str):
        if df_complete != "mixpv":
            raise LsaError(f"df_complete must be 'mixpv', a number or None; got {df_complete!r}.")
        return pooling.mixed_df_complete(nobs, n_fixed, n_variances) if nobs else (np.inf, np.inf)
    return float(df_complete), float(df_complete)
