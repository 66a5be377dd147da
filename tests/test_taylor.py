"""Taylor-series linearisation and replicates built from a design (issue 13 items 1-2).

Oracles:
* R's survey 4.1.1 (``tests/reference/survey_timss2015_taylor.R`` → ``.json``) on the bundled
  TIMSS 2015 USA grade-8 extract (no replicate weights): ``svydesign(ids = ~IDSCHOOL, [strata],
  weights = ~TOTWGT, [fpc])`` → ``svymean`` per PV + ``MIcombine``, ``svymean(~factor(Books))``,
  domain means, ``svyvar``, ``svyglm`` gaussian and quasibinomial, every ``survey.lonely.psu``
  rule, ``degf``; ``as.svrepdesign(type = "JK1" / "JKn", mse = TRUE)``. Closed forms 1e-8
  relative (covariances to se_i·se_j), iterative logit fits 1e-5.
* Closed form by numerical differentiation: a linearised value is w_i ∂θ/∂w_i (central
  differences of the plain numpy statistic), 1e-6 relative to the largest value compared.
* Simulation with known truth: for a mean the Rao–Wu bootstrap variance has expectation equal
  to the with-replacement linearisation variance (Rao & Wu 1988), checked within 5 Monte Carlo SDs.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lsa
from lsa.estimators import influence
from tests.conftest import assert_cov_close

REF = json.loads((Path(__file__).parent / "reference" / "survey_timss2015_taylor.json").read_text())
DATA = Path(lsa.__file__).parent / "datasets" / "data" / "timss2015_usa_g8.csv.gz"
PVS = [f"BSMMAT0{i}" for i in range(1, 6)]


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    d = pd.read_csv(DATA)
    rank0 = d["IDSCHOOL"].rank(method="dense").astype(int) - 1          # as the R script
    d["PSTRAT4"], d["PSTRAT5"], d["PSTRAT2"] = rank0 // 4 + 1, rank0 // 5 + 1, rank0 // 2 + 1
    d["FPC5"] = 20
    d["BOY"] = np.where(d["ITSEX"].isna(), np.nan, (d["ITSEX"] == 2).astype(float))
    return d


def design(d, **kw) -> lsa.SurveyDesign:
    return lsa.SurveyDesign(d, ids={"school": "IDSCHOOL"}, weights={"student": "TOTWGT"}, pvs={"MATH": PVS}, **kw)


@pytest.fixture(scope="module")
def des(data):
    return design(data)


def quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


def per_pv_close(res, ref, rtol=1e-8):
    g = res.groups[0]
    for m, r in enumerate(ref):
        np.testing.assert_allclose(g.estimates[m], r["coef"], rtol=rtol)
        assert_cov_close(g.covariances[m], np.atleast_2d(r["vcov"]), rtol)


def test_mean_over_pvs_matches_svymean_and_micombine(des):
    res = quiet(lsa.mean, des, "MATH", df_method="rubin")
    per_pv_close(res, REF["mean"]["per_pv"])                                  # 1e-8
    t = res.tidy().iloc[0]
    np.testing.assert_allclose(t["std_error"], REF["mean"]["pooled"]["se"], rtol=1e-8)
    np.testing.assert_allclose(t["df"], REF["mean"]["pooled"]["df"], rtol=1e-8)
    assert des.df == REF["degf"] == 245 and des.variance_method == "taylor"
    assert "Taylor linearisation: 246 PSUs (IDSCHOOL)" in res.note


def test_design_says_once_that_it_uses_taylor(data):
    d = design(data)
    with pytest.warns(lsa.errors.LsaWarning, match="standard errors by Taylor linearisation"):
        lsa.mean(d, "BSMMAT01")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lsa.mean(d, "BSMMAT02")                                       # said once per design


def test_percentages_match_svymean_of_a_factor(des):
    res = quiet(lsa.percentages, des, "Books")
    ref = REF["percent_books"]
    np.testing.assert_allclose(res.groups[0].estimates[0], 100 * np.array(ref["coef"]), rtol=1e-8)
    assert_cov_close(res.groups[0].covariances[0], 1e4 * np.array(ref["vcov"]), 1e-8)


def test_domain_means_keep_every_psu(des, data):
    res = quiet(lsa.mean, des, "BSMMAT01", by="ITSEX")
    for g, ref in zip(res.groups, REF["mean_by_sex"]):
        np.testing.assert_allclose(g.estimates[0], ref["coef"], rtol=1e-8)
        assert_cov_close(g.covariances[0], ref["vcov"], 1e-8)
    sub = quiet(lsa.mean, des.subset(data["ITSEX"].eq(2).to_numpy()), "BSMMAT01")
    assert_cov_close(sub.groups[0].covariances[0], REF["mean_by_sex"][1]["vcov"], 1e-8)


def test_sd_matches_svyvar_by_the_delta_method(des, data):
    res = quiet(lsa.sd, des, "BSMMAT01")
    n = len(data)
    sd = res.groups[0].estimates[0, 0]
    np.testing.assert_allclose(sd**2 * n / (n - 1), REF["sd"]["var"], rtol=1e-8)   # svyvar divides by n − 1
    se_var = REF["sd"]["var_se"][0][0] * (n - 1) / n
    np.testing.assert_allclose(res.tidy()["std_error"].iloc[0], se_var / (2 * sd), rtol=1e-8)


def test_lm_matches_svyglm_gaussian(des):
    res = quiet(lsa.lm, des, "MATH ~ BOY + BSBGHER", df_method="rubin")
    per_pv_close(res, REF["lm"]["per_pv"])
    np.testing.assert_allclose(res.tidy()["std_error"], REF["lm"]["pooled"]["se"], rtol=1e-8)
    one = quiet(lsa.lm, des, "BSMMAT01 ~ BOY + BSBGHER")
    assert one.tidy()["df"].iloc[0] == REF["lm_df"] == 243                 # degf − p + 1


def test_logit_matches_svyglm_quasibinomial(data):
    cols = {f"LOW{m}": (data[p] < 475).astype(float) for m, p in enumerate(PVS, 1)}
    d = lsa.SurveyDesign(data.assign(**cols), ids={"school": "IDSCHOOL"}, weights={"student": "TOTWGT"},
                         pvs={"LOW": list(cols)})
    res = quiet(lsa.logit, d, "LOW ~ BOY + BSBGHER", df_method="rubin")
    per_pv_close(res, REF["logit"]["per_pv"], rtol=1e-5)
    np.testing.assert_allclose(res.tidy()["std_error"], REF["logit"]["pooled"]["se"], rtol=1e-5)


def test_logit_by_group(data):
    d = lsa.SurveyDesign(data.assign(LOW1=(data["BSMMAT01"] < 475).astype(float)), ids={"school": "IDSCHOOL"},
                         weights={"student": "TOTWGT"})
    res = quiet(lsa.logit, d, "LOW1 ~ BSBGHER", by="ITSEX")
    for g, ref in zip(res.groups, REF["logit_sex"]):
        np.testing.assert_allclose(g.estimates[0], ref["coef"], rtol=1e-5)
        assert_cov_close(g.covariances[0], ref["vcov"], 1e-5)


def test_stratified_design(data):
    d = design(data, strata="PSTRAT4")
    assert d.df == REF["strat4"]["degf"] == 184
    per_pv_close(quiet(lsa.mean, d, "BSMMAT01"), [REF["strat4"]["mean"]])
    per_pv_close(quiet(lsa.lm, d, "BSMMAT01 ~ BOY + BSBGHER"), [REF["strat4"]["lm"]])


@pytest.mark.parametrize("rule", ["remove", "adjust", "certainty", "average"])
def test_lonely_psu_rules_match_survey(data, rule):
    d = design(data, strata="PSTRAT5", lonely_psu=rule)
    ref = REF["lonely"][rule]
    with pytest.warns(lsa.errors.LsaWarning, match=rf"PSTRAT5 = \[50\] has one PSU.*lonely_psu='{rule}'"):
        per_pv_close(lsa.mean(d, "BSMMAT01"), [ref["mean"]])
    per_pv_close(quiet(lsa.lm, d, "BSMMAT01 ~ BOY + BSBGHER"), [ref["lm"]])
    low = data.assign(LOW1=(data["BSMMAT01"] < 475).astype(float))
    dl = lsa.SurveyDesign(low, ids={"school": "IDSCHOOL"}, weights={"student": "TOTWGT"}, strata="PSTRAT5",
                          lonely_psu=rule)
    per_pv_close(quiet(lsa.logit, dl, "LOW1 ~ BOY + BSBGHER"), [ref["logit"]], rtol=1e-5)
    df = design(data, strata="PSTRAT5", lonely_psu=rule, fpc="FPC5")
    per_pv_close(quiet(lsa.mean, df, "BSMMAT01"), [ref["mean_fpc"]])


def test_lonely_psu_fail_names_the_stratum(data):
    assert "Stratum (50) has only one PSU" in REF["fail"]
    d = design(data, strata="PSTRAT5")
    with pytest.raises(lsa.DesignError, match=r"lonely_psu='fail': stratum PSTRAT5 = \[50\] has only one PSU"):
        quiet(lsa.mean, d, "BSMMAT01")


@pytest.mark.parametrize("kind,strata", [("jk1", None), ("jkn", "PSTRAT4")])
def test_jackknife_from_design_matches_as_svrepdesign(data, kind, strata):
    ref = REF[kind]
    d = design(data, strata=strata).with_replicates("jk1")
    assert d.n_replicates == ref["n_rep"] == 246
    factors = d.replicate_factors()
    assert np.allclose(sorted(set(np.round(factors, 12))), sorted(np.atleast_1d(ref["rscales"]) * ref["scale"]))
    per_pv_close(quiet(lsa.mean, d, "MATH"), ref["mean"]["per_pv"])
    res = quiet(lsa.lm, d, "MATH ~ BOY + BSBGHER", df_method="rubin")
    per_pv_close(res, ref["lm"]["per_pv"])
    np.testing.assert_allclose(res.tidy()["std_error"], ref["lm"]["pooled"]["se"], rtol=1e-8)
    low = data.assign(LOW1=(data["BSMMAT01"] < 475).astype(float))
    dl = lsa.SurveyDesign(low, ids={"school": "IDSCHOOL"}, weights={"student": "TOTWGT"},
                          strata=strata).with_replicates("jk1")
    per_pv_close(quiet(lsa.logit, dl, "LOW1 ~ BOY + BSBGHER"), [ref["logit"]], rtol=1e-5)


def test_jk2_equals_zones_built_from_indicators(data):
    """JK2 from a design with strata of two PSUs = Replicates.jk2(zone, rep) with rep = 1 in the
    first school of each zone (an independent construction of the same weights)."""
    d2 = lsa.SurveyDesign(data, ids={"school": "IDSCHOOL"}, weights={"student": "TOTWGT"}, strata="PSTRAT2")
    jk2 = d2.with_replicates("jk2")
    first = data.groupby("PSTRAT2")["IDSCHOOL"].transform("min") == data["IDSCHOOL"]
    ind = lsa.SurveyDesign(data.assign(JKREP=first.astype(int)), ids={"school": "IDSCHOOL"},
                           weights={"student": "TOTWGT"}, replicates=lsa.Replicates.jk2(zone="PSTRAT2", rep="JKREP"))
    np.testing.assert_array_equal(jk2.replicate_weights(), ind.replicate_weights())
    assert jk2.n_replicates == 123 and np.all(jk2.replicate_factors() == 1.0)


def test_bootstrap_is_seeded_and_unbiased_for_a_mean(data):
    d = lsa.SurveyDesign(data, ids={"school": "IDSCHOOL"}, weights={"student": "TOTWGT"})
    taylor = quiet(lsa.mean, d, "BSMMAT01").groups[0].covariances[0, 0, 0]
    b1 = d.with_replicates("bootstrap", 1000, seed=7)
    b2 = d.with_replicates("bootstrap", 1000, seed=7)
    np.testing.assert_array_equal(b1.replicate_weights(), b2.replicate_weights())
    v = quiet(lsa.mean, b1, "BSMMAT01").groups[0].covariances[0, 0, 0]
    # E[V_boot] = V_taylor; Monte Carlo SD of V_boot ≈ V √(2/R) for a near-normal mean: 5 SDs
    assert abs(v / taylor - 1) < 5 * np.sqrt(2 / 1000)
    assert not np.array_equal(b1.replicate_weights(), d.with_replicates("bootstrap", 1000, seed=8).replicate_weights())


def _numeric_influence(stat, w, rows, h=1e-4):
    out = []
    for i in rows:
        e = np.zeros_like(w)
        e[i] = h * w[i]
        out.append((stat(w + e) - stat(w - e)) / (2 * h))              # w_i ∂θ/∂w_i
    return np.array(out)


def _wcorr(x, y, w):
    mx, my = np.average(x, weights=w), np.average(y, weights=w)
    return np.sum(w * (x - mx) * (y - my)) / np.sqrt(np.sum(w * (x - mx) ** 2) * np.sum(w * (y - my) ** 2))


def test_linearised_values_are_weight_derivatives(data):
    d = data.dropna(subset=["BSBGHER"]).iloc[:400]
    x, y, w = d["BSMMAT01"].to_numpy(), d["BSBGHER"].to_numpy(), d["TOTWGT"].to_numpy()
    rows = [0, 57, 203, 399]
    valid = np.ones((len(d), 1), bool)
    z = influence.pearson(x[:, None], y[:, None], valid, w)[0]
    num = _numeric_influence(lambda v: _wcorr(x, y, v), w, rows)
    np.testing.assert_allclose(z[rows], num, rtol=0, atol=1e-6 * np.abs(num).max())     # to the values' scale
    mu = np.average(x, weights=w)
    sd = np.sqrt(np.average((x - mu) ** 2, weights=w))
    z = influence.sd(x[:, None], valid, w, np.array([mu]), np.array([sd]))[0]
    num = _numeric_influence(lambda v: np.sqrt(np.average((x - np.average(x, weights=v)) ** 2, weights=v)), w, rows)
    np.testing.assert_allclose(z[rows], num, rtol=0, atol=1e-6 * np.abs(num).max())
    X = np.column_stack([np.ones(len(d)), y])
    beta = np.linalg.solve(X.T @ (X * w[:, None]), X.T @ (w * x))
    z = influence.estimating_equation(X, w, x - X @ beta, X.T @ (X * w[:, None]))
    num = _numeric_influence(lambda v: np.linalg.solve(X.T @ (X * v[:, None]), X.T @ (v * x)), w, rows)
    for j in range(X.shape[1]):                                     # each coefficient to its own scale
        np.testing.assert_allclose(z[rows, j], num[:, j], rtol=0, atol=1e-6 * np.abs(num[:, j]).max())


def test_correlation_taylor_se_from_numeric_psu_totals(data):
    """lsa.correlation's Taylor SE = the with-replacement variance of PSU totals of numerically
    differentiated linearised values (schools as PSUs, n/(n − 1) Σ (z_j − z̄)²)."""
    d = data.dropna(subset=["BSBGHER"]).iloc[:600].reset_index(drop=True)
    des = lsa.SurveyDesign(d, ids={"school": "IDSCHOOL"}, weights={"student": "TOTWGT"})
    res = quiet(lsa.correlation, des, ["BSMMAT01", "BSBGHER"])
    x, y, w = d["BSMMAT01"].to_numpy(), d["BSBGHER"].to_numpy(), d["TOTWGT"].to_numpy()
    z = _numeric_influence(lambda v: _wcorr(x, y, v), w, range(len(d)))
    zj = pd.Series(z).groupby(d["IDSCHOOL"]).sum().to_numpy()
    n = len(zj)
    v = n / (n - 1) * np.sum((zj - zj.mean()) ** 2)
    np.testing.assert_allclose(res.groups[0].covariances[0, 0, 0], v, rtol=1e-6)


def test_bundled_demos_give_finite_taylor_ses():
    pisa = lsa.datasets.load("pisa2012")
    d = lsa.SurveyDesign(pisa, ids={"school": "schoolid"}, weights={"student": "w_fstuwt"},
                         pvs={"MATH": [f"pv{i}math" for i in range(1, 6)]})
    for res in (quiet(lsa.mean, d, "MATH", by="st04q01"), quiet(lsa.lm, d, "MATH ~ escs + st04q01")):
        assert np.isfinite(res.tidy()["std_error"]).all() and "Taylor linearisation: 157 PSUs" in res.note
    timss = lsa.datasets.load("timss2015_usa_g8")
    d = lsa.SurveyDesign(timss, ids={"school": "IDSCHOOL"}, weights={"student": "TOTWGT"}, pvs={"MATH": PVS})
    res = quiet(lsa.percentages, d, "Books")
    assert np.isfinite(res.tidy()["std_error"]).all() and "Taylor linearisation: 246 PSUs" in res.note


def test_no_ids_no_replicates_stays_nan(data):
    d = lsa.SurveyDesign(data, weights={"student": "TOTWGT"})
    assert d.variance_method == "none" and d.df == np.inf
    with pytest.warns(lsa.errors.MissingDataWarning, match="standard errors are not available"):
        assert np.isnan(lsa.mean(d, "BSMMAT01").tidy()["std_error"]).all()


def test_gap_between_groups_uses_the_stacked_linearised_values(des):
    """lsa.gap under Taylor = svyby(covmat = TRUE) + svycontrast(c(-1, 1)) (the groups' covariance)."""
    res = quiet(lsa.gap, des, "BSMMAT01", between="ITSEX")
    g = res.groups[0]
    k = g.terms.index("2.0 - 1.0")
    np.testing.assert_allclose(g.estimates[0, k], REF["gap_sex"]["coef"], rtol=1e-8)
    np.testing.assert_allclose(g.covariances[0, k, k], REF["gap_sex"]["vcov"][0][0], rtol=1e-8)
