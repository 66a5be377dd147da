"""Separation and non-convergence in every logistic/Poisson fit (issue 10, item 3).

Oracles:
- constructed data whose separating variable is known in closed form: ``grp == 1`` implies
  ``y == 1`` (quasi-complete separation on ``grp``), ``y = 1{x > 0.3}`` (complete separation on
  ``x``), ``count == 0`` wherever ``grp == 1`` (Poisson separation on ``grp``); the maximum-
  likelihood estimate of those coefficients does not exist (Albert & Anderson 1984), so the test
  asserts the warning class, the named term, the result's flag and that no standard error is
  reported for it;
- non-separated data: statsmodels ``GLM`` (an independent IRLS implementation) with the same
  weights, to 1e-8 relative (both iterate to full convergence; scale: the estimates compared),
  and no separation or convergence warning.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import lsa
from lsa.errors import ConvergenceWarning, MissingDataWarning, SeparationWarning
from lsa.estimators.logistic import logit_fit
from lsa.robust import clustered, gee, modified_poisson
from lsa.robust.irls import irls
from lsa.separation import separation_lp

R = 16                                    # Fay replicates


def _frame(seed=3, n=400):
    rng = np.random.default_rng(seed)
    d = pd.DataFrame({"psu": np.repeat(np.arange(40), n // 40), "x": rng.normal(size=n),
                      "z": rng.normal(size=n), "w": rng.uniform(0.5, 2.0, n)})
    d["grp"] = (rng.random(n) < 0.2).astype(float)
    d["y"] = (rng.random(n) < 1 / (1 + np.exp(-(0.3 + 0.8 * d.x)))).astype(float)
    d["yq"] = np.where(d.grp == 1, 1.0, d.y)                       # quasi-complete on grp
    d["yc"] = (d.x > 0.3).astype(float)                            # complete on x
    d["count"] = np.where(d.grp == 1, 0, rng.poisson(np.exp(0.5 + 0.3 * d.x)))
    signs = np.where(rng.random((40, R)) < 0.5, 0.5, 1.5)           # Fay k = 0.5 per PSU
    for r in range(R):
        d[f"rw{r + 1}"] = d.w * signs[d.psu, r]
    return d


@pytest.fixture(scope="module")
def data():
    return _frame()


def _design(d):
    return lsa.SurveyDesign(d, ids={"psu": "psu"}, weights="w",
                            replicates=lsa.Replicates.fay([f"rw{r + 1}" for r in range(R)], k=0.5))


def _quiet(fn, *args, **kwargs):
    """Run with separation/convergence warnings turned into errors."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", SeparationWarning)
        warnings.simplefilter("error", ConvergenceWarning)
        warnings.simplefilter("ignore", MissingDataWarning)
        return fn(*args, **kwargs)


def _sm_glm(d, formula, family, weights=None):
    import statsmodels.formula.api as smf

    kw = {} if weights is None else {"var_weights": d[weights]}
    return smf.glm(formula, d, family=family, **kw).fit(tol=1e-14, maxiter=200)


# --- design-based lsa.logit ------------------------------------------------------------------

def test_logit_quasi_separation_names_term(data):
    with pytest.warns(SeparationWarning, match=r"\['grp'\].*diverge") as rec:
        r = lsa.logit(_design(data), "yq ~ x + grp")
    assert "full-sample fit" in str(rec[0].message) and f"{R} of {R} replicate fits" in str(rec[0].message)
    t = r.tidy().set_index("term")
    assert t["separation"].to_dict() == {"(Intercept)": False, "x": False, "grp": True}
    assert not t["converged"].any()
    assert np.isnan(t.loc["grp", ["std_error", "statistic", "p_value", "conf_low"]].astype(float)).all()
    assert t.loc["grp", "estimate"] > 10                      # diverges towards +inf (grp -> y = 1)
    assert np.isfinite(t.loc[["(Intercept)", "x"], "std_error"]).all()
    assert "separation" in r.note and "grp" in r.note
    # the other coefficients are the MLE on the rows with grp == 0 (their limit), to 1e-5
    ref = _sm_glm(data[data.grp == 0], "yq ~ x", sm.families.Binomial(), "w").params
    np.testing.assert_allclose(t.loc[["(Intercept)", "x"], "estimate"], ref, rtol=1e-5)


def test_logit_complete_separation_withholds_every_se(data):
    with pytest.warns(SeparationWarning, match=r"complete separation.*'x'") as rec:
        r = lsa.logit(_design(data), "yc ~ x + z")
    assert "'z'" not in str(rec[0].message).split("diverge")[0]      # z does not separate
    t = r.tidy()
    assert t["std_error"].isna().all() and t["p_value"].isna().all() and t["separation"].all()


def test_logit_separation_in_one_replicate_only():
    """A category with three rows: y = 1, 1 in PSU 0 and y = 0 in PSU 1. The jackknife
    replicates that drop PSU 0 (only y = 0 left) or PSU 1 (only y = 1 left) separate on it: 2 of
    16; the full-sample fit does not."""
    d = _frame(seed=5)
    d["cat"] = 0.0
    rows0, rows1 = np.flatnonzero(d.psu == 0)[:2], np.flatnonzero(d.psu == 1)[:1]
    d.loc[rows0, ["cat", "y"]] = [1.0, 1.0]
    d.loc[rows1, ["cat", "y"]] = [1.0, 0.0]
    for r in range(R):
        d[f"rw{r + 1}"] = np.where(d.psu == r, 0.0, d.w * 40 / 39)      # JK1 drops PSU r
    design = lsa.SurveyDesign(d, ids={"psu": "psu"}, weights="w",
                              replicates=lsa.Replicates.jk1([f"rw{r + 1}" for r in range(R)]))
    with pytest.warns(SeparationWarning, match=rf"(?=.*\['cat'\])(?=.*2 of {R} replicate fits)") as rec:
        r = lsa.logit(design, "y ~ x + cat")
    assert "full-sample" not in str(rec[0].message)
    t = r.tidy().set_index("term")
    ref = _sm_glm(d, "y ~ x + cat", sm.families.Binomial(), "w").params
    np.testing.assert_allclose(t["estimate"], ref, rtol=1e-8)        # full-sample fit unaffected
    assert np.isnan(t.loc["cat", "std_error"]) and np.isfinite(t.loc["x", "std_error"])
    assert t["separation"].tolist() == [False, False, True]


def test_logit_singular_replicate_is_reported_not_raised():
    """A category present only in PSU 0: the jackknife replicate dropping PSU 0 has no
    variation in it (singular information); before, np.linalg.solve raised LinAlgError."""
    d = _frame(seed=7)
    d["cat"] = 0.0
    d.loc[np.flatnonzero(d.psu == 0)[:6], "cat"] = 1.0
    d.loc[np.flatnonzero(d.psu == 0)[:6], "y"] = [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    for r in range(R):
        d[f"rw{r + 1}"] = np.where(d.psu == r, 0.0, d.w * 40 / 39)
    design = lsa.SurveyDesign(d, ids={"psu": "psu"}, weights="w",
                              replicates=lsa.Replicates.jk1([f"rw{r + 1}" for r in range(R)]))
    with warnings.catch_warnings():
        warnings.simplefilter("error", SeparationWarning)
        with pytest.warns(MissingDataWarning, match=r"\['cat'\] have no weighted variation in 1 of"):
            r = lsa.logit(design, "y ~ x + cat")
    t = r.tidy().set_index("term")
    assert np.isnan(t.loc["cat", "std_error"]) and np.isfinite(t.loc["x", "std_error"])


def test_logit_without_separation_unchanged(data):
    r = _quiet(lsa.logit, _design(data), "y ~ x + z + grp")
    ref = _sm_glm(data, "y ~ x + z + grp", sm.families.Binomial(), "w").params
    np.testing.assert_allclose(r.tidy()["estimate"], ref, rtol=1e-8)
    assert not r.tidy()["separation"].any() and r.tidy()["converged"].all()
    assert "separation" not in r.note


def test_logit_fit_non_convergence_flag(data):
    x = np.column_stack([np.ones(len(data)), data.x])
    w = data[["w"]].to_numpy()
    _, checks = logit_fit([x], data[["y"]].to_numpy(), w, ["(Intercept)", "x"], max_iter=2)
    assert checks.failed[0, 0] and not checks.separated.any()
    assert "score norm" in checks.detail


# --- lsa.robust: clustered GLMs, modified Poisson, GEE --------------------------------------

def test_clustered_binomial_quasi_separation(data):
    with pytest.warns(SeparationWarning, match=r"\['grp'\]"):
        r = clustered("yq ~ x + grp", data, cluster="psu", family="binomial")
    assert r.separation == ("grp",) and not r.converged and not r.complete_separation
    assert np.isnan(r.bse["grp"]) and np.isnan(r.pvalues["grp"]) and np.isnan(r.se_model["grp"])
    assert np.isfinite(r.bse[["(Intercept)", "x"]]).all()
    assert np.isnan(r.with_vcov("CR0").bse["grp"])                   # kept by with_vcov
    assert "SEPARATION" in r.summary()


def test_clustered_binomial_complete_separation(data):
    with pytest.warns(SeparationWarning, match="complete separation"):
        r = clustered("yc ~ x + z", data, cluster="psu", family="binomial")
    assert "x" in r.separation and "z" not in r.separation and r.complete_separation
    assert r.bse.isna().all()                                       # never a silent p = 1e-10
    assert r.pvalues.isna().all()


def test_clustered_poisson_and_modified_poisson_separation(data):
    with pytest.warns(SeparationWarning, match=r"\['grp'\].*fitted means tending to 0"):
        r = clustered("count ~ x + grp", data, cluster="psu", family="poisson")
    assert r.separation == ("grp",) and r.params["grp"] < -10 and np.isnan(r.bse["grp"])
    d = data.assign(ev=(data["count"] > 0).astype(float))
    with pytest.warns(SeparationWarning, match=r"\['grp'\]"):
        m = modified_poisson("ev ~ x + grp", d, cluster="psu")
    assert m.separation == ("grp",)


def test_clustered_without_separation_equals_statsmodels(data):
    for formula, fam in (("y ~ x + z + grp", sm.families.Binomial()),
                         ("count ~ x + z", sm.families.Poisson())):
        r = _quiet(clustered, formula, data, cluster="psu", family=fam.__class__.__name__.lower())
        ref = _sm_glm(data, formula, fam).params
        np.testing.assert_allclose(r.params, ref, rtol=1e-8)
        assert r.converged and r.separation == ()


def test_irls_non_convergence_flag(data):
    x = np.column_stack([np.ones(len(data)), data.x])
    *_, check = irls(data.y.to_numpy(), x, sm.families.Binomial(), np.ones(len(data)), maxit=1,
                     terms=["(Intercept)", "x"])
    assert not check.converged and check.separation == () and "score norm" in check.detail


def test_gee_binomial_separation(data):
    with pytest.warns(SeparationWarning, match=r"gee binomial.*\['grp'\]"):
        r = gee("yq ~ x + grp", data, cluster="psu", family="binomial")
    assert r.separation == ("grp",) and np.isnan(r.bse["grp"]) and np.isfinite(r.bse["x"])
    with pytest.warns(SeparationWarning, match="complete separation"):
        r = gee("yc ~ x + z", data, cluster="psu", family="binomial")
    assert r.bse.isna().all()
    with pytest.warns(SeparationWarning, match=r"gee poisson.*\['grp'\]"):
        gee("count ~ x + grp", data, cluster="psu", family="poisson")


def test_gee_without_separation_no_warning(data):
    r = _quiet(gee, "y ~ x + z", data, cluster="psu", family="binomial", corstr="independence")
    ref = _sm_glm(data, "y ~ x + z", sm.families.Binomial()).params      # independence GEE = GLM
    np.testing.assert_allclose(r.params, ref, rtol=1e-8)
    assert r.converged and r.separation == ()


def test_separation_lp_closed_form(data):
    x = np.column_stack([np.ones(len(data)), data.x, data.grp])
    used = np.ones(len(data), bool)
    assert separation_lp(x, data.yq.to_numpy(), used, "binomial") == (True, False)
    assert separation_lp(x, data.yc.to_numpy(), used, "binomial") == (True, True)
    assert separation_lp(x, data.y.to_numpy(), used, "binomial") == (False, False)
    assert separation_lp(x, data["count"].to_numpy(float), used, "poisson") == (True, False)
