"""PV expressions anywhere in a model formula (issue 13 item 9).

Oracle: the same model fitted on derived plausible-value sets built by hand (column m of the
derived set = the expression evaluated on PV m of every set), the equivalence the issue asks
for ("equals the fit on ten derived 0/1 columns"). Both fits go through the same estimator, so
agreement to 1e-10 (relative to each quantity's scale) shows that the expression is evaluated
PV m with PV m, on the response and on the predictor side; the arithmetic response
``PVLIT - PVNUM`` is also checked against the closed form β(PVLIT) − β(PVNUM) of least squares,
which is linear in the response (1e-8).
"""

import warnings

import numpy as np
import pytest

import lsa

M = 10


@pytest.fixture(scope="module")
def flanders():
    """PIAAC 2012 Flanders (bundled): JK2, 80 replicates, 10 PVs; derived PV sets added."""
    df = lsa.datasets.load("piaac2012_bel_flanders").copy()
    for i in range(1, M + 1):
        lit, num = df[f"PVLIT{i}"], df[f"PVNUM{i}"]
        df[f"LOW{i}"] = (lit < 250).astype(float).where(lit.notna())
        df[f"LOGLIT{i}"] = np.log(lit)
        df[f"DIFF{i}"] = lit - num
        df[f"LIT100_{i}"] = lit / 100
        df[f"BELOW{i}"] = (lit < num).astype(float).where(lit.notna() & num.notna())
    base = lsa.design_from_study("piaac", 2012, df)
    pvs = dict(base.pvs)
    for name, stem in [("LOW", "LOW"), ("LOGLIT", "LOGLIT"), ("DIFF", "DIFF"), ("LIT100", "LIT100_"),
                       ("BELOW", "BELOW")]:
        pvs[name] = [f"{stem}{i}" for i in range(1, M + 1)]
    return base, lsa.design_from_study("piaac", 2012, df, pvs=pvs)


def _same(a, b, tol=1e-10):
    ta, tb = a.tidy(), b.tidy()
    assert len(ta) == len(tb)                  # term names differ (the expression vs the set's name)
    for col in ("estimate", "std_error", "df"):
        x, y = ta[col].to_numpy(), tb[col].to_numpy()
        scale = np.maximum(np.abs(y), 1.0 if col == "df" else tb["std_error"].to_numpy())
        np.testing.assert_array_less(np.abs(x - y) / scale, tol)       # 1e-10 relative to the SE


def _fit(fn, design, formula):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lsa.MissingDataWarning)
        return fn(design, formula)


@pytest.mark.parametrize("fn, expr, derived", [
    (lsa.logit, "I(PVLIT < 250) ~ AGE_R + GENDER_R", "LOW ~ AGE_R + GENDER_R"),
    (lsa.logit, "PVLIT < 250 ~ AGE_R + GENDER_R", "LOW ~ AGE_R + GENDER_R"),
    (lsa.logit, "I(PVLIT < PVNUM) ~ AGE_R", "BELOW ~ AGE_R"),
    (lsa.lm, "np.log(PVLIT) ~ AGE_R + GENDER_R", "LOGLIT ~ AGE_R + GENDER_R"),
    (lsa.lm, "PVLIT - PVNUM ~ AGE_R", "DIFF ~ AGE_R"),
    (lsa.lm, "AGE_R ~ I(PVLIT / 100) + GENDER_R", "AGE_R ~ LIT100 + GENDER_R"),
    (lsa.logit, "GENDER_R ~ np.log(PVLIT) + AGE_R", "GENDER_R ~ LOGLIT + AGE_R"),
    (lsa.lm, "I(PVLIT - PVNUM) ~ np.log(PVLIT)", "DIFF ~ LOGLIT"),
])
def test_expression_equals_derived_pv_set(flanders, fn, expr, derived):
    base, full = flanders
    _same(_fit(fn, base, expr), _fit(fn, full, derived))


def test_arithmetic_response_is_not_formula_algebra(flanders):
    # R evaluates the left of ~ as one expression: lm(PVLIT - PVNUM ~ x) regresses the
    # difference, whose least-squares coefficients are β(PVLIT) − β(PVNUM) for every PV
    base, _ = flanders
    diff = _fit(lsa.lm, base, "PVLIT - PVNUM ~ AGE_R").per_pv
    lit = _fit(lsa.lm, base, "PVLIT ~ AGE_R").per_pv
    num = _fit(lsa.lm, base, "PVNUM ~ AGE_R").per_pv
    expected = lit["estimate"].to_numpy() - num["estimate"].to_numpy()
    np.testing.assert_allclose(diff["estimate"].to_numpy(), expected, rtol=1e-8, atol=1e-8 * 300)


def test_response_expression_keeps_names_and_calls():
    from lsa.estimators.regression import response_expression

    assert response_expression("MATH") == "MATH"
    assert response_expression("np.log(MATH)") == "np.log(MATH)"
    assert response_expression("I(MATH < 420.07)") == "I(MATH < 420.07)"
    assert response_expression("MATH - READ") == "I(MATH - READ)"
    assert response_expression("MATH < 420.07") == "I(MATH < 420.07)"
