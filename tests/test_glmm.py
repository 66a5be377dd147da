"""Weighted two-level GLMMs: ``lsa.mixed(..., family="binomial" | "poisson")`` (issue 14 item 1).

Oracles
-------
* ``lme4::glmer`` on the pisa2012 extract (``tests/reference/glmm_pisa2012.R`` →
  ``glmm_pisa2012.json``; R 4.2.2, lme4 1.1.31, bobyqa with rhoend = 1e-10): binomial (logit,
  probit) and Poisson random-intercept models with nAGQ = 13, Laplace (nAGQ = 1) random-intercept
  and random-slope models. ``likemath`` is not a column of the data: it is derived, in the R
  script and here, as 1 if ``st29q03`` is "Strongly agree" or "Agree", else 0 (missing stays
  missing; there is none). The Poisson outcome ``count`` is simulated by the R script with a
  fixed seed and stored in the JSON (``poisson_count``).
* Closed forms: the Gauss–Hermite rule's moments; the pseudo-likelihood of a small data set with
  non-integer weights by one-dimensional numerical integration (scipy ``quad``) of
  Σ_j w_j log ∫ Π_i f(y_ij | b)^{w_i|j} φ(b; 0, σ²) db — the integrand WeMix 4 evaluates.
* Identities: integer level-1 weights = duplicated rows, integer level-2 weights = duplicated
  clusters (1e-6); multiplying the level-2 weights by a constant multiplies ℓ by it and leaves
  the estimates and SEs unchanged (1e-6).

The WeMix convention (conditional level-1 weights scaled to the cluster size, level-2 weights
normalised to mean 1, ``mix(..., family=binomial(), cWeights=TRUE, nQuad=13)``) cannot be run
(WeMix is not installable here). What lsa implements of it, read in WeMix 4's source
(``American-Institutes-for-Research/WeMix``, ``R/adaptiveQuad.R``: ``getWgtsC`` and the weight
lists built in ``mix``; ``main_lnl_container`` / ``lnl_by_group``: per cluster
w_j [log Σ_k exp(Σ_i w_{i|j} log f(y_i | node k) − ½ u_k² + log GH weight_k + z_k²/2) − log|R_j/√w_j|],
the nodes û_j + R_j^{-1} z_k from ``pirls_u`` / ``makeAdaptedPts``; ``R/helpers.R``
``makeSandwich``: V = H⁻¹ J H⁻¹ with J = G/(G−1) Σ_j s_j s_j' over the per-group scores of
``lnl_by_group``), is checked by the numerical-integration oracle, the duplication identities and
the invariance to the scale of the level-2 weights, on weights built that way.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate
from scipy.special import gammaln, xlogy

import lsa
from lsa.mixed.glmm import evaluate
from lsa.mixed.quadrature import normal_rule, tensor_rule

REF = Path(__file__).parent / "reference"
R = json.loads((REF / "glmm_pisa2012.json").read_text())
FORMULA = "likemath ~ escs + st04q01 + (1 | schoolid)"


@pytest.fixture(scope="module")
def pisa():
    d = pd.read_csv(REF / "data" / "pisa2012.csv", dtype={"schoolid": str})
    d["likemath"] = np.where(d.st29q03.isna(), np.nan, d.st29q03.isin(["Strongly agree", "Agree"]).astype(float))
    d["count"] = R["poisson_count"]
    d["st04q01"] = pd.Categorical(d["st04q01"], ["Female", "Male"])
    return d


def _rel_se(fit, ref):
    """|β̂ − β_R| / SE_R per coefficient (the scale of the comparison)."""
    return np.abs(fit.params.to_numpy() - ref["fixed"]["estimate"]) / np.asarray(ref["fixed"]["se"])


def _vc(ref):
    return np.atleast_1d(ref["variance_components"]["estimate"]).astype(float)


def _psi_of(fit, ref):
    """ψ = (β, θ) of the glmer estimates in lsa's parameterisation (log of L's diagonal)."""
    th = np.atleast_1d(ref["theta"]).astype(float)
    tl = [np.log(t) if a == b else t for t, (a, b) in zip(th, fit.data.pairs)]
    return np.r_[ref["fixed"]["estimate"], tl]


@pytest.mark.parametrize("name,family,link", [("binomial_ri_agq13", "binomial", None),
                                              ("probit_ri_agq13", "binomial", "probit"),
                                              ("poisson_ri_agq13", "poisson", None)])
def test_agq13_matches_glmer(pisa, name, family, link):
    ref = R["models"][name]
    f = FORMULA if family == "binomial" else FORMULA.replace("likemath", "count")
    fit = lsa.mixed(f, pisa, family=family, link=link, n_quad=13)
    assert fit.converged
    assert list(fit.params.index) == ref["fixed"]["term"]
    # fixed effects and the variance to 1e-4 (issue 14), relative to max(|β|, SE)
    scale = np.maximum(np.abs(ref["fixed"]["estimate"]), ref["fixed"]["se"])
    assert np.max(np.abs(fit.params.to_numpy() - ref["fixed"]["estimate"]) / scale) < 1e-4   # measured ≤ 4e-6
    assert np.max(np.abs(fit.variance_components.estimate.to_numpy() / _vc(ref) - 1)) < 1e-4   # measured ≤ 2e-7
    assert np.max(np.abs(fit.bse_model.to_numpy() / ref["fixed"]["se"] - 1)) < 1e-4           # measured ≤ 2e-6
    llf = fit.llf
    if family == "poisson":     # lme4's nAGQ > 1 deviance omits the saturated model's log-likelihood
        y = pisa["count"].to_numpy(float)
        llf -= np.sum(xlogy(y, y) - y - gammaln(y + 1))
    assert llf == pytest.approx(ref["loglik"], rel=1e-8)                                     # measured 1e-14


@pytest.mark.parametrize("name,formula,family", [
    ("binomial_ri_laplace", FORMULA, "binomial"),
    ("binomial_rs_laplace", FORMULA.replace("(1 |", "(1 + escs |"), "binomial"),
    ("poisson_ri_laplace", FORMULA.replace("likemath", "count"), "poisson")])
def test_laplace_matches_glmer(pisa, name, formula, family):
    """n_quad=1 is lme4's Laplace approximation: the same function (ours at glmer's estimates =
    glmer's logLik), maximised at least as high, estimates within glmer's own convergence."""
    ref = R["models"][name]
    fit = lsa.mixed(formula, pisa, family=family, n_quad=1)
    assert fit.converged
    at_ref = evaluate(fit.data, _psi_of(fit, ref), gradient=False).loglik
    assert at_ref == pytest.approx(ref["loglik"], rel=1e-8)                   # measured ≤ 9e-9
    assert fit.llf >= ref["loglik"] - 1e-9 * abs(ref["loglik"])               # ours is higher by ≤ 2e-5
    assert np.max(_rel_se(fit, ref)) < 1e-3                                   # measured ≤ 3e-4 SE
    assert np.max(np.abs(fit.variance_components.estimate.to_numpy() / _vc(ref) - 1)) < 1e-3   # ≤ 4e-5
    # lme4's vcov comes from a finite-difference Hessian (deriv12, step 1e-4): ≤ 1.4e-3 apart
    assert np.max(np.abs(fit.bse_model.to_numpy() / ref["fixed"]["se"] - 1)) < 3e-3


def test_random_effects_match_ranef_condvar(pisa):
    """Conditional modes and conditional SEs = lme4::ranef(condVar = TRUE) (1e-6)."""
    ref = R["models"]["binomial_ri_agq13"]["ranef"]
    re = lsa.mixed(FORMULA, pisa, family="binomial").random_effects()
    assert list(re.columns) == ["group", "level", "term", "estimate", "std_error"]
    assert list(re.level) == ref["level"]
    assert np.max(np.abs(re.estimate.to_numpy() - np.ravel(ref["estimate"]))) < 1e-6          # measured 7e-8
    assert np.max(np.abs(re.std_error.to_numpy() / np.ravel(ref["std_error"]) - 1)) < 1e-6   # measured 3e-8


def test_gauss_hermite_moments():
    """Σ ν_k z_k^(2m) = (2m − 1)!!, exact for degree ≤ 2n − 1 (closed form, 1e-12)."""
    z, nu = normal_rule(13)
    for m in range(13):
        assert np.sum(nu * z ** (2 * m)) == pytest.approx(np.prod(np.arange(2 * m - 1, 0, -2)), rel=1e-12)
    rule = tensor_rule(5, 2)
    assert rule.size == 25 and np.exp(rule.log_weights - 0.5 * (rule.nodes ** 2).sum(1)).sum() == pytest.approx(1, rel=1e-13)


def _small_data(seed=3):
    rng = np.random.default_rng(seed)
    G, m = 12, 7
    school = np.repeat(np.arange(G), m)
    x = rng.normal(size=G * m)
    b = rng.normal(0, 0.8, G)[school]
    y = (rng.uniform(size=G * m) < 1 / (1 + np.exp(-(0.3 + 0.7 * x + b)))).astype(float)
    return pd.DataFrame({"y": y, "x": x, "school": school.astype(str),
                         "w1": rng.uniform(0.3, 2.5, G * m), "w2": rng.uniform(0.5, 4, G)[school]})


def test_pseudo_likelihood_equals_numerical_integral():
    """ℓ = Σ_j w_j log ∫ Π_i f(y_i|b)^{w_i|j} φ(b; 0, σ²) db with non-integer conditional weights
    (WeMix's integrand), by scipy quad (1e-8 relative), at the fit and at another point."""
    d = _small_data()
    fit = lsa.mixed("y ~ x + (1 | school)", d, weights=["w1", "w2"], family="binomial", n_quad=25,
                    conditional_weights=True)
    for psi in (np.r_[fit.params, fit.theta], np.array([0.1, -0.4, np.log(1.3)])):
        sigma = np.exp(psi[2])
        total = 0.0
        for _, g in d.groupby("school"):
            def integrand(bb, g=g):
                eta = psi[0] + psi[1] * g.x.to_numpy() + bb
                ll = np.sum(g.w1 * (g.y * eta - np.logaddexp(0, eta)))
                return np.exp(ll - 0.5 * (bb / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))
            val = integrate.quad(integrand, -12 * sigma, 12 * sigma, epsabs=0, epsrel=1e-13, limit=200)[0]
            total += g.w2.iloc[0] * np.log(val)
        assert evaluate(fit.data, psi, gradient=False).loglik == pytest.approx(total, rel=1e-8)


def test_gradient_is_exact():
    """The analytic gradient equals central differences of ℓ (1e-6 relative), random slopes,
    Laplace and AGQ, logit and probit (a check of the derivation in lsa.mixed.glmm)."""
    d = _small_data(5)
    for formula, link, nq in (("y ~ x + (1 | school)", "probit", 9), ("y ~ x + (1 + x | school)", "logit", 1),
                              ("y ~ x + (1 + x | school)", "logit", 4)):
        fit = lsa.mixed(formula, d, weights=["w1", "w2"], family="binomial", link=link, n_quad=nq)
        psi = np.r_[fit.params, fit.theta] + 0.1
        g = evaluate(fit.data, psi).grad
        num = np.array([(evaluate(fit.data, psi + e, gradient=False).loglik
                         - evaluate(fit.data, psi - e, gradient=False).loglik) / 2e-6
                        for e in np.eye(len(psi)) * 1e-6])
        assert np.max(np.abs(g - num)) < 1e-6 * np.max(np.abs(num))


def test_integer_level1_weights_equal_duplicated_rows(pisa):
    rng = np.random.default_rng(7)
    d = pisa[["likemath", "escs", "st04q01", "schoolid"]].copy()
    d["k"] = rng.integers(1, 4, len(d)).astype(float)
    d["one"] = 1.0
    wfit = lsa.mixed(FORMULA, d, weights=["k", "one"], family="binomial")
    dup = d.loc[d.index.repeat(d.k.astype(int))].reset_index(drop=True)
    ufit = lsa.mixed(FORMULA, dup, family="binomial")
    np.testing.assert_allclose(wfit.params, ufit.params, rtol=1e-6)
    np.testing.assert_allclose(wfit.variance_components.estimate, ufit.variance_components.estimate, rtol=1e-6)
    np.testing.assert_allclose(wfit.bse, ufit.bse, rtol=1e-6)            # same clusters: same sandwich
    np.testing.assert_allclose(wfit.bse_model, ufit.bse_model, rtol=1e-6)
    assert wfit.llf == pytest.approx(ufit.llf, rel=1e-6)


def test_integer_level2_weights_equal_duplicated_clusters(pisa):
    rng = np.random.default_rng(8)
    d = pisa[["likemath", "escs", "st04q01", "schoolid"]].copy()
    k = pd.Series(rng.integers(1, 4, d.schoolid.nunique()), index=sorted(d.schoolid.unique()))
    d["k2"] = d.schoolid.map(k).astype(float)
    d["w1"] = d["k2"]                                    # total level-1 weight = level-2 weight: w_{i|j} = 1
    wfit = lsa.mixed(FORMULA, d, weights=["w1", "k2"], family="binomial")
    copies = [d.assign(schoolid=d.schoolid + f"_{c}")[d.k2 > c] for c in range(3)]
    ufit = lsa.mixed(FORMULA, pd.concat(copies, ignore_index=True), family="binomial")
    np.testing.assert_allclose(wfit.params, ufit.params, rtol=1e-6)
    np.testing.assert_allclose(wfit.variance_components.estimate, ufit.variance_components.estimate, rtol=1e-6)
    np.testing.assert_allclose(wfit.bse_model, ufit.bse_model, rtol=1e-6)
    assert wfit.llf == pytest.approx(ufit.llf, rel=1e-6)


def _wemix_convention(d):
    """WeMix's convention: conditional level-1 weights (pwt1 = w_fstuwt / w_fschwt) scaled to the
    cluster size, level-2 weights normalised to mean 1 over the schools."""
    d = d.copy()
    d["c1"] = d.pwt1 * d.groupby("schoolid").pwt1.transform("size") / d.groupby("schoolid").pwt1.transform("sum")
    school = d.groupby("schoolid").w_fschwt.first()
    d["c2"] = d.w_fschwt / school.mean()
    return d


def test_wemix_convention_scaling_and_invariance(pisa):
    d = _wemix_convention(pisa)
    fit = lsa.mixed(FORMULA, d, weights=["c1", "c2"], conditional_weights=True, family="binomial")
    assert fit.converged
    # pre-scaled columns = scaling="cluster" on the raw conditional weights (1e-8)
    alt = lsa.mixed(FORMULA, d, weights=["pwt1", "c2"], conditional_weights=True, scaling="cluster",
                    family="binomial")
    np.testing.assert_allclose(alt.params, fit.params, rtol=1e-8)
    np.testing.assert_allclose(alt.bse, fit.bse, rtol=1e-8)
    # level-2 weights × 7.5: ℓ × 7.5, estimates, sandwich and model SEs unchanged (1e-6)
    big = lsa.mixed(FORMULA, d.assign(c2=7.5 * d.c2), weights=["c1", "c2"], conditional_weights=True,
                    family="binomial")
    np.testing.assert_allclose(big.params, fit.params, rtol=1e-6)
    np.testing.assert_allclose(big.bse, fit.bse, rtol=1e-6)
    np.testing.assert_allclose(big.variance_components.std_error, fit.variance_components.std_error, rtol=1e-6)
    assert big.llf == pytest.approx(7.5 * fit.llf, rel=1e-8)
    # the sandwich is WeMix's: H⁻¹ J H⁻¹ with J = G/(G−1) Σ_j s_j s_j' (recomputed from the pieces)
    G = fit.ngroups["schoolid"]
    Hinv = np.linalg.inv(fit.hessian)
    V = Hinv @ (G / (G - 1) * fit.scores.T @ fit.scores) @ Hinv
    np.testing.assert_allclose(np.sqrt(np.diag(V))[:3], fit.bse, rtol=1e-10)


def test_raw_pisa_weights_converge_and_scale(pisa):
    """Raw c("w_fstuwt", "w_fschwt") (total weights; WeMix 4.0.4 stops here): the fit converges;
    multiplying both by 1000 (the level-2 weight × 1000, conditional level-1 weights unchanged)
    changes only the log pseudo-likelihood (× 1000)."""
    fit = lsa.mixed(FORMULA, pisa, weights=["w_fstuwt", "w_fschwt"], family="binomial")
    assert fit.converged and np.isfinite(fit.llf)
    big = lsa.mixed(FORMULA, pisa.assign(w_fstuwt=pisa.w_fstuwt * 1000, w_fschwt=pisa.w_fschwt * 1000),
                    weights=["w_fstuwt", "w_fschwt"], family="binomial")
    np.testing.assert_allclose(big.params, fit.params, rtol=1e-6)
    np.testing.assert_allclose(big.bse, fit.bse, rtol=1e-6)
    np.testing.assert_allclose(big.variance_components.estimate, fit.variance_components.estimate, rtol=1e-6)
    assert big.llf == pytest.approx(1000 * fit.llf, rel=1e-8)


def test_result_vocabulary(pisa):
    fit = lsa.mixed("I(pv1math < 420.07) ~ escs + (1 | schoolid)", pisa, weights=["w_fstuwt", "w_fschwt"],
                    family="binomial")
    t = fit.tidy()
    assert list(t.columns[2:10]) == list(lsa.results.TIDY_COLUMNS)
    assert list(t.effect) == ["fixed", "fixed", "ran_pars"]
    ci = fit.conf_int()
    np.testing.assert_allclose(ci.conf_high - ci.conf_low, 2 * 1.959963984540054 * fit.bse, rtol=1e-12)
    w = fit.wald_test(["escs"])
    assert w.statistic == pytest.approx((fit.params["escs"] / fit.bse["escs"]) ** 2, rel=1e-12)
    assert "adaptive Gauss-Hermite quadrature, 13 points" in fit.summary()
    assert fit.with_vcov("model").bse.equals(fit.bse_model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lsa.mixed(FORMULA.replace("likemath", "I(pv1math < 420.07)"), pisa, family="binomial", n_quad=1)
