"""lsa.robust.robust_mixed against CR2::robust_mixed / clubSandwich on lmer fits
(tests/reference/cr2_robust_mixed_sch25.json: sch25, REML, random intercept and random slope).

Two oracles: (1) the closed-form CR0/CR2 algebra given lme4's own variance components
(theta, sigma from the JSON): 1e-8 relative; (2) end to end with an lsa.mixed REML fit, whose
optimiser stops within ~1e-6 of lme4's: 1e-5 relative.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from lsa.mixed import mixed  # an import failure of lsa is a test failure, never a skip
from lsa.robust.formula import build_design
from lsa.robust.mixed import robust_mixed, robust_mixed_components, se_ratio

from conftest import assert_cov_close, read_reference_csv

REF = Path(__file__).parent / "reference"
RM = json.loads((REF / "cr2_robust_mixed_sch25.json").read_text())
CASES = {"ri": ("math ~ male + minority + mses + mhmwk", "1"),
         "rs": ("math ~ ses + male + minority + mses + mhmwk", "1 + ses")}
VARIANTS = [("CR2", "satterthwaite", "robust_mixed_cr2_satt"),
            ("CR0", "satterthwaite", "robust_mixed_cr0_satt"),
            ("CR2", "between-within", "robust_mixed_cr2_between_within"),
            ("CR0", "between-within", "robust_mixed_cr0_between_within")]


@pytest.fixture(scope="module")
def sch25():
    return read_reference_csv(REF / "data" / "sch25.csv")


def _lme4_components(key, sch25):
    fixed, zform = CASES[key]
    lm = RM["models"][key]["lmer"]
    theta = np.array(list(lm["theta"].values()))
    q = 1 if key == "ri" else 2
    L = np.zeros((q, q))
    L[np.tril_indices(q)] = theta  # lme4: column-wise lower triangle of the relative factor
    T = lm["sigma"] ** 2 * L @ L.T
    d = build_design(fixed, sch25)
    Z = build_design("math ~ " + zform, sch25).X
    return d, Z, T, lm["sigma"] ** 2


@pytest.mark.parametrize("key", list(CASES))
@pytest.mark.parametrize("cov_type,df,entry", VARIANTS)
def test_closed_form_given_lme4_components(sch25, key, cov_type, df, entry):
    d, Z, T, s2 = _lme4_components(key, sch25)
    r = robust_mixed_components(d.y, d.X, d.terms, [Z], [sch25.schid.to_numpy()], [T], s2,
                                type=cov_type, df=df)
    tab = RM["models"][key][entry]["table"]
    assert list(r.terms) == tab["term"]
    np.testing.assert_allclose(r.beta, tab["estimate"], rtol=1e-8)
    np.testing.assert_allclose(r.se_model, tab["se_model"], rtol=1e-8)
    np.testing.assert_allclose(r.bse, tab["se_robust"], rtol=1e-8)
    np.testing.assert_allclose(r.tvalues, tab["t"], rtol=1e-8)
    np.testing.assert_allclose(r.df, tab["df"], rtol=1e-8)
    assert_cov_close(r.cov, np.array(RM["models"][key][entry]["vcov_robust"]["values"]), 1e-8)  # of se_i*se_j
    np.testing.assert_allclose(r.pvalues, tab["p_rounded"], atol=5e-4 + 1e-12)  # R rounds to 3 dp


@pytest.mark.parametrize("key", list(CASES))
def test_end_to_end_with_lsa_mixed(sch25, key):
    fixed, zform = CASES[key]
    fit = mixed(f"{fixed} + ({zform} | schid)", sch25, reml=True)
    r = robust_mixed(fit, sch25)
    tab = RM["models"][key]["robust_mixed_cr2_satt"]["table"]
    np.testing.assert_allclose(r.bse, tab["se_robust"], rtol=1e-5)  # iterative fit: optimiser-limited
    np.testing.assert_allclose(r.df, tab["df"], rtol=1e-5)
    ratio = se_ratio(r)
    assert ratio["male"] > 1.4  # robust SE of male is ~1.6x the model-based SE (spec)
    r0 = robust_mixed(fit, sch25, type="CR0", df="between-within")
    assert r0.df.tolist() == RM["models"][key]["robust_mixed_cr0_between_within"]["table"]["df"]
