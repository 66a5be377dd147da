"""lsa.crosstab: two-way tables with replicate SEs and Rao–Scott tests (issue 13 item 3).

Oracle: tests/reference/survey_pisa2012_crosstab.json, made by survey_pisa2012_crosstab.R (survey
4.1.1 + mitools on PISA 2012 USA, 80 Fay replicates, k = 0.5, mse = TRUE): svytotal / svymean /
svyby of the cells, svychisq(statistic = "Chisq") and svychisq(statistic = "F") on the replicate
design, per PV and pooled (MIcombine for the percentages, the D2 formula of Li, Meng, Raghunathan
& Rubin 1991 written out in R for the tests). Everything is closed form: tolerance 1e-8 relative.
The first-order corrected χ² X²/δ̄ equals k·F of svychisq's F (both are X² k / tr Δ).
"""

import numpy as np
import pandas as pd
import pytest

import lsa
from conftest import load_reference

RTOL = 1e-8
R = load_reference("survey_pisa2012_crosstab")
PV = [f"pv{i}math" for i in range(1, 6)]
REP = [f"w_fsturwt{r}" for r in range(1, 81)]
CUTS = [420.07, 482.38, 544.68]


def _design(df):
    return lsa.SurveyDesign(df, ids={"school": "schoolid"}, weights={"student": "w_fstuwt", "school": "w_fschwt"},
                            pvs={"MATH": PV}, replicates=lsa.Replicates.fay(REP, k=0.5))


@pytest.fixture(scope="module")
def design(pisa2012):
    return _design(pisa2012)


def close(actual, expected, rtol=RTOL):
    np.testing.assert_allclose(np.asarray(actual, dtype=float), np.asarray(expected, dtype=float), rtol=rtol, atol=0)


def _by_term(ref: dict, key=lambda t: t) -> pd.DataFrame:
    return pd.DataFrame({"estimate": ref["estimate"], "se": ref["se"]}, index=[key(t) for t in ref["term"]])


def _check_cells(table: pd.DataFrame, ref: dict, row: str, col: str, kinds=("count", "total", "row", "column")):
    """Compare lsa's cells with R's, matched by labels (R: 'r:c' for count/total, 'r:<col>c' for
    svyby(~col, ~row) and 'c:<row>r' for svyby(~row, ~col))."""
    keys = {"count": lambda t: t, "total": lambda t: t,
            "row": lambda t: (lambda r, c: f"{r}:{c[len(col):]}")(*t.split(":", 1)),
            "column": lambda t: (lambda c, r: f"{r[len(row):]}:{c}")(*t.split(":", 1))}
    for kind in kinds:
        ours = table[table["kind"] == kind]
        ours = ours.set_index(ours[row].astype(str) + ":" + ours[col].astype(str))
        theirs = _by_term(ref[kind], keys[kind])
        assert set(theirs.index) == set(ours.index), kind
        theirs = theirs.loc[ours.index]
        scale = 100 if kind in ("row", "column") else 1              # svyby gives proportions
        close(ours["estimate"], scale * theirs["estimate"])          # 1e-8 relative (closed form)
        close(ours["std_error"], scale * theirs["se"])


def _check_tests(ct, ref: dict, **kw):
    first, second = ct.test("first_order", **kw), ct.test("second_order", **kw)
    close(first.statistic, ref["df"] * ref["F"])                     # X²/δ̄ = k F
    close(first.Q, ref["pearson"])
    close(first.delta, ref["trace_delta"] / ref["df"])
    assert first.df_num == ref["df"] and np.isinf(first.df_den)
    close(first.p_value, ref["p_first"])
    close(second.statistic, ref["F"])
    close([second.df_num, second.df_den], [ref["d0"], ref["ddf"]])
    close(second.p_value, ref["p_second"])


def test_cells_against_survey(design):
    t = lsa.crosstab(design, "st29q03", "sc14q02").tidy()
    assert len(t) == 4 * 16 and (t["df"] == 79).all() and (t["n_obs"] == 3136).all()
    _check_cells(t, R["st29q03_sc14q02"], "st29q03", "sc14q02")


def test_rao_scott_both_orders_against_svychisq(design):
    ct = lsa.crosstab(design, "st29q03", "sc14q02")
    _check_tests(ct, R["st29q03_sc14q02"]["test"])
    assert R["st29q03_sc14q02"]["test"]["degf"] == 79
    assert ct.test().method == "Rao-Scott first order"
    assert "Rao-Scott second order" in ct.summary()


def test_by_group_equals_svychisq_on_the_subset(design):
    ct = lsa.crosstab(design, "st29q03", "sc14q02", by="st04q01")
    ref = R["male"]
    male = ct.tidy()[ct.tidy()["st04q01"] == "Male"]
    _check_cells(male, {"row": ref["row"], "column": ref["column"], "count": ref["count"]},
                 "st29q03", "sc14q02", kinds=("count", "row", "column"))
    close(male[male["kind"] == "total"].set_index("term")["estimate"].sum(), 100.0)
    _check_tests(ct, ref["test"], group=("Male",))


def test_zero_cell_warns_and_gives_the_adjusted_test(pisa2012):
    keep = ~((pisa2012["st29q03"] == "Strongly disagree") & (pisa2012["sc14q02"] == "A lot"))
    assert (~keep).sum() == R["zero_cell"]["removed"]
    des = _design(pisa2012[keep].reset_index(drop=True))
    with pytest.warns(lsa.LsaWarning, match=r"cell\(s\) \['Strongly disagree:A lot'\] have zero weighted count"):
        ct = lsa.crosstab(des, "st29q03", "sc14q02")
    _check_tests(ct, R["zero_cell"]["test"])
    total = ct.tidy()[ct.tidy()["kind"] == "total"]
    ours = total.set_index(total["st29q03"].astype(str) + ":" + total["sc14q02"].astype(str))
    ref = _by_term(R["zero_cell"]["total"])
    close(ours.loc[ref.index, "estimate"], ref["estimate"])
    assert ours.loc["Strongly disagree:A lot", "estimate"] == 0


def test_pv_margin_per_pv_and_pooled(design):
    ct = lsa.crosstab(design, "MATH", "st04q01", cuts=CUTS, df_method="rubin")
    ref = R["math_levels_gender"]
    for i, tref in enumerate(ref["per_pv"]):
        _check_tests(ct, tref, pv=i + 1)
    for order, key in (("first_order", "d2_first"), ("second_order", "d2_second")):
        test, d2 = ct.test(order), ref[key]
        close([test.statistic, test.df_num, test.df_den, test.p_value, test.riv],
              [d2["statistic"], d2["df_num"], min(d2["df_den"], d2.get("design_ddf", np.inf)), d2["p_value"], d2["riv"]])
        assert test.method.startswith("D2")
    t = ct.tidy()
    for kind, key in (("total", lambda s: s), ("row", lambda s: s.replace(":st04q01", ":"))):
        ours = t[t["kind"] == kind]
        ours = ours.set_index(ours["MATH"] + ":" + ours["st04q01"].astype(str))
        theirs = pd.DataFrame({k: ref[kind][k] for k in ("estimate", "se", "df")},
                              index=[key(x) for x in ref[kind]["term"]]).loc[ours.index]
        close(ours["estimate"], theirs["estimate"])
        close(ours["std_error"], theirs["se"])
        close(ours["df"], theirs["df"])                              # MIcombine: Rubin (1987) df


def test_pv_margin_cut_by_the_design_benchmarks(pisa2012):
    des = lsa.SurveyDesign(pisa2012, weights={"student": "w_fstuwt"}, pvs={"MATH": PV},
                           replicates=lsa.Replicates.fay(REP, k=0.5), benchmarks={"MATH": CUTS})
    a = lsa.crosstab(des, "st04q01", "MATH")
    b = lsa.crosstab(des, "MATH", "st04q01", cuts={"MATH": CUTS})
    close(a.test("second_order").statistic, R["math_levels_gender"]["d2_second"]["statistic"])
    close(a.test("first_order").statistic, b.test("first_order").statistic)


def test_identical_completed_designs_pool_to_the_single_test(design):
    """Two identical completed data sets: B = 0, so D2 = (X²/δ̄)/k on (k, ∞) df (closed form)."""
    ct = lsa.crosstab([design, design], "st29q03", "sc14q02")
    ref = R["st29q03_sc14q02"]["test"]
    test = ct.test("first_order")
    close(test.statistic, ref["F"])                                  # (k F) / k
    assert test.df_num == ref["df"] and np.isinf(test.df_den)
    t = ct.tidy()
    one = lsa.crosstab(design, "st29q03", "sc14q02").tidy()
    close(t["std_error"], one["std_error"])


def test_taylor_design_without_replicates(pisa2012):
    """Schools as PSUs, no replicates: Taylor variances of the cells (lsa.estimators.influence) and
    svychisq on svydesign(ids = ~schoolid), degf = 157 − 1 (1e-8)."""
    des = lsa.SurveyDesign(pisa2012, ids={"school": "schoolid"}, weights={"student": "w_fstuwt"})
    ct = lsa.crosstab(des, "st29q03", "sc14q02")
    ref = R["taylor"]
    assert ref["test"]["degf"] == 156 and (ct.tidy()["df"] == 156).all()
    _check_cells(ct.tidy(), ref, "st29q03", "sc14q02")
    _check_tests(ct, ref["test"])
