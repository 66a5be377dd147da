"""Weighted robust_mixed: CR2 for the pseudo-likelihood of a weighted lsa.mixed fit.

Definition (lsa/robust/mixed.py docstring): fixed-effect scores s_k = X_k' W_k e_k with
W_k = w_k Vw_k^{-1} (Vw the weighted marginal covariance), bread = inverse pseudo-Hessian,
CR2 working model Theta_k = V_k (target="model", default) or W_k^{-1} (target="weighted").

Checks:
1. the algebra against clubSandwich (R), through nlme::lme with varFixed(~1/pwt1), whose
   marginal covariance is the level-1 weighted Vw: both targets, vcov and Satterthwaite df,
   1e-8 relative (tests/reference/robust_mixed_weighted.R / .json);
2. the weighted fit's own numbers: GLS beta given the fit's components = fit.params (1e-8),
   bread = fit.bse_model (1e-8), CR0 = the engine's sandwich without G/(G-1) (1e-6; two and
   three levels, with and without level-1 scaling);
3. reductions: all weights 1 -> the unweighted robust_mixed (1e-8); no random effects ->
   clustered() WLS with the product weights (clubSandwich's lm convention; 1e-8).
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lsa.errors import DesignError

from lsa.robust import clustered
from conftest import assert_cov_close, read_reference_csv
from lsa.robust.formula import build_design
from lsa.robust.mixed import robust_mixed, robust_mixed_components

REF = Path(__file__).parent / "reference"
RW = json.loads((REF / "robust_mixed_weighted.json").read_text())["pisa_varfixed"]


@pytest.fixture(scope="module")
def pisa():
    return read_reference_csv(REF / "data" / "pisa2012.csv")


def _mixed(*a, **k):
    from lsa.mixed.fit import mixed

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mixed(*a, **k)


@pytest.mark.parametrize("target,key,cov_type", [("weighted", "cr2_weighted", "CR2"),
                                                 ("weighted", "cr0_weighted", "CR0"),
                                                 ("model", "cr2_model", "CR2")])
def test_against_clubsandwich_lme_varfixed(pisa, target, key, cov_type):
    p = pisa.dropna(subset=["pv1math", "escs", "st04q01", "pwt1", "schoolid"])
    p = p[~p.schoolid.isin(RW["dropped_schools"])].reset_index(drop=True)
    d = build_design("pv1math ~ escs + st04q01", p)
    assert len(d.y) == RW["n"]
    r = robust_mixed_components(d.y, d.X, d.terms, [np.ones((len(d.y), 1))],
                                [p.schoolid.to_numpy()[d.rows]], [np.array([[RW["tau"]]])],
                                RW["sigma"] ** 2, type=cov_type, w1=p.pwt1.to_numpy()[d.rows],
                                target=target)
    ref = RW[key]
    np.testing.assert_allclose(r.beta, ref["estimate"], rtol=1e-8)
    np.testing.assert_allclose(r.se_model, RW["se_model"], rtol=1e-8)
    assert_cov_close(r.cov, np.array(ref["vcov"]), 1e-8)  # of se_i*se_j
    np.testing.assert_allclose(r.df, ref["df"], rtol=1e-8)


def _engine_checks(fit, r0):
    G = r0.n_clusters
    np.testing.assert_allclose(r0.beta, fit.params, rtol=1e-8)
    np.testing.assert_allclose(r0.se_model, fit.bse_model, rtol=1e-8)
    assert_cov_close(r0.cov * G / (G - 1), fit.cov_params(), 1e-6)


@pytest.mark.parametrize("formula,scaling", [
    ("pv1math ~ escs + st04q01 + (1 | schoolid)", "none"),
    ("pv1math ~ escs + st04q01 + (1 + escs | schoolid)", "cluster"),
])
def test_cr0_is_engine_sandwich(pisa, formula, scaling):
    fit = _mixed(formula, pisa, weights=["w_fstuwt", "w_fschwt"], scaling=scaling)
    _engine_checks(fit, robust_mixed(fit, type="CR0"))
    r2 = robust_mixed(fit)
    assert r2.extra["weighted"] and r2.cov_type == "CR2"
    assert np.all(r2.bse > r2.with_vcov("CR0").bse * 0.999)  # CR2 inflates CR0 here


def test_cr0_is_engine_sandwich_three_levels():
    d = pd.read_csv(REF / "data" / "timss2019_usa_3level.csv")
    d["schw"] = d.WGTFAC1 * d.WGTADJ1
    d["clsw"] = d.schw * d.WGTFAC2 * d.WGTADJ2
    d["totw"] = d.clsw * d.WGTFAC3 * d.WGTADJ3
    fit = _mixed("BSMMAT01 ~ BSBGHER + Sex + (1 | IDSCHOOL/IDCLASS)", d,
                 weights=["totw", "clsw", "schw"])
    r0 = robust_mixed(fit, type="CR0")
    assert r0.n_clusters == fit.ngroups["IDSCHOOL"]
    _engine_checks(fit, r0)
    r2 = robust_mixed(fit)
    assert np.all(np.isfinite(r2.df)) and np.all(r2.df > 1)


def test_unit_weights_reduce_to_unweighted(pisa):
    f = "pv1math ~ escs + st04q01 + (1 | schoolid)"
    pu = pisa.assign(one=1.0)
    fu = _mixed(f, pu)
    f1 = _mixed(f, pu, weights=["one", "one"])
    for typ in ("CR2", "CR0"):
        for target in ("model", "weighted"):
            a, b = robust_mixed(fu, type=typ), robust_mixed(f1, type=typ, target=target)
            assert_cov_close(b.cov, a.cov, 1e-8)
            np.testing.assert_allclose(b.df, a.df, rtol=1e-8)
    # at the level of the algebra (same components; the general non-inverse-variance path)
    fr = fu.model_frame
    T = [fu.random_covariances()["schoolid"].to_numpy()]
    a = robust_mixed_components(fr.y, fr.X, fr.xnames, fr.Z, fr.codes, T, fu.scale)
    b = robust_mixed_components(fr.y, fr.X, fr.xnames, fr.Z, fr.codes, T, fu.scale,
                                w1=np.ones(len(fr.y)), group_weights=[np.ones(fu.ngroups["schoolid"])])
    assert a.blocks.inverse_var and not b.blocks.inverse_var  # b: the sampling-weight path
    assert_cov_close(b.cov, a.cov, 1e-10)
    np.testing.assert_allclose(b.df, a.df, rtol=1e-10)


def test_no_random_effects_is_weighted_least_squares(pisa):
    """T = 0: W_k = w_k W1_k / sigma^2 and Theta = sigma^2 I, i.e. WLS with weights
    w_{i|j} w_j and clubSandwich's identity target -- clustered(weights=...)."""
    p = pisa.dropna(subset=["pv1math", "escs", "st04q01", "pwt1", "w_fschwt"]).reset_index(drop=True)
    d = build_design("pv1math ~ escs + st04q01", p)
    cl = p.schoolid.to_numpy()[d.rows]
    w1 = p.pwt1.to_numpy()[d.rows]
    codes, labels = pd.factorize(cl, sort=True)
    wg = p.w_fschwt.to_numpy()[d.rows]
    gw = pd.Series(wg).groupby(codes).first().to_numpy()
    r = robust_mixed_components(d.y, d.X, d.terms, [np.ones((len(d.y), 1))], [cl],
                                [np.zeros((1, 1))], 1234.5, w1=w1, group_weights=[gw])
    ols = clustered("pv1math ~ escs + st04q01", p.assign(w=p.pwt1 * p.w_fschwt),
                    cluster="schoolid", weights="w")
    np.testing.assert_allclose(r.beta, ols.beta, rtol=1e-8)
    assert_cov_close(r.cov, ols.cov, 1e-8)
    np.testing.assert_allclose(r.df, ols.df, rtol=1e-8)


def test_model_frame_and_data_paths_agree(pisa):
    fit = _mixed("pv1math ~ escs + st04q01 + (1 | schoolid)", pisa, reml=True)
    a = robust_mixed(fit)
    b = robust_mixed(fit, pisa)
    assert_cov_close(a.cov, b.cov, 1e-12)
    with pytest.raises(Exception, match="target"):
        robust_mixed(fit, target="nope")


def test_pisa_random_intercept_against_clubsandwich(pisa):
    """Unweighted baseline on the PISA-sized model (tests/reference/robust_mixed_bench.R):
    lsa.mixed REML + robust_mixed vs lmer + clubSandwich CR2 / Satterthwaite; optimiser-limited
    1e-6 relative."""
    ref = json.loads((REF / "robust_mixed_bench.json").read_text())["pisa2012_ri"]
    fit = _mixed("pv1math ~ escs + st04q01 + (1 | schoolid)", pisa, reml=True)
    r = robust_mixed(fit)
    assert r.nobs == ref["n"] and r.n_clusters == 157
    np.testing.assert_allclose(r.bse, ref["se_cr2"], rtol=1e-6)
    np.testing.assert_allclose(r.df, ref["df_cr2"], rtol=1e-6)
    np.testing.assert_allclose(r.with_vcov("CR0").bse, ref["se_cr0"], rtol=1e-6)


def test_coarser_cluster_and_nesting(pisa):
    """cluster= a grouping that nests the schools (the pseudo-strata pairs of schools, vstratum):
    V_c is block-diagonal over the schools of cluster c. A clustering that splits a school is
    refused."""
    fit = _mixed("pv1math ~ escs + st04q01 + (1 | schoolid)", pisa, weights=["w_fstuwt", "w_fschwt"])
    r = robust_mixed(fit, pisa, cluster="vstratum")
    assert r.n_clusters == pisa.vstratum.nunique()
    r0 = robust_mixed(fit, pisa, cluster="vstratum", type="CR0")
    # CR0 with pairs: the sum of the two schools' scores per pair
    fr = fit.model_frame
    s_school = robust_mixed(fit, type="CR0")
    U = np.vstack([E.T @ e for E, e in zip(s_school.estimating, s_school.blocks.e)])  # by school
    pair = pisa.groupby("schoolid").vstratum.first().reindex(s_school.blocks.labels).to_numpy()
    Up = pd.DataFrame(U).groupby(pair).sum().to_numpy()
    assert_cov_close(r0.cov, Up.T @ Up, 1e-10)
    assert not np.allclose(r0.cov, s_school.cov)
    np.testing.assert_allclose(r0.beta, fit.params, rtol=1e-8)
    rng = np.random.default_rng(1)
    with pytest.raises(DesignError, match="does not nest"):
        robust_mixed(fit, cluster=rng.integers(0, 3, len(fr.y)))
    with pytest.raises(DesignError, match="not in the data"):
        robust_mixed(fit, pisa, cluster="nope")
