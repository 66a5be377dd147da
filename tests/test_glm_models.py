"""Models and model extras over plausible values × replicates (issue 13 items 4, 5 and 8).

Oracles (R output computed by the scripts stored beside the JSON in ``tests/reference/``):
- ``regression_extras_piaac.json`` (``regression_extras_piaac.R``): PIAAC 2012 Flanders, JK2
  80 replicates, 10 PVs, ``survey::withReplicates`` + ``mitools::MIcombine``: the
  Johnson–Rust and Welch–Satterthwaite df as EdSurvey's ``DoFCorrection`` defines them (written
  out in the script), R², adjusted R² and standardised coefficients with their replicate SEs.
Closed forms for the rest: odds ratios exp(β) with exp of the confidence limits (1e-12).
Tolerances: 1e-8 relative for closed forms (least squares, R², df), as stated per assertion.
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import lsa
from conftest import rel_entrywise
from lsa.pooling import replicate_df

REF = Path(__file__).parent / "reference"


@pytest.fixture(scope="module")
def extras():
    return json.loads((REF / "regression_extras_piaac.json").read_text())


@pytest.fixture(scope="module")
def flanders():
    return lsa.design_from_study("piaac", 2012, lsa.datasets.load("piaac2012_bel_flanders"))


def quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lsa.MissingDataWarning)
        return fn(*args, **kw)


# -- df rules (item 8) ---------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["johnson_rust", "welch_satterthwaite"])
def test_replicate_df_of_regression_matches_edsurvey_rule(flanders, extras, method):
    tab = quiet(lsa.lm, flanders, "PVLIT ~ AGE_R + GENDER_R", df_method=method).tidy()
    assert list(tab["term"]) == extras["terms"]
    assert rel_entrywise(tab["estimate"], extras["coefficients"]["estimate"]) < 1e-8          # closed form
    assert rel_entrywise(tab["std_error"], extras["coefficients"]["std_error"]) < 1e-8
    assert rel_entrywise(tab["df"], extras["df"][method]) < 1e-8                               # closed form
    # the p-value and interval use that df
    from scipy import stats
    t = tab["estimate"] / tab["std_error"]
    assert rel_entrywise(tab["p_value"], 2 * stats.t.sf(np.abs(t), extras["df"][method])) < 1e-8


@pytest.mark.parametrize("method", ["johnson_rust", "welch_satterthwaite"])
def test_replicate_df_of_a_mean(flanders, extras, method):
    tab = quiet(lsa.mean, flanders, "PVLIT", df_method=method).tidy()
    assert rel_entrywise(tab["estimate"], extras["mean_pvlit"]["estimate"]) < 1e-10
    assert rel_entrywise(tab["df"], extras["mean_pvlit"][method]) < 1e-8


def test_replicate_df_closed_form_and_edge_cases():
    # one PV, R replicates with equal deviations: WS = R exactly; JR = (3.16 - 2.77/sqrt(R)) R
    full = np.zeros((1, 2))
    reps = np.ones((1, 20, 2))
    reps[0, :, 1] = 0.0                                          # no replicate variation: df 0 (EdSurvey)
    ws = replicate_df(full, reps, 1.0, "welch_satterthwaite")
    assert abs(ws[0] - 20) < 1e-12 and ws[1] == 0
    jr = replicate_df(full, reps, 1.0, "johnson_rust")
    assert abs(jr[0] - (3.16 - 2.77 / np.sqrt(20)) * 20) < 1e-12
    # a common factor c cancels; a NaN replicate is left out (R: 19 replicates)
    assert abs(replicate_df(full, reps, 0.05, "welch_satterthwaite")[0] - 20) < 1e-12
    reps[0, 3, 0] = np.nan
    assert abs(replicate_df(full, reps, 1.0, "johnson_rust")[0] - (3.16 - 2.77 / np.sqrt(19)) * 19) < 1e-12
    with pytest.raises(lsa.LsaError, match="method must be 'johnson_rust' or 'welch_satterthwaite'; got 'x'"):
        replicate_df(full, reps, 1.0, "x")


def test_df_method_note_and_other_rules_unchanged(flanders):
    jr = quiet(lsa.mean, flanders, "PVLIT", df_method="johnson_rust")
    br = quiet(lsa.mean, flanders, "PVLIT")
    assert "Johnson–Rust df" in jr.note and "Barnard–Rubin df" in br.note
    assert rel_entrywise(jr.tidy()["std_error"], br.tidy()["std_error"]) < 1e-14       # only the df differs


# -- regression extras (item 4) ----------------------------------------------------------------

def test_r_squared_matches_survey_withreplicates(flanders, extras):
    tab = quiet(lsa.r_squared, flanders, "PVLIT ~ AGE_R + GENDER_R").tidy()
    assert list(tab["term"]) == ["r_squared", "adj_r_squared"]
    ref = extras["r_squared"]
    assert rel_entrywise(tab["estimate"], ref["estimate"]) < 1e-8                               # closed form
    assert rel_entrywise(tab["std_error"], ref["std_error"]) < 1e-8
    assert (tab["n_obs"] == extras["n"]).all()


def test_standardized_coefficients_match_survey_withreplicates(flanders, extras):
    tab = quiet(lsa.standardized, flanders, "PVLIT ~ AGE_R + GENDER_R").tidy()
    ref = extras["standardized"]
    assert list(tab["term"]) == ref["terms"]
    assert rel_entrywise(tab["estimate"], ref["estimate"]) < 1e-8                               # closed form
    assert rel_entrywise(tab["std_error"], ref["std_error"]) < 1e-8


def test_odds_ratios_are_exp_of_the_logit_table(flanders):
    fit = quiet(lsa.logit, flanders, "I(PVLIT < 250) ~ AGE_R + GENDER_R")
    tab, ci = fit.tidy(), fit.conf_int(0.1)
    ors = lsa.odds_ratios(fit, alpha=0.1)
    assert rel_entrywise(ors["estimate"], np.exp(tab["estimate"])) < 1e-12                     # closed form
    assert rel_entrywise(ors["std_error"], np.exp(tab["estimate"]) * tab["std_error"]) < 1e-12
    assert rel_entrywise(ors["conf_low"], np.exp(ci["conf_low"])) < 1e-12
    assert rel_entrywise(ors["conf_high"], np.exp(ci["conf_high"])) < 1e-12
    assert rel_entrywise(ors["p_value"], tab["p_value"]) < 1e-12
    with pytest.raises(lsa.LsaError, match="odds_ratios needs the result of Logistic regression.*got 'Linear"):
        lsa.odds_ratios(quiet(lsa.lm, flanders, "PVLIT ~ AGE_R"))
    with pytest.raises(lsa.LsaError, match="risk_ratios needs the result of Poisson regression"):
        lsa.risk_ratios(fit)


def test_wald_test_on_a_fit_with_pv_expression(flanders):
    # DesignResult.wald_test is reused: D1 over the 10 PVs of the derived response
    fit = quiet(lsa.logit, flanders, "I(PVLIT < 250) ~ AGE_R + GENDER_R")
    w = fit.wald_test(["AGE_R", "GENDER_RMale"])
    assert w.method == "D1" and w.df_num == 2 and 0 <= w.p_value <= 1
    # one constraint: D1 = Q̄²/(Ū(1 + r₁)) with Ū(1 + r₁) = T, so D1 = t² (closed form, 1e-10)
    one = fit.wald_test(["GENDER_RMale"])
    t = fit.tidy().set_index("term").loc["GENDER_RMale", "statistic"]
    assert rel_entrywise(one.statistic, t**2) < 1e-10


# -- probit and Poisson (item 5) ---------------------------------------------------------------

@pytest.fixture(scope="module")
def glm_ref():
    """``glm_piaac.R``: survey::svyglm (quasibinomial probit, quasipoisson) per PV + MIcombine."""
    return json.loads((REF / "glm_piaac.json").read_text())


@pytest.mark.parametrize("family", ["probit", "poisson"])
def test_glm_matches_svyglm_over_pvs_and_replicates(flanders, glm_ref, family):
    fit = quiet(getattr(lsa, family), flanders, "I(PVLIT < 250) ~ AGE_R + GENDER_R")
    tab, ref = fit.tidy(), glm_ref[family]
    assert list(tab["term"]) == ref["terms"]
    assert rel_entrywise(tab["estimate"], ref["estimate"]) < 1e-5                                # iterative fit
    assert rel_entrywise(tab["std_error"], ref["std_error"]) < 1e-5
    per_pv = fit.per_pv.pivot(index="pv", columns="term", values="estimate")[ref["terms"]].to_numpy()
    assert rel_entrywise(per_pv, np.array(ref["per_pv"]).T) < 1e-5
    assert tab["converged"].all()


def test_risk_ratios_of_poisson_fit(flanders, glm_ref):
    rr = lsa.risk_ratios(quiet(lsa.poisson, flanders, "I(PVLIT < 250) ~ AGE_R + GENDER_R"))
    assert rel_entrywise(rr["estimate"], np.exp(glm_ref["poisson"]["estimate"])) < 1e-5          # iterative fit
