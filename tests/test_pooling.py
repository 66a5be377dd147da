"""lsa.pooling against mitml::testEstimates (tests/reference/mitml_pisa2012_lm.json) and closed forms.

Pooling is closed-form: tolerance 1e-8 relative.
"""

import numpy as np
import pytest

from lsa import pooling
from conftest import load_reference

REF = load_reference("mitml_pisa2012_lm")


def per_pv():
    terms = REF["pooled_rubin"]["term"]
    est = np.array([[fit["coef"][t] for t in terms] for fit in REF["per_pv"]])
    cov = np.array([fit["vcov"]["values"] for fit in REF["per_pv"]])
    return est, cov


@pytest.mark.parametrize("key,df_com", [("pooled_rubin", np.inf), ("pooled_barnard_rubin", REF["df_com"])])
def test_rubin_matches_mitml(key, df_com):
    est, cov = per_pv()
    p = pooling.rubin(est, cov, df_complete=df_com)
    ref = REF[key]
    np.testing.assert_allclose(p.estimate, ref["Estimate"], rtol=1e-8)
    np.testing.assert_allclose(p.std_error, ref["Std.Error"], rtol=1e-8)
    np.testing.assert_allclose(p.statistic(), ref["t.value"], rtol=1e-8)
    np.testing.assert_allclose(p.df, ref["df"], rtol=1e-8)
    np.testing.assert_allclose(p.riv, ref["RIV"], rtol=1e-8)
    np.testing.assert_allclose(p.fmi, ref["FMI"], rtol=1e-8)
    np.testing.assert_allclose(p.p_value()[2], ref["P(>|t|)"][2], rtol=1e-6)


def test_variances_accepted_as_vectors():
    est, cov = per_pv()
    a = pooling.rubin(est, cov)
    b = pooling.rubin(est, np.diagonal(cov, axis1=1, axis2=2))
    np.testing.assert_allclose(a.std_error, b.std_error, rtol=1e-12)


def test_one_draw_is_complete_data_inference():
    p = pooling.rubin(np.array([[2.0]]), np.array([[[4.0]]]), df_complete=30)
    assert p.std_error[0] == 2.0 and p.df[0] == 30


def test_nested_closed_form():
    rng = np.random.default_rng(1)
    q = rng.normal(size=(4, 3, 2))
    u = np.abs(rng.normal(size=(4, 3, 2))) + 0.5
    p = pooling.nested(q, u)
    # Rubin (2003) by hand for the first parameter
    x = q[..., 0]
    ubar = u[..., 0].mean()
    bb = x.mean(axis=1).var(ddof=1)
    wb = ((x - x.mean(axis=1, keepdims=True)) ** 2).sum() / (4 * 2)
    t = ubar + (1 + 1 / 4) * bb + (1 - 1 / 3) * wb
    nu = 1 / (((1 + 1 / 4) * bb) ** 2 / (3 * t**2) + ((1 - 1 / 3) * wb) ** 2 / (4 * 2 * t**2))
    assert p.total[0, 0] == pytest.approx(t, rel=1e-12)
    assert p.df[0] == pytest.approx(nu, rel=1e-12)


def test_d1_reduces_to_squared_t_for_one_parameter_without_between_variance():
    est = np.array([[1.5], [1.5], [1.5]])
    cov = np.array([[[0.25]]] * 3)
    w = pooling.wald_d1(est, cov)
    assert w.statistic == pytest.approx((1.5 / 0.5) ** 2, rel=1e-12)


def test_lrt_d2_matches_lrtpv():
    """MLMusingR::lrtPV(m1, m0) on the LSA_1 random-slope vs random-intercept fits (spec §3.3)."""
    m0 = np.array([-12789991.9938531, -12792874.0607724, -12793470.1521340, -12801578.2597761, -12803187.1665903])
    m1 = np.array([-12741285.5261518, -12753417.7705367, -12745961.6072584, -12753321.6541163, -12766443.4922348])
    t = pooling.lrt_d2(-2 * (m0 - m1), k=2)
    # the lnl inputs are printed to 1e-7 absolute on 1.3e7 (15 digits), so the F is good to ~1e-8
    assert t.statistic == pytest.approx(98.27685198, rel=1e-8)
    assert t.df_den == pytest.approx(2.650988333, rel=1e-8)
    assert t.riv == pytest.approx(441.3452503, rel=1e-8)
    assert round(t.p_value, 4) == 0.0033
