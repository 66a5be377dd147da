"""Three-level data clustered at the top level (spec section 9, reference case R-9.2 [C]):
crct stacked pre/post -> 8,466 observations in 4,233 students in 18 schools.

OLS with CR0/CR2 (clubSandwich vcovCR + coef_test) and the random-intercept MLM
``(1|usid) + (1|usid:id)`` with robust_mixed clustered at ``usid`` (= clubSandwich
``coef_test(m2a, vcov = "CR2", cluster = tall$usid)``). Every number is checked to the digits
the spec prints; the tolerance is half a unit in the last printed digit (stated per assertion).
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lsa.errors import DesignError
from lsa.robust import clustered
from conftest import assert_cov_close, read_reference_csv
from lsa.robust.mixed import random_slope_diagnostic, robust_mixed

REF = Path(__file__).parent / "reference"
FIXED = "value ~ stype + female + race_Black + trt + time + trt:time"
TERMS = ["(Intercept)", "stypees", "stypehs", "female", "race_Black", "trt", "time", "trt:time"]

# spec 9.2 table (OLS m1a)
EST = [0.13163932, 0.04768828, 0.09150128, -0.08244437, 0.03971817, -0.03883846, 0.04031465, -0.05031920]
OLS_SE = [0.011992123, 0.009650269, 0.009806153, 0.007691636, 0.007864065, 0.010917602, 0.011069570, 0.015358269]
CR0_SE = [0.0278, 0.0341, 0.0367, 0.0113, 0.0129, 0.0295, 0.0193, 0.0262]
CR0_DF = [11.04, 8.92, 9.05, 15.65, 15.22, 14.59, 7.36, 14.81]
CR2_SE = [0.03194, 0.03912, 0.04204, 0.01181, 0.01484, 0.03448, 0.02042, 0.02783]  # clustSE, 5 dp
CR2_DF = [10.63, 8.65, 8.79, 15.49, 14.86, 14.18, 7.19, 14.52]
CR2_P = [0.00182, 0.25498, 0.05822, None, 0.01737, 0.27869, 0.08787, 0.09132]  # None: "<0.001"
NAIVE_P = [None, 0.2394, 0.0439, None, 0.0159, 0.2756, 0.0649, 0.0883]
# m2a: lmer(value ~ ... + (1|usid) + (1|usid:id)), CR2 at usid
M2A_EST = [0.1230, 0.0567, 0.0884, -0.0728, 0.0510, -0.0267, 0.0403, -0.0503]
M2A_CR2 = [0.02961, 0.04403, 0.04739, 0.01245, 0.00857, 0.03437, 0.02042, 0.02783]
M2A_DF = [5.66, 9.56, 9.56, 15.44, 15.04, 14.09, 7.19, 14.52]
M2A_CR0 = [0.02649, 0.03887, 0.04184, 0.01215, 0.00831, 0.03027, 0.01932, 0.02621]
# m2b: (time|usid) + (1|usid:id), model-based SEs (8 significant digits)
M2B_SE = [0.034161989, 0.040197420, 0.040263312, 0.008589974, 0.009208278, 0.033033206,
          0.021478579, 0.030250030]


def half_unit(printed):
    """Half a unit in the last printed decimal of each value (the tolerance of a printed number)."""
    return np.array([0.5 * 10.0 ** -len(f"{v:.10g}".split(".")[1]) if "." in f"{v:.10g}" else 0.5
                     for v in printed])


@pytest.fixture(scope="module")
def tall():
    crct = read_reference_csv(REF / "data" / "crct.csv")
    crct["id"] = np.arange(1, len(crct) + 1)
    post = crct.assign(value=crct.odr_post, time=1)
    pre = crct.assign(value=crct.odr_pre, time=0)
    return pd.concat([post, pre]).reset_index(drop=True)


def test_ols_cr0_cr2_top_level(tall):
    assert len(tall) == 8466 and tall.usid.nunique() == 18
    r2 = clustered(FIXED, tall, cluster="usid", type="CR2")
    r0 = r2.with_vcov("CR0")
    assert list(r2.terms) == TERMS
    np.testing.assert_allclose(r2.beta, EST, atol=5e-9)              # 8 printed decimals
    np.testing.assert_allclose(r2.se_model, OLS_SE, atol=5e-10)      # 9 printed decimals
    np.testing.assert_allclose(r0.bse, CR0_SE, atol=5e-5)            # 4 dp
    np.testing.assert_allclose(r0.df, CR0_DF, atol=5e-3)             # 2 dp
    np.testing.assert_allclose(r2.bse, CR2_SE, atol=5e-6)            # 5 dp (clustSE digits = 5)
    np.testing.assert_allclose(r2.df, CR2_DF, atol=5e-3)             # 2 dp
    p = r2.pvalues.to_numpy()
    for got, want in zip(p, CR2_P):
        assert got < 0.001 if want is None else abs(got - want) <= 5e-6   # 5 dp
    naive = clustered(FIXED, tall, cluster="usid", type="CR2", df="naive")
    assert np.all(naive.df == 17)                                     # G - 1 top-level clusters
    for got, want in zip(naive.pvalues, NAIVE_P):
        assert got < 0.001 if want is None else abs(got - want) <= 5e-5   # 4 dp


@pytest.fixture(scope="module")
def m2a(tall):
    from lsa.mixed.fit import mixed

    return mixed(FIXED + " + (1 | usid/id)", tall, reml=True)


def test_mlm_cr2_top_level(m2a):
    vc = m2a.variance_components.set_index("group")["estimate"]
    np.testing.assert_allclose([vc["usid"], vc["usid:id"], vc["Residual"]],
                               [0.0061554, 0.0312742, 0.0889239], rtol=2e-5)
    # printed to 7 dp; lsa.mixed's REML optimum agrees with lme4's to ~1e-5 relative (test_mixed)
    r2 = robust_mixed(m2a)  # no data=: the fit carries its model frame
    assert r2.n_clusters == 18 and list(r2.terms) == TERMS
    np.testing.assert_allclose(r2.beta, M2A_EST, atol=5e-5)           # 4 dp
    np.testing.assert_allclose(r2.bse, M2A_CR2, atol=5e-6)            # 5 dp
    np.testing.assert_allclose(r2.df, M2A_DF, atol=5e-3)              # 2 dp
    np.testing.assert_allclose(r2.se_model, m2a.bse_model, rtol=1e-8)  # bread = lme4 vcov
    r0 = r2.with_vcov("CR0")
    np.testing.assert_allclose(r0.bse, M2A_CR0, atol=5e-6)            # 5 dp
    # Gname = top level, given explicitly, is the same; a lower level is refused
    same = robust_mixed(m2a, cluster="usid")
    assert_cov_close(same.cov, r2.cov, 1e-12)
    with pytest.raises(DesignError, match="top level"):
        robust_mixed(m2a, cluster="usid:id")
    # between-within df use the 18 top-level clusters: level 2 (intercept, stype x2, trt):
    # 18 - 4; level 1 (female, race_Black, time, trt:time): 8466 - 4 - 18
    bw = r2.with_vcov("CR2", BW())
    assert sorted(set(bw.df)) == [14.0, 8444.0]
    lev2 = dict(zip(TERMS, bw.df))
    assert lev2["trt"] == 14 and lev2["female"] == 8444 and lev2["(Intercept)"] == 14


def BW():
    from lsa.robust.satterthwaite import BetweenWithin

    return BetweenWithin(intercept_level1=False)


def test_random_slope_diagnostic_three_level(tall, m2a):
    from lsa.mixed.fit import mixed

    m2b = mixed(FIXED + " + (time | usid) + (1 | usid:id)", tall, reml=True)
    np.testing.assert_allclose(m2b.bse_model, M2B_SE, rtol=1e-5)  # printed 8 digits; REML optimum ~1e-6
    tab = random_slope_diagnostic(robust_mixed(m2a), rs_fit=m2b)
    assert list(tab.columns) == ["term", "level", "estimate", "se_model", "se_robust",
                                 "se_model_rs", "ratio", "df", "ratio_crit", "flagged"]
    t = tab.set_index("term")
    # time varies within schools (level 1); its RI model-based SE is far below the robust one
    assert t.loc["time", "level"] == 1 and t.loc["time", "flagged"]
    assert t.loc["time", "ratio"] > 1.5
    # the random-slope model's SE for time is close to the RI model's robust SE
    assert abs(t.loc["time", "se_model_rs"] / t.loc["time", "se_robust"] - 1) < 0.1


def test_mlm_against_clubsandwich_full_precision(tall, m2a):
    """tests/reference/robust_mixed_bench.R: clubSandwich vcovCR(m2a, cluster = usid, "CR2") +
    coef_test(Satterthwaite) at full precision. Given lme4's own variance components the
    closed form agrees to 1e-8; end to end (lsa.mixed's REML optimum) to 1e-5."""
    import json

    from lsa.robust.formula import build_design
    from lsa.robust.mixed import robust_mixed_components

    ref = json.loads((REF / "robust_mixed_bench.json").read_text())["crct_m2a"]
    # lme4 orders the terms by number of levels: theta = (usid:id, usid)
    s2 = ref["sigma"] ** 2
    T = [np.array([[s2 * ref["theta"][0] ** 2]]), np.array([[s2 * ref["theta"][1] ** 2]])]
    d = build_design(FIXED, tall)
    one = np.ones((len(d.y), 1))
    sid = tall.usid.to_numpy()[d.rows]
    codes = [sid * 100000 + tall.id.to_numpy()[d.rows], sid]
    r = robust_mixed_components(d.y, d.X, d.terms, [one, one], codes, T, s2)
    np.testing.assert_allclose(r.beta, ref["estimate"], rtol=1e-8)
    np.testing.assert_allclose(r.se_model, ref["se_model"], rtol=1e-8)
    np.testing.assert_allclose(r.bse, ref["se_cr2"], rtol=1e-8)
    np.testing.assert_allclose(r.df, ref["df_cr2"], rtol=1e-8)
    np.testing.assert_allclose(r.with_vcov("CR0").bse, ref["se_cr0"], rtol=1e-8)
    e2e = robust_mixed(m2a)
    np.testing.assert_allclose(e2e.bse, ref["se_cr2"], rtol=1e-5)
    np.testing.assert_allclose(e2e.df, ref["df_cr2"], rtol=1e-5)
