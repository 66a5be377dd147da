"""Contrasts within one sample: group differences of any statistic (lsa.gap), linear combinations
of a result's terms (DesignResult.contrast / lsa.contrast), the k-group Wald test
(lsa.group_wald_test) and wald_test() on lm/logit results, on PISA 2012 USA (80 Fay replicates,
k = 0.5; 5 PVs of mathematics).

Oracle: tests/reference/survey_pisa2012_contrast.json, made by survey_pisa2012_contrast.R beside it
(survey 4.1.1 svyby(covmat = TRUE) + svycontrast per PV, withReplicates where svycontrast fails,
mitools::MIcombine over PVs; the Wald tests by mitml 0.4.4's D1 and testModels/testConstraints,
one PV by survey::regTermTest). Replicate variance, Rubin's rules and D1 are closed forms:
tolerance 1e-8 relative; the logistic fits are iterative (Newton to 1e-10 relative step): 1e-6.
MIcombine's df is Rubin's (1987): the df are compared with df_method="rubin".
Identities (closed form, 1e-8): a contrast of a gap result's group rows equals its difference row
(two code paths: differences per replicate, and L U_m L'); the gap rows equal the by-group rows.
"""

import numpy as np
import pytest

import lsa
from conftest import load_reference

RTOL = 1e-8
REF = load_reference("survey_pisa2012_contrast")
PV = [f"pv{i}math" for i in range(1, 6)]
REP = [f"w_fsturwt{r}" for r in range(1, 81)]


@pytest.fixture(scope="module")
def design(pisa2012):
    df = pisa2012.copy()
    df["male"] = (df["st04q01"] == "Male").astype(float)
    return lsa.SurveyDesign(df, ids={"school": "schoolid"}, weights={"student": "w_fstuwt", "school": "w_fschwt"},
                            pvs={"MATH": PV}, replicates=lsa.Replicates.fay(REP, k=0.5))


def close(actual, expected, rtol=RTOL):
    np.testing.assert_allclose(np.asarray(actual, dtype=float), np.asarray(expected, dtype=float), rtol=rtol, atol=0)


def rows(table, prefix):
    return table[table["term"].str.startswith(prefix)]


def test_percentages_gap(design):
    t = lsa.gap(design, "st29q03", between="st04q01", statistic="percentages").tidy()
    ref = REF["percent_st29q03"]
    d = rows(t, "Male - Female: ")
    assert list(d["term"]) == [f"Male - Female: {s.replace('st29q03', '')}" for s in ref["term"]]
    close(d["estimate"] / 100, ref["estimate"])
    close(d["std_error"] / 100, ref["se"])


def test_benchmark_shares_gap(design):
    ref = REF["benchmarks"]
    t = lsa.gap(design, "MATH", between="st04q01", statistic="benchmarks", cuts=ref["cuts"], df_method="rubin").tidy()
    d = rows(t, "Male - Female: ")
    assert len(d) == 4
    close(d["estimate"] / 100, ref["estimate"])
    close(d["std_error"] / 100, ref["se"])
    close(d["df"], ref["df"])


def test_percentiles_gap(design):
    ref = REF["quantiles"]
    t = lsa.gap(design, "MATH", between="st04q01", statistic="quantiles", probs=ref["probs"], df_method="rubin").tidy()
    groups = REF["quantiles_groups"]
    assert list(t["term"][:6]) == [s.replace(":", ": ") for s in groups["term"]]
    close(t["estimate"][:6], groups["estimate"])
    close(t["std_error"][:6], groups["se"])
    close(t["df"][:6], groups["df"])
    d = rows(t, "Male - Female: ")
    assert list(d["term"]) == [f"Male - Female: {s}" for s in ref["term"]]
    close(d["estimate"], ref["estimate"])
    close(d["std_error"], ref["se"])
    close(d["df"], ref["df"])


@pytest.mark.parametrize("statistic, variable, key", [
    ("mean", "MATH", "mean"),
    ("sd", "MATH", "sd"),
    ("correlation", ["MATH", "escs"], "correlation"),
])
def test_one_term_gaps_over_pvs(design, statistic, variable, key):
    t = lsa.gap(design, variable, between="st04q01", statistic=statistic, df_method="rubin").tidy()
    assert list(t["term"]) == ["Female", "Male", "Male - Female"]
    ref = REF[key]
    close(t["estimate"].iloc[2], ref["estimate"])
    close(t["std_error"].iloc[2], ref["se"])
    close(t["df"].iloc[2], ref["df"])


def test_regression_gap_equals_interaction(design):
    t = lsa.gap(design, "MATH ~ escs", between="st04q01", statistic="lm", df_method="rubin").tidy().set_index("term")
    ref = dict(zip(REF["lm_interaction"]["term"], zip(REF["lm_interaction"]["estimate"], REF["lm_interaction"]["se"],
                                                        REF["lm_interaction"]["df"])))
    for ours, theirs in [("Female: (Intercept)", "(Intercept)"), ("Female: escs", "escs"),
                         ("Male - Female: (Intercept)", "st04q01Male"), ("Male - Female: escs", "st04q01Male:escs")]:
        close(t.loc[ours, ["estimate", "std_error", "df"]], ref[theirs])
    male = REF["lm_male_slope"]
    close(t.loc["Male: escs", ["estimate", "std_error", "df"]], [male["estimate"], male["se"], male["df"]])


def test_gap_rows_equal_the_by_group_estimates(design):
    g = lsa.gap(design, "MATH", between="st04q01", statistic="quantiles", probs=[0.25, 0.75]).tidy()
    q = lsa.quantiles(design, "MATH", probs=[0.25, 0.75], by="st04q01").tidy()
    close(g["estimate"][:4], q["estimate"])
    close(g["std_error"][:4], q["std_error"])
    close(g["df"][:4], q["df"])


def test_gap_by_groups(design):
    t = lsa.gap(design, "MATH", between="st04q01", by="sc14q02").tidy()
    one = lsa.gap(design.subset((design.data["sc14q02"] == "A lot").to_numpy()), "MATH", between="st04q01").tidy()
    got = t[t["sc14q02"] == "A lot"]
    assert list(got["term"]) == ["Female", "Male", "Male - Female"]
    close(got["estimate"], one["estimate"])
    close(got["std_error"], one["std_error"])


def test_contrast_of_group_rows_equals_the_difference_row(design):
    g = lsa.gap(design, "MATH", between="st04q01", statistic="quantiles", probs=[0.1, 0.9])
    t = g.tidy().set_index("term")
    c = g.contrast({"p90 gap": {"Male: p90": 1, "Female: p90": -1},
                    "p10 gap": {"Male: p10": 1, "Female: p10": -1}}).tidy().set_index("term")
    for name, row in [("p90 gap", "Male - Female: p90"), ("p10 gap", "Male - Female: p10")]:
        close(c.loc[name, ["estimate", "std_error", "df"]], t.loc[row, ["estimate", "std_error", "df"]])


def test_contrast_within_a_model_against_r(design):
    fit = lsa.lm(design, "MATH ~ st04q01 * escs", df_method="rubin")
    c = lsa.contrast(fit, {"escs": 1, "st04q01Male:escs": 1}).tidy()
    ref = REF["lm_male_slope"]
    assert list(c["term"]) == ["escs + st04q01Male:escs"]
    close(c[["estimate", "std_error", "df"]].iloc[0], [ref["estimate"], ref["se"], ref["df"]])
    # a matrix gives the same; a vector of k weights too
    m = fit.contrast(np.array([[0, 0, 1, 1.0]]), names=["male slope"]).tidy()
    close(m[["estimate", "std_error"]].iloc[0], [ref["estimate"], ref["se"]])
    v = fit.contrast([0, 0, 1, 1]).tidy()
    close(v[["estimate", "std_error"]].iloc[0], [ref["estimate"], ref["se"]])


def test_contrast_in_every_by_group(design):
    r = lsa.quantiles(design, "MATH", probs=[0.1, 0.9], by="st04q01")
    c = r.contrast({"p90": 1, "p10": -1}).tidy()
    assert list(c["st04q01"]) == ["Female", "Male"] and list(c["term"]) == ["p90 - p10"] * 2
    g = lsa.gap(design, "MATH", between="st04q01", statistic="quantiles", probs=[0.1, 0.9])
    for sex in ("Female", "Male"):
        want = g.contrast({"x": {f"{sex}: p90": 1, f"{sex}: p10": -1}}).tidy()
        close(c.loc[c["st04q01"] == sex, ["estimate", "std_error", "df"]].to_numpy()[0],
              want[["estimate", "std_error", "df"]].to_numpy()[0])


def _check_test(w, ref, rtol=RTOL):
    """F, df and the p-value; a p-value far in the tail (1e-63) is compared on the log scale, where
    a relative error of F of 1e-9 (svyglm's QR against lsa's normal equations) stays of its size."""
    close([w.statistic, w.df_num, w.df_den, np.log(w.p_value)],
          [ref["F"], ref["df_num"], ref["df_den"], np.log(ref["p_value"])], rtol)


def test_k_group_wald_test(design):
    ref = REF["wald_k_groups"]
    w = lsa.group_wald_test(design, "MATH", between="sc14q02")
    assert w.method == "D1" and len(w.hypotheses) == 3
    _check_test(w, ref)
    close(w.riv, ref["riv"])
    _check_test(w, ref["testModels"], rtol=1e-8)                    # mitml's own route gives the same test
    explicit = lsa.group_wald_test(design, "MATH", between="sc14q02", groups=ref["groups"])
    close(explicit.statistic, w.statistic)


def test_k_group_wald_test_of_chosen_terms(design):
    w = lsa.group_wald_test(design, "MATH", between="st04q01", statistic="quantiles", probs=[0.1, 0.5, 0.9],
                            terms=["p50"])
    g = lsa.gap(design, "MATH", between="st04q01", statistic="quantiles", probs=[0.1, 0.5, 0.9])
    assert w.hypotheses == ("Male - Female: p50 = 0",)
    assert g.wald_test(["Male - Female: p50"]).statistic == pytest.approx(w.statistic, rel=RTOL)


def test_wald_test_on_lm(design):
    w = lsa.lm(design, "MATH ~ escs + st04q01").wald_test(["escs", "st04q01Male"])
    ref = REF["wald_lm"]
    assert w.method == "D1" and w.hypotheses == ("escs = 0", "st04q01Male = 0")
    _check_test(w, ref)
    close(w.riv, ref["riv"])


def test_wald_test_on_lm_one_pv_is_regtermtest(design):
    w = lsa.lm(design, "pv1math ~ escs + st04q01").wald_test(["escs", "st04q01Male"])
    assert w.method == "F"
    _check_test(w, REF["wald_lm_pv1"])


def test_wald_test_on_logit(design):
    w = lsa.logit(design, "male ~ escs + MATH").wald_test(["escs", "MATH"])
    ref = REF["wald_logit"]
    _check_test(w, ref, rtol=1e-6)
    close(w.riv, ref["riv"], rtol=1e-6)


def test_wald_test_with_a_right_hand_side(design):
    fit = lsa.lm(design, "pv1math ~ escs")
    slope = fit.params["escs"]
    w = fit.wald_test(["escs"], r=[slope])
    assert w.statistic == pytest.approx(0.0, abs=1e-20)
    t = fit.tidy().set_index("term").loc["escs"]
    # one constraint, one PV: F = t², on (1, design df - p + 1) df
    close(fit.wald_test(["escs"]).statistic, t["statistic"] ** 2)
    assert fit.wald_test(["escs"]).df_den == t["df"]


def test_gap_by_country_in_a_nested_design_equals_each_country_alone():
    """TIMSS 1999, three countries, replicates nested within country (issue 12 item 1): the gap
    of each country (by=) equals the gap in that country's own design — estimate, SE and df
    (the df of the country's zones, not of the three), closed form 1e-10; the same for lm."""
    import pandas as pd
    from pathlib import Path

    data = pd.read_csv(Path(__file__).parent / "reference" / "data" / "timss1999_g8_3cnt.csv")
    data["half"] = np.where(np.arange(len(data)) % 3 == 0, "a", "b")
    nested = lsa.SurveyDesign.from_study("timss", 1999, data, grade=8)
    for statistic, variable in (("mean", "BSMMAT"), ("lm", "BSMMAT ~ BSSSCI")):
        by = lsa.gap(nested, variable, between="half", by="IDCNTRY", statistic=statistic).tidy()
        for country in data.IDCNTRY.unique():
            alone = lsa.SurveyDesign.from_study("timss", 1999, data[data.IDCNTRY == country].reset_index(drop=True),
                                                grade=8)
            one = lsa.gap(alone, variable, between="half", statistic=statistic).tidy()
            got = by[by.IDCNTRY == country]
            assert list(got["term"]) == list(one["term"])
            for col in ("estimate", "std_error", "df"):
                close(got[col], one[col], rtol=1e-10)
