"""The covariance registry of MixedResult (lsa.mixed.covariance): with_vcov(name) for model,
sandwich, CR0, CR2 and replicate.

Oracles:
1. clubSandwich (R): CR2 / CR0 with Satterthwaite df on lmer fits --
   tests/reference/robust_mixed_bench.json (pisa2012 random intercept, REML; made by
   robust_mixed_bench.R) and tests/reference/cr2_robust_mixed_sch25.json (sch25, random intercept
   and slope). An lsa.mixed REML fit stops within ~1e-6 of lme4's optimum: the tolerances of
   tests/test_robust_mixed*.py (1e-6 pisa2012, 1e-5 sch25).
2. robust_mixed is the same estimator: its covariance and df equal with_vcov's to 1e-8.
3. CR0 from the fit's scores equals CR0 of lsa.robust.cr on the cluster blocks, X_c'W_c e_c
   formed row by row (closed form, 1e-8 of se_i se_j), and the WeMix sandwich is G/(G-1) CR0.
4. replicate: a loop of lsa.mixed fits, each with its replicate weight set built by hand
   (school weight x school replicate factor a_k, student total weight = the replicate weight),
   and the Fay formula V = 1/(R (1-k)^2) sum_r (b_r - b)(b_r - b)' written out here. Two
   converged optimisations of the same objective: 1e-8 relative on the SEs.
5. t reference: conf_int = b -/+ t_{df, 0.975} SE and p = 2 t_df(-|t|) by hand (1e-12).
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.stats

import lsa
from lsa.errors import DesignError, LsaError
from lsa.mixed import MixedResult, mixed
from lsa.robust.cr import CR0
from lsa.robust.mixed import robust_mixed

from conftest import assert_cov_close, read_reference_csv

REF = Path(__file__).parent / "reference"
RI = "pv1math ~ escs + st04q01 + (1 | schoolid)"
W = ["w_fstuwt", "w_fschwt"]


def _quiet(f, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return f(*a, **k)


@pytest.fixture(scope="module")
def pisa():
    return read_reference_csv(REF / "data" / "pisa2012.csv")


@pytest.fixture(scope="module")
def reml_fit(pisa):
    return _quiet(mixed, RI, pisa, reml=True)


@pytest.fixture(scope="module")
def weighted_fit(pisa):
    return _quiet(mixed, RI, pisa, weights=W)


def test_cr2_pisa2012_equals_robust_mixed_and_clubsandwich(reml_fit):
    ref = json.loads((REF / "robust_mixed_bench.json").read_text())["pisa2012_ri"]
    c2 = reml_fit.with_vcov("CR2")
    r2 = robust_mixed(reml_fit, type="CR2")
    assert c2.vcov_type == "CR2" and isinstance(c2, MixedResult)
    assert_cov_close(c2.cov_params(), r2.cov, 1e-8)                       # same computation
    np.testing.assert_allclose(c2.df, r2.df, rtol=1e-8)
    np.testing.assert_allclose(c2.bse, ref["se_cr2"], rtol=1e-6)          # optimiser-limited
    np.testing.assert_allclose(c2.df, ref["df_cr2"], rtol=1e-6)
    np.testing.assert_allclose(reml_fit.with_vcov("CR0").bse, ref["se_cr0"], rtol=1e-6)
    tab = c2.tidy()
    fixed = tab[tab.effect == "fixed"]
    np.testing.assert_allclose(fixed.std_error, ref["se_cr2"], rtol=1e-6)
    np.testing.assert_allclose(fixed.df, ref["df_cr2"], rtol=1e-6)
    assert "CR2 standard errors" in c2.summary()


@pytest.mark.parametrize("key,formula", [
    ("ri", "math ~ male + minority + mses + mhmwk + (1 | schid)"),
    ("rs", "math ~ ses + male + minority + mses + mhmwk + (1 + ses | schid)")])
def test_cr2_sch25_against_clubsandwich(key, formula):
    rm = json.loads((REF / "cr2_robust_mixed_sch25.json").read_text())["models"][key]
    sch25 = read_reference_csv(REF / "data" / "sch25.csv")
    fit = _quiet(mixed, formula, sch25, reml=True)
    for typ, df, entry in [("CR2", "satterthwaite", "robust_mixed_cr2_satt"),
                           ("CR0", "satterthwaite", "robust_mixed_cr0_satt"),
                           ("CR2", "between-within", "robust_mixed_cr2_between_within")]:
        tab = rm[entry]["table"]
        got = fit.with_vcov(typ, df_method=df)
        np.testing.assert_allclose(got.bse, tab["se_robust"], rtol=1e-5)   # iterative fit
        np.testing.assert_allclose(got.df, tab["df"], rtol=1e-5)
        r = robust_mixed(fit, type=typ, df=df)
        assert_cov_close(got.cov_params(), r.cov, 1e-8)                   # same computation
        np.testing.assert_allclose(got.df, r.df, rtol=1e-8)


@pytest.mark.parametrize("cluster", [None, "vstratum"])
def test_cr0_once_and_sandwich(pisa, weighted_fit, cluster):
    """CR0 from the fit's scores = CR0 of lsa.robust on the blocks; sandwich = G/(G-1) CR0."""
    fit = weighted_fit
    kw = {} if cluster is None else {"cluster": cluster, "data": pisa}
    c0 = fit.with_vcov("CR0", **kw)
    blocks = c0.vcov_estimate.details.blocks
    assert_cov_close(c0.cov_params(), CR0().vcov(blocks), 1e-8)
    if cluster is None:
        G = fit.ngroups["schoolid"]
        assert_cov_close(fit.cov_params(), G / (G - 1) * c0.cov_params().to_numpy(), 1e-12)
        assert fit.with_vcov("sandwich").df.eq(np.inf).all()
    else:
        assert blocks.n_clusters == pisa.vstratum.nunique()


def test_t_reference_by_hand(weighted_fit):
    c2 = weighted_fit.with_vcov("CR2")
    b, se, dfv = c2.params.to_numpy(), c2.bse.to_numpy(), c2.df.to_numpy()
    assert np.all(np.isfinite(dfv)) and np.all(dfv < weighted_fit.ngroups["schoolid"])
    q = scipy.stats.t.ppf(0.975, dfv)
    ci = c2.conf_int()
    np.testing.assert_allclose(ci[0], b - q * se, rtol=1e-12)
    np.testing.assert_allclose(ci[1], b + q * se, rtol=1e-12)
    np.testing.assert_allclose(c2.pvalues, 2 * scipy.stats.t.sf(np.abs(b / se), dfv), rtol=1e-12)
    # back to the default: normal reference again
    s = c2.with_vcov("sandwich")
    np.testing.assert_allclose(s.bse, weighted_fit.bse, rtol=1e-15)
    np.testing.assert_allclose(s.conf_int()[0], b - scipy.stats.norm.ppf(0.975) * weighted_fit.bse, rtol=1e-12)
    w = c2.wald_test(["escs"])
    assert w.statistic == pytest.approx((b[1] / se[1]) ** 2, rel=1e-12)


R_SUB = 12   # replicate columns used (Fay, k = 0.5): keeps the refits cheap


@pytest.fixture(scope="module")
def rep_design(pisa):
    cols = [f"w_fsturwt{r}" for r in range(1, R_SUB + 1)]
    return lsa.SurveyDesign(pisa, ids={"school": "schoolid"},
                            weights={"student": "w_fstuwt", "school": "w_fschwt"},
                            replicates=lsa.Replicates.fay(cols, k=0.5))


def test_replicate_against_loop_of_fits(pisa, weighted_fit, rep_design):
    got = _quiet(weighted_fit.with_vcov, "replicate", design=rep_design)
    beta = weighted_fit.params.to_numpy()
    d = pisa.dropna(subset=["pv1math", "escs", "st04q01"])
    reps = []
    for r in range(1, R_SUB + 1):
        rep = d[f"w_fsturwt{r}"]
        a = rep.groupby(d["schoolid"]).transform("sum") / d["w_fstuwt"].groupby(d["schoolid"]).transform("sum")
        one = _quiet(mixed, RI, d.assign(stu_r=rep, sch_r=d["w_fschwt"] * a), weights=["stu_r", "sch_r"])
        reps.append(one.params.to_numpy())
    dev = np.array(reps) - beta
    V = dev.T @ dev / (R_SUB * (1 - 0.5) ** 2)                              # Fay: 1/(R(1-k)^2)
    assert got.vcov_type == "replicate"
    np.testing.assert_allclose(got.bse, np.sqrt(np.diag(V)), rtol=1e-8)
    assert_cov_close(got.cov_params(), V, 1e-8)
    np.testing.assert_allclose(got.df, R_SUB - 1, rtol=0)                 # design df R - 1
    assert got.vcov_estimate.details["estimates"].shape[0] == R_SUB
    # the same through the design: mixed(formula, design) then with_vcov
    via = _quiet(mixed, RI, rep_design)
    assert_cov_close(_quiet(via.with_vcov, "replicate", design=rep_design).cov_params(), V, 1e-8)


def test_bad_input(pisa, reml_fit, weighted_fit, rep_design):
    with pytest.raises(LsaError, match=r"vcov type must be one of .*got 'CR7'"):
        reml_fit.with_vcov("CR7")
    with pytest.raises(LsaError, match=r"with_vcov\('CR2'\): unknown option\(s\) \['df'\]"):
        reml_fit.with_vcov("CR2", df="z")
    with pytest.raises(LsaError, match=r"needs design=.*got NoneType"):
        weighted_fit.with_vcov("replicate")
    with pytest.raises(DesignError, match="needs a weighted fit"):
        reml_fit.with_vcov("replicate", design=rep_design)
    no_rep = lsa.SurveyDesign(pisa, ids={"school": "schoolid"},
                              weights={"student": "w_fstuwt", "school": "w_fschwt"})
    with pytest.raises(DesignError, match="no replicate weights"):
        weighted_fit.with_vcov("replicate", design=no_rep)
    other = _quiet(mixed, RI, pisa.assign(w2=pisa.w_fstuwt * 2), weights=["w2", "w_fschwt"])
    with pytest.raises(DesignError, match="full weight differs"):
        other.with_vcov("replicate", design=rep_design)
    with pytest.raises(LsaError, match=r"target must be one of .*got 'x'"):
        weighted_fit.with_vcov("CR2", target="x")
