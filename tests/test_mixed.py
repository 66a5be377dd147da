"""lsa.mixed against WeMix::mix and lme4::lmer references (tests/reference/*.json).

Oracles: wemix_pisa2012_{ri,ri_cweights,rs,null,unitweights}.json (WeMix 4.0.4),
lmer_pisa2012_ml.json and lmer_mixed_extra.json (lme4 1.1-31; script lmer_mixed_extra.R beside
it). Tolerances are relative and stated at each assertion: WeMix stops its optimiser at about
1e-6, so iterative quantities are held to 1e-5, variance-component SEs to 1e-4 (issue 3).
"""
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import read_reference_csv

from lsa.mixed import mixed

REF = Path(__file__).parent / "reference"
WEIGHTS = ["w_fstuwt", "w_fschwt"]


def load(name):
    return json.loads((REF / f"{name}.json").read_text())


@pytest.fixture(scope="module")
def pisa():
    return read_reference_csv("pisa2012")


@pytest.fixture(scope="module")
def timss():
    return read_reference_csv("timss2019_usa_3level")


def rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12))


WEMIX_CASES = {
    "ri": dict(weights=WEIGHTS),
    "ri_cweights": dict(weights=["pwt1", "w_fschwt"], conditional_weights=True),
    "rs": dict(weights=WEIGHTS),
    "null": dict(weights=WEIGHTS),
    "unitweights": dict(weights=None),
}


@pytest.fixture(scope="module")
def wemix_fits(pisa):
    out = {}
    for case, kw in WEMIX_CASES.items():
        ref = load(f"wemix_pisa2012_{case}")
        out[case] = (mixed(ref["formula"], pisa, **kw), ref)
    return out


@pytest.mark.parametrize("case", list(WEMIX_CASES))
def test_wemix_reference(wemix_fits, case):
    res, ref = wemix_fits[case]
    assert res.converged
    assert list(res.params.index) == ref["fixed"]["term"]
    assert rel(res.params, ref["fixed"]["estimate"]) < 1e-5          # iterative: 1e-5
    assert rel(res.bse, ref["fixed"]["se_sandwich"]) < 1e-5          # sandwich SEs: 1e-5
    assert rel(res.bse_model, ref["fixed"]["se_model"]) < 1e-5       # model SEs: 1e-5
    assert rel(res.cov_params(), ref["vcov_sandwich"]["values"]) < 1e-4  # full matrix (small entries)
    vc = res.variance_components
    assert rel(vc.estimate, ref["variance_components"]["estimate"]) < 1e-5   # VC: 1e-5
    assert rel(vc.std_error, ref["variance_components"]["se"]) < 1e-4        # VC SEs: 1e-4
    assert rel(res.llf, ref["loglik"]) < 1e-9                        # log PL (flat at optimum)
    assert rel(res.icc, ref["icc"]) < 1e-5
    assert rel(res.theta, list(ref["theta"].values())) < 1e-5
    assert res.nobs == ref["n"] and res.ngroups == ref["n_groups"]


def test_wemix_rs_varcomp_covariance(wemix_fits):
    res, ref = wemix_fits["rs"]
    V = res.vc_cov["schoolid"]["sandwich"].to_numpy()   # θ order: var int, cov, var slope
    assert rel(V, ref["vcov_variance_components_sandwich"]["values"]) < 1e-4


def test_wemix_ranef(wemix_fits):
    res, ref = wemix_fits["ri"]
    r = ref["ranef"]["schoolid"]
    got = res.ranef["schoolid"]
    assert list(got.index) == r["group"]
    assert np.max(np.abs(got["(Intercept)"] - r["(Intercept)"])) < 1e-4 * np.std(r["(Intercept)"])


def test_weight_stats(wemix_fits):
    res, ref = wemix_fits["ri_cweights"]
    ws = res.weight_stats.set_index("level")
    assert rel(ws.loc[1, "sum_wgt"], ref["weight_stats"]["level1"]["sum"]) < 1e-9
    assert rel(ws.loc[2, "sum_wgt"], ref["weight_stats"]["level2"]["sum"]) < 1e-9


@pytest.mark.parametrize("model", ["ri", "rs", "null"])
def test_lmer_ml(pisa, model):
    m = load("lmer_pisa2012_ml")["models"][model]
    formula = m["r_call"].split("(", 1)[1].split(", data")[0]
    res = mixed(formula, pisa)
    # rs is a boundary (singular) fit where lme4's θ is flat to ~1e-6: same 1e-5 tolerance
    assert rel(res.params, m["fixed"]["estimate"]) < 1e-5
    assert rel(res.bse_model, m["fixed"]["se"]) < 1e-5
    assert rel(res.variance_components.estimate, m["variance_components"]["estimate"]) < 2e-5
    assert rel(res.llf, m["loglik"]) < 1e-10          # lme4 log-likelihood, unit weights


EXTRA = load("lmer_mixed_extra")["models"]


@pytest.mark.parametrize("name", list(EXTRA))
def test_lmer_extra(pisa, timss, name):
    m = EXTRA[name]
    data = pisa if name.startswith("pisa") else timss
    res = mixed(m["formula"], data, reml=m["reml"])
    assert res.converged
    assert res.nobs == m["n"]
    assert rel(res.params, m["fixed"]["estimate"]) < 1e-5      # lme4 optimum to ~1e-6
    assert rel(res.bse_model, m["fixed"]["se"]) < 1e-5
    assert rel(res.llf, m["loglik"]) < 1e-9
    assert rel(np.sqrt(res.scale), m["sigma"]) < 1e-5
    # variance components: match by (group, var1, var2) up to lme4's naming of a:b groups
    vc = res.variance_components
    for g, v1, v2, est in zip(*(m["variance_components"][k] for k in ("grp", "var1", "var2",
                                                                        "estimate"))):
        if g == "Residual":
            got = res.scale
        else:
            key = set(g.split(".")[0].split(":"))   # lme4 names a 2nd term "g.1"
            same = np.array([set(x.split(":")) == key for x in vc.group])
            t2 = vc.term2.isna().to_numpy() if v2 is None else (vc.term2 == v2).to_numpy()
            row = vc[same & (vc.term1 == v1).to_numpy() & t2]
            assert len(row) == 1, (g, v1, v2)
            got = row.estimate.iloc[0]
        assert abs(got - est) <= 2e-5 * abs(est) + 1e-6, (g, v1, v2, got, est)


def test_timss_weighted_three_levels(timss):
    """3-level weighted fit from TIMSS components: total weights (student TOTWGT, class
    SCHWGT·WGTFAC2·WGTADJ2, school SCHWGT) ≡ conditional ones (STUWGT-like products)."""
    d = timss.copy()
    d["schw"] = d.WGTFAC1 * d.WGTADJ1
    d["clsw"] = d.schw * d.WGTFAC2 * d.WGTADJ2
    d["totw"] = d.clsw * d.WGTFAC3 * d.WGTADJ3
    d["c_stu"], d["c_cls"] = d.WGTFAC3 * d.WGTADJ3, d.WGTFAC2 * d.WGTADJ2
    f = "BSMMAT01 ~ BSBGHER + Sex + (1 | IDSCHOOL/IDCLASS)"
    with pytest.warns(Warning, match="78 row"):
        a = mixed(f, d, weights=["totw", "clsw", "schw"])
    with pytest.warns(Warning):
        b = mixed(f, d, weights=["c_stu", "c_cls", "schw"], conditional_weights=True)
    assert a.converged and a.n_dropped == 78
    assert rel(a.params, b.params) < 1e-8                       # identical data: 1e-8
    assert rel(a.variance_components.estimate, b.variance_components.estimate) < 1e-7
    assert rel(a.llf, b.llf) < 1e-12
    assert np.all(np.isfinite(a.variance_components.std_error))
    assert set(a.ngroups) == {"IDSCHOOL", "IDSCHOOL:IDCLASS"}
