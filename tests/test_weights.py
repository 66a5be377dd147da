"""lsa.weights against spec §5 numbers (R-5.1 [V], R-5.2 [C]) and closed-form identities."""
import numpy as np
import pandas as pd
import pytest

from lsa import weights as W
from lsa.errors import DesignError
from lsa.mixed import mixed
from conftest import read_reference_csv
from test_mixed import rel


@pytest.fixture(scope="module")
def pisa():
    return read_reference_csv("pisa2012")


def test_wscale_pisa_r51(pisa):
    """Spec R-5.1 (MLMusingR wscale on cweight = w_fstuwt/w_fschwt), printed to 10 digits."""
    cw = pisa.w_fstuwt / pisa.w_fschwt
    es = W.scale_within(cw, pisa.schoolid, "ecluster")
    cl = W.scale_within(cw, pisa.schoolid, "cluster")
    assert rel([es.min(), es.max()], [0.7635826028, 1.3325292260]) < 1e-9
    assert rel([cl.min(), cl.max()], [0.7820465075, 1.3559950607]) < 1e-9
    assert rel(es.sum(), 3124.088381) < 1e-9 and rel(cl.sum(), 3136) < 1e-12
    assert rel(es[:3], [0.96383136, 1.01737758, 1.06367217]) < 1e-7
    # scaling total or conditional weights is the same (school weight cancels)
    assert rel(W.scale_within(pisa.w_fstuwt, pisa.schoolid, "cluster"), cl) < 1e-12


def test_scale_weights_frame_and_errors(pisa):
    s = W.scale_weights(pisa, "schoolid", "pwt1", "cluster")
    assert s.groupby(pisa.schoolid).sum().round(8).equals(pisa.groupby("schoolid").size().astype(float))
    with pytest.raises(DesignError, match="scaling type"):
        W.scale_within(pisa.pwt1, pisa.schoolid, "bad")


def test_timss_components_r52():
    d = read_reference_csv("timss2019_usa_3level")
    tw = W.timss_weights(d)
    assert np.max(np.abs(d.STUWGT - tw.stuwgt_cond)) < 1e-5          # spec: exact to rounding
    assert np.max(np.abs(d.TOTWGT - tw.totwgt)) < 1.1e-3
    sc = W.scale_within(d.STUWGT, d.IDSCHOOL, "cluster")
    ec = W.scale_within(d.STUWGT, d.IDSCHOOL, "ecluster")
    assert rel([sc.min(), sc.max()], [0.8293838, 1.3123208]) < 1e-6   # R-5.2 [C]
    assert rel([ec.min(), ec.max()], [0.7984573, 1.2747289]) < 1e-6
    diag = W.diagnostics(d, ["IDSCHOOL"], ["STUWGT", "SCHWGT"], conditional_weights=True)
    assert round(diag.share_varying[0] * 246) == 198                  # 198 of 246


def test_diagnostics_kish(pisa):
    diag = W.diagnostics(pisa, ["schoolid"], ["w_fstuwt", "w_fschwt"])
    assert diag.n.tolist() == [3136, 157]
    assert rel(diag["sum"], [2236614.9653, 30161.2364]) < 1e-9
    w = pisa.w_fstuwt.to_numpy()
    assert rel(diag.deff[0], 1 + w.var() / w.mean() ** 2) < 1e-12     # Kish: 1 + CV²


def test_weight_spec_level2_only(pisa):
    spec = W.weight_spec(pisa, "level2", ["w_fstuwt", "w_fschwt"])
    r = mixed("pv1math ~ escs + (1 | schoolid)", spec.data, weights=spec.weights,
              conditional_weights=spec.conditional_weights)
    assert r.weight_stats.set_index("level").loc[1, "sum_wgt"] == pytest.approx(
        (pisa.w_fschwt).sum())
    none = W.weight_spec(pisa, "none", ["w_fstuwt", "w_fschwt"])
    assert none.weights is None
    l1 = W.weight_spec(pisa, "level1", ["w_fstuwt", "w_fschwt"])
    assert l1.data[l1.weights[0]].sum() == pytest.approx(len(pisa))


def test_scaling_option_equals_prescaled(pisa):
    d = pisa.assign(cl=W.scale_within(pisa.pwt1, pisa.schoolid, "cluster"))
    a = mixed("pv1math ~ escs + (1 | schoolid)", d, weights=["pwt1", "w_fschwt"],
              conditional_weights=True, scaling="cluster")
    b = mixed("pv1math ~ escs + (1 | schoolid)", d, weights=["cl", "w_fschwt"],
              conditional_weights=True)
    assert rel(a.params, b.params) < 1e-10


def test_informativeness_tests_match_manual(pisa):
    f = "pv1math ~ escs + st04q01"
    dd = W.dumouchel_duncan(f, pisa, "w_fstuwt")
    import statsmodels.formula.api as smf
    m0 = smf.ols(f, pisa).fit()
    m1 = smf.ols("pv1math ~ (escs + st04q01) * w_fstuwt", pisa).fit()
    F, p, k = m1.compare_f_test(m0)
    assert rel(dd.statistic, F) < 1e-9 and rel(dd.p_value, p) < 1e-8 and dd.df[0] == k
    ps = W.pfeffermann_sverchkov(f, pisa, "w_fstuwt")
    e = m0.resid
    for k, row in ps.table.iterrows():
        fit = smf.ols("e ~ w", pd.DataFrame({"e": e ** row.power, "w": pisa.w_fstuwt})).fit()
        assert rel(row.p_value, fit.pvalues["w"]) < 1e-8
