"""lsa.robust: GLMs, binary-outcome alternatives, effective clusters and GEE against the numbers
printed in the methods spec (sections 8.3, 11.4, 12.3, 13.2), computed there with CR2::clustSE,
fhutils::effclust and geepack::geeglm. Tolerance: half a unit of the last printed digit unless
stated. mtcars.csv is R's datasets::mtcars (typed in; its correctness is checked below through
lm/clustSE results that depend on every column used).
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lsa.robust import clustered
from lsa.robust.binary import lpm, modified_poisson, risk_ratios
from lsa.robust.effective import (FewClustersWarning, check_effective_clusters,
                                  effective_clusters, effective_clusters_simple)
from conftest import assert_cov_close, read_reference_csv
from lsa.robust.gee import gee

REF = Path(__file__).parent / "reference"
CRCT_F = "odr_post ~ odr_pre + female + race_Hispanic + trt + size + stype_elem + stype_hs"


@pytest.fixture(scope="module")
def crct():
    return read_reference_csv(REF / "data" / "crct.csv")


@pytest.fixture(scope="module")
def mtcars():
    return pd.read_csv(REF / "data" / "mtcars.csv")


def test_logistic_clustse_crct(crct):
    """R-8.3: glm(binomial) + CR2::clustSE(m2a, 'usid', digits = 8), 18 schools."""
    r = clustered(CRCT_F, crct, cluster="usid", family="binomial", type="CR2", df="bell-mccaffrey")
    half = 5e-9  # printed to 8 decimals
    np.testing.assert_allclose(r.beta, [-0.10199987, 1.57646774, -0.41228812, -0.20206793, -0.71459517,
                                        -0.00343835, -0.72916182, 0.35341559], rtol=0, atol=half)
    np.testing.assert_allclose(r.se_model, [0.17043665, 0.10130466, 0.09399630, 0.09626215, 0.09341215,
                                            0.00037801, 0.12903587, 0.10239832], rtol=0, atol=half)
    np.testing.assert_allclose(r.with_vcov("CR0").bse, [0.43858367, 0.13386264, 0.13586414, 0.14269909,
                                                        0.21046498, 0.00093293, 0.25889626, 0.23839522],
                               rtol=0, atol=half)
    np.testing.assert_allclose(r.with_vcov("CR1S").bse, [0.45167257, 0.13785758, 0.13991881, 0.14695774,
                                                         0.21674600, 0.00096077, 0.26662265, 0.24550978],
                               rtol=0, atol=half)
    np.testing.assert_allclose(r.bse, [0.54289263, 0.14103348, 0.14392248, 0.15936547, 0.25140681,
                                       0.00118458, 0.29660536, 0.29296496], rtol=0, atol=half)
    np.testing.assert_allclose(r.tvalues, [-0.1878822, 11.1779684, -2.8646541, -1.2679531, -2.8423858,
                                           -2.9025940, -2.4583568, 1.2063408], rtol=0, atol=5e-8)
    np.testing.assert_allclose(r.df, [6.89, 13.53, 14.11, 13.39, 11.10, 5.15, 8.07, 7.82], atol=0.005)
    np.testing.assert_allclose(r.pvalues, [0.85638137, 0.00000003, 0.01240683, 0.22641670, 0.01587952,
                                           0.03251893, 0.03916094, 0.26290755], rtol=0, atol=half)
    assert r.with_vcov("CR2", df="between-within").df.tolist() == [13, 4211, 4211, 4211, 13, 13, 13, 13]


def test_lpm_and_modified_poisson_crct(crct):
    """R-8.4 / R-13.2: LPM and modified Poisson with CR2 + dfBM (clustSE digits = 6)."""
    half = 5e-7
    r = lpm(CRCT_F, crct, cluster="usid", df="bell-mccaffrey")
    np.testing.assert_allclose(r.beta, [0.350910, 0.279623, -0.046109, -0.020247, -0.080359, -0.000396,
                                        -0.067197, 0.044486], atol=half, rtol=0)
    np.testing.assert_allclose(r.bse, [0.062121, 0.034463, 0.015511, 0.016488, 0.029601, 0.000112,
                                       0.037962, 0.033203], atol=half, rtol=0)
    np.testing.assert_allclose(r.df, [8.56, 14.50, 15.53, 14.82, 11.91, 6.82, 8.15, 7.99], atol=0.005)
    np.testing.assert_allclose(r.pvalues, [0.000377, 0.000001, 0.009210, 0.238602, 0.018900, 0.009807,
                                           0.113954, 0.217178], atol=half, rtol=0)
    p = modified_poisson(CRCT_F, crct, cluster="usid", df="bell-mccaffrey")
    np.testing.assert_allclose(p.beta, [-0.734204, 1.093371, -0.316805, -0.136207, -0.522502, -0.002491,
                                        -0.567611, 0.226968], atol=half, rtol=0)
    np.testing.assert_allclose(p.bse, [0.441634, 0.103041, 0.109227, 0.130555, 0.206646, 0.001022,
                                       0.233635, 0.240186], atol=half, rtol=0)
    np.testing.assert_allclose(p.df, [6.82, 11.48, 12.90, 12.03, 10.63, 4.93, 7.78, 7.35], atol=0.005)
    np.testing.assert_allclose(p.pvalues, [0.141501, 0.000000, 0.012478, 0.317334, 0.028699, 0.059577,
                                           0.042050, 0.374678], atol=half, rtol=0)
    rr = risk_ratios(p)
    np.testing.assert_allclose(rr.risk_ratio, np.exp(p.beta), rtol=1e-14)
    assert (rr.conf_low < rr.risk_ratio).all() and (rr.risk_ratio < rr.conf_high).all()


def test_glm_statsmodels_results_equal_formula_path(crct):
    import statsmodels.api as sm
    import statsmodels.formula.api as smf

    fit = smf.glm(CRCT_F, crct, family=sm.families.Binomial()).fit(tol=1e-12)
    r_sm = clustered(fit, crct, cluster="usid")
    r_f = clustered(CRCT_F, crct, cluster="usid", family="binomial")
    # a fully converged statsmodels fit vs R's IRLS stopping rule (relative deviance change
    # < 1e-8), which leaves SEs ~5e-6 from the limit: compare at 2e-5 relative
    np.testing.assert_allclose(r_sm.bse, r_f.bse, rtol=2e-5)
    np.testing.assert_allclose(r_sm.df, r_f.df, rtol=2e-5)


def test_mtcars_clustse_three_clusters(mtcars):
    """R-8.1: clustSE(lm(mpg ~ am + wt, data = mtcars), 'cyl'), printed to 3 decimals."""
    r = clustered("mpg ~ am + wt", mtcars, cluster="cyl", type="CR2", df="bell-mccaffrey")
    np.testing.assert_allclose(r.beta, [37.322, -0.024, -5.353], atol=5e-4, rtol=0)
    np.testing.assert_allclose(r.bse, [6.082, 1.288, 1.562], atol=5e-4, rtol=0)
    np.testing.assert_allclose(r.df, [1.43, 1.95, 1.27], atol=5e-3, rtol=0)
    np.testing.assert_allclose(r.pvalues, [0.054, 0.987, 0.138], atol=5e-4, rtol=0)
    np.testing.assert_allclose(r.with_vcov("CR0").bse, [3.614, 0.830, 0.887], atol=5e-4, rtol=0)
    np.testing.assert_allclose(r.with_vcov("CR1S").bse, [4.576, 1.051, 1.123], atol=5e-4, rtol=0)
    assert r.with_vcov("CR2", df="between-within").df.tolist() == [2, 26, 26]


def test_effective_clusters(crct, mtcars):
    """Spec 11.4 (fhutils::effclust, printed to 10 significant digits)."""
    g = effective_clusters(CRCT_F, crct, "usid")
    np.testing.assert_allclose(g, [8.823563454, 3.859593266, 5.634457787, 5.789668586, 14.109346695,
                                   6.482329151, 8.917108569, 9.559779344], rtol=1e-9)
    assert effective_clusters_simple(crct["usid"]) == pytest.approx(16.52227262, rel=1e-9)
    np.testing.assert_allclose(effective_clusters("mpg ~ wt", mtcars, "cyl"), [1.591897626, 2.0], rtol=1e-9)
    r = clustered(CRCT_F, crct, cluster="usid")
    np.testing.assert_allclose(r.effective_clusters(), g, rtol=1e-12)
    with pytest.warns(FewClustersWarning, match="CR2"):
        tab = check_effective_clusters(g, threshold=6)
    assert tab.loc[tab.flagged, "term"].tolist() == ["odr_pre", "female", "race_Hispanic"]
    tab = check_effective_clusters(g, threshold=2, warn=False)
    assert not tab.flagged.any()


def test_gee_toy_exchangeable():
    """R-12.1 (GEE post): geeglm(y ~ x, id, corstr = 'exchangeable')."""
    dat = pd.DataFrame(dict(id=[1, 1, 1, 1, 2, 2, 2, 2], y=[4, 5, 6, 7, 5, 6, 7, 8.], x=[0, 1, 0, 1] * 2))
    r = gee("y ~ x", dat, "id")
    np.testing.assert_allclose(r.beta, [5.5, 1.0], rtol=1e-10)
    np.testing.assert_allclose(r.bse, [0.3536, 0.0], atol=5e-5)
    assert r.extra["scale"] == pytest.approx(1.25, rel=1e-12)
    assert r.extra["alpha"] == pytest.approx(-1 / 15, rel=1e-10)  # (1/1.25)(1/12)(-1)


def test_gee_mtcars_exchangeable(mtcars):
    """R-12.3: geeglm(mpg ~ wt + am + qsec + hp + vs, id = cyl, corstr = 'ex'), printed digits."""
    d = mtcars.sort_values("cyl", kind="stable")
    r = gee("mpg ~ wt + am + qsec + hp + vs", d, "cyl")
    np.testing.assert_allclose(r.beta, [17.12208, -3.25966, 2.92939, 0.81711, -0.01596, 0.17373],
                               atol=5e-5, rtol=0)
    np.testing.assert_allclose(r.bse, [4.91011, 0.70954, 0.40431, 0.20428, 0.00962, 0.32731],
                               atol=1e-5, rtol=0)  # geepack/jebsgee print 0.70954/0.70955
    assert r.extra["alpha"] == pytest.approx(-0.02843494436, abs=5e-7)  # geepack's own stop rule
    # independence GEE = OLS; LZ = CR0; Mancl-DeRouen = CR3 of OLS
    ri = gee("mpg ~ wt + am", d, "cyl", corstr="independence", type="CR3")
    ro = clustered("mpg ~ wt + am", d, cluster="cyl", type="CR3")
    np.testing.assert_allclose(ri.beta, ro.beta, rtol=1e-10)
    assert_cov_close(ri.cov, ro.cov, rtol=1e-8)                     # relative to se_i * se_j


def test_gee_binary_independence_equals_logistic_cr0(crct):
    r = gee(CRCT_F, crct, "usid", family="binomial", corstr="independence")
    g = clustered(CRCT_F, crct, cluster="usid", family="binomial", type="CR0")
    # GEE is iterated to 1e-10; the GLM stops with R's rule (SEs ~5e-6 from the limit)
    np.testing.assert_allclose(r.beta, g.beta, rtol=2e-5)
    np.testing.assert_allclose(r.bse, g.bse, rtol=2e-5)
    ex = gee(CRCT_F, crct, "usid", family="binomial", type="CR3")
    assert 0 < ex.extra["alpha"] < 1
    assert (ex.bse > ex.with_vcov("CR0").bse).all()  # MD inflates LZ with 18 clusters
