"""lsa.average, lsa.compare and lsa.trend (issue 12 items 2-4).

Oracles:
* R: ``tests/reference/compare_pisa2018_noisy.R`` -> ``compare_pisa2018_noisy.json`` — per-country
  means and shares by survey (Fay, rho = 0.5, mse = TRUE) + mitools over 10 PVs on
  ``data/pisa2018_noisy_fra_ita_mex.csv.gz``, and the closed forms written out in R: composite
  average and SE, pairwise differences, country vs the average it belongs to / is not part of,
  ``p.adjust`` (bonferroni, holm, BH). Tolerance 1e-8 relative (closed forms on R's inputs;
  the per-country SEs agree to 1e-10).
* Closed forms: the trend SE √(SE₁² + SE₂² + LE²) on R's estimates (girls-only means stand in for
  an earlier cycle), the gap trend where the LE cancels, a pooled senate-weighted mean equals the
  composite mean (every country weighs 1000), the composite covariance Σ Cov_c / N².
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lsa
from lsa.international import adjust_pvalues, benchmark_linking_error, linking_error

REF = Path(__file__).parent / "reference"
R = json.loads((REF / "compare_pisa2018_noisy.json").read_text())
CNTS = R["countries"]
REL = 1e-8


def close(a, b, rel=REL):
    a, b = np.asarray(a, float), np.asarray(b, float)
    assert np.all(np.abs(a - b) <= rel * np.maximum(np.abs(b), 1e-300)), (a, b)


@pytest.fixture(scope="module")
def data():
    return pd.read_csv(REF / "data" / "pisa2018_noisy_fra_ita_mex.csv.gz")


def _design(d):
    return lsa.SurveyDesign(d, weights={"student": "w_fstuwt"},
                            pvs={"MATH": [f"pv{m}math" for m in range(1, 11)],
                                 "READ": [f"pv{m}read" for m in range(1, 11)]},
                            replicates=lsa.Replicates.fay([f"w_fsturwt{r}" for r in range(1, 81)], k=0.5))


@pytest.fixture(scope="module")
def design(data):
    return _design(data)


@pytest.fixture(scope="module")
def results(design):
    return {"MATH": lsa.mean(design, "MATH", by="cnt"), "READ": lsa.mean(design, "READ", by="cnt"),
            "L2": lsa.benchmarks(design, "MATH", cuts=[R["cut"]], cumulative=True, by="cnt")}


def _by_country(t, col="estimate"):
    return t.set_index("cnt")[col]


@pytest.mark.parametrize("stat", ["MATH", "READ", "L2"])
def test_country_estimates_match_survey_mitools(results, stat):
    t = results[stat].tidy()
    close(_by_country(t)[CNTS], [R["per_country"][stat]["estimate"][c] for c in CNTS], 1e-10)
    close(_by_country(t, "std_error")[CNTS], [R["per_country"][stat]["se"][c] for c in CNTS], 1e-8)


@pytest.mark.parametrize("stat", ["MATH", "READ", "L2"])
def test_composite_average_matches_r(results, stat):
    t = lsa.average(results[stat], over="cnt").tidy()
    row = t.loc[t["cnt"] == "Average"].iloc[0]
    close(row["estimate"], R["composite"][stat]["estimate"])       # 1e-8
    close(row["std_error"], R["composite"][stat]["se"])            # 1e-8
    assert row["n_countries"] == 3 and len(t) == 4 and row["n_obs"] == 1269


def test_composite_covariance_is_sum_of_country_covariances_over_n2(results):
    avg = lsa.average(results["MATH"], over="cnt")
    expected = sum(results["MATH"].cov_params((c,)).to_numpy() for c in CNTS) / 9
    close(avg.cov_params(("Average",)).to_numpy(), expected)         # closed form, 1e-8
    close(np.sqrt(expected[0, 0]), R["composite"]["MATH"]["se"])


@pytest.mark.parametrize("stat", ["MATH", "READ", "L2"])
def test_pairwise_differences_match_r(results, stat):
    t = lsa.compare(results[stat], over="cnt", against="pairwise").tidy()
    assert len(t) == 6 and np.isinf(t["df"]).all()
    for ref in R["pairwise"][stat]:
        row = t.loc[(t["group"] == ref["group"]) & (t["reference"] == ref["reference"])].iloc[0]
        close(row["estimate"], ref["estimate"])                     # 1e-8
        close(row["std_error"], ref["se"])                          # 1e-8
        close(row["statistic"], ref["statistic"])
        close(row["p_value"], ref["p_value"], 1e-6)                 # normal tail, 1e-6 of p
        sig = ref["p_value"] < 0.05
        assert row["mark"] == ("not significant" if not sig else "higher" if ref["estimate"] > 0 else "lower")


def test_fra_ita_is_the_independent_sample_figure_of_the_issue(results):
    t = lsa.compare(results["MATH"], over="cnt", against="ITA").tidy()
    row = t.loc[t["group"] == "FRA"].iloc[0]
    assert round(row["std_error"], 3) == 8.628                       # issue 12: sqrt(SE^2 + SE^2)
    assert set(t["reference"]) == {"ITA"} and len(t) == 2


@pytest.mark.parametrize("stat", ["MATH", "READ", "L2"])
def test_country_against_average_matches_r(results, stat):
    t = lsa.compare(results[stat], over="cnt").tidy()
    for c in CNTS:
        row = t.loc[t["group"] == c].iloc[0]
        close(row["estimate"], R["vs_average"][stat][c]["estimate"])   # 1e-8
        close(row["std_error"], R["vs_average"][stat][c]["se"])        # 1e-8
        close(row["p_value"], R["vs_average"][stat][c]["p_value"], 1e-6)
        assert row["reference"] == "Average" and bool(row["in_average"])


@pytest.mark.parametrize("stat", ["MATH", "L2"])
def test_country_against_an_average_it_is_not_part_of(results, stat):
    t = lsa.compare(results[stat], over="cnt", countries=["FRA", "ITA"]).tidy()
    row = t.loc[t["group"] == "MEX"].iloc[0]
    ref = R["vs_other_average"][stat]
    close(row["estimate"], ref["estimate"])                         # 1e-8
    close(row["std_error"], ref["se"])                              # 1e-8
    assert not bool(row["in_average"])
    avg = lsa.average(results[stat], over="cnt", countries=["FRA", "ITA"]).tidy()
    close(avg.loc[avg["cnt"] == "Average", "std_error"], ref["average_se"])


@pytest.mark.parametrize("method,rname", [("bonferroni", "bonferroni"), ("holm", "holm"), ("fdr_bh", "BH")])
def test_adjustment_equals_p_adjust(method, rname):
    p = np.asarray(R["p_adjust_math"]["p"])
    close(adjust_pvalues(p, method), R["p_adjust_math"][rname])     # R p.adjust, 1e-8


@pytest.mark.parametrize("method,rname", [("bonferroni", "bonferroni"), ("holm", "holm"), ("fdr_bh", "BH")])
def test_pairwise_adjustment_counts_each_pair_once(results, method, rname):
    t = lsa.compare(results["MATH"], over="cnt", against="pairwise", adjust=method).tidy()
    unique = [x for x in R["pairwise"]["MATH"] if x["group"] < x["reference"]]
    expected = adjust_pvalues(np.array([x["p_value"] for x in unique]), method)
    for x, e in zip(unique, expected):
        for g, r in ((x["group"], x["reference"]), (x["reference"], x["group"])):
            close(t.loc[(t["group"] == g) & (t["reference"] == r), "p_adjusted"], e, 1e-6)


def test_pooled_senate_mean_equals_composite_mean(results, design):
    avg = lsa.average(results["MATH"], over="cnt", method="pooled", design=design,
                      estimator=lambda d: lsa.mean(d, "MATH")).tidy()
    close(avg.iloc[-1]["estimate"], R["composite"]["MATH"]["estimate"])   # senate: each country 1000
    assert avg.iloc[-1]["std_error"] > 0


def test_pooled_over_a_subset_of_countries(results, design):
    avg = lsa.average(results["MATH"], over="cnt", method="pooled", countries=["FRA", "MEX"], design=design,
                      estimator=lambda d: lsa.mean(d, "MATH")).tidy()
    e = R["per_country"]["MATH"]["estimate"]
    close(avg.iloc[-1]["estimate"], (e["FRA"] + e["MEX"]) / 2)


def test_dict_of_country_results_equals_by_result(design, results):
    per = {c: lsa.mean(design.subset((design.data["cnt"] == c).to_numpy()), "MATH") for c in CNTS}
    a = lsa.average(per, over="cnt").tidy()
    close(a.iloc[-1]["std_error"], R["composite"]["MATH"]["se"])
    c = lsa.compare(per, over="cnt", against="pairwise").tidy()
    b = lsa.compare(results["MATH"], over="cnt", against="pairwise").tidy()
    close(c["std_error"], b["std_error"])


def test_trend_closed_form_with_a_given_linking_error(design, results):
    girls = lsa.mean(design.subset((design.data["st004d01t"] == 1).to_numpy()), "MATH", by="cnt")
    t = lsa.trend(results["MATH"], girls, linking_error=2.5, over="cnt").tidy()
    now, then = R["per_country"]["MATH"], R["girls"]["MATH"]
    for c in CNTS:
        row = t.loc[t["group"] == c].iloc[0]
        close(row["estimate"], now["estimate"][c] - then["estimate"][c])
        close(row["std_error"], np.sqrt(now["se"][c] ** 2 + then["se"][c] ** 2 + 2.5**2))   # 1e-8


def test_trend_from_the_dictionary_warns_when_unverified(results):
    le, unverified, source = linking_error("pisa", "MATH", (2018, 2015))
    assert unverified and "Annex A7" in source
    with pytest.warns(lsa.LsaWarning, match="unverified"):
        t = lsa.trend(results["MATH"], results["MATH"], study="pisa", cycles=(2018, 2015), over="cnt").tidy()
    close(t["std_error"], np.sqrt(2 * t["std_error_now"] ** 2 + le**2))
    assert (t["linking_error"] == le).all() and (t["reference"] == "2015").all()


def test_gap_trend_linking_error_cancels(design):
    now = lsa.gap(design, "MATH", between="st004d01t", groups=[1, 2], by="cnt")
    then = lsa.gap(design.subset((design.data["st001d01t"] >= 9).to_numpy()), "MATH", between="st004d01t",
                   groups=[1, 2], by="cnt")
    t = lsa.trend(now, then, linking_error=3.0, over="cnt").tidy()
    diff = t["term"].str.contains(" - ")
    assert diff.sum() == 3
    close(t.loc[diff, "std_error"], np.sqrt(t.loc[diff, "std_error_now"] ** 2 + t.loc[diff, "std_error_then"] ** 2))
    close(t.loc[~diff, "std_error"],
          np.sqrt(t.loc[~diff, "std_error_now"] ** 2 + t.loc[~diff, "std_error_then"] ** 2 + 9.0))
    assert (t.loc[diff, "linking_error"] == 0).all()


def test_trend_of_benchmarks_with_per_term_linking_errors(results):
    le = benchmark_linking_error(2.33, [R["cut"]], 460.0, 90.0, cumulative=True)
    from scipy import stats
    close(le, 100 * stats.norm.pdf((R["cut"] - 460.0) / 90.0) / 90.0 * 2.33)   # closed form
    term = results["L2"].tidy()["term"].iloc[0]
    t = lsa.trend(results["L2"], results["L2"], linking_error={term: float(le[0])}, over="cnt").tidy()
    close(t["std_error"], np.sqrt(2 * t["std_error_now"] ** 2 + le[0] ** 2))
    levels = benchmark_linking_error(2.33, [400, 500], 460.0, 90.0)
    f = stats.norm.pdf((np.array([400, 500]) - 460.0) / 90.0) / 90.0
    close(levels, 100 * 2.33 * np.array([f[0], abs(f[0] - f[1]), f[1]]))   # closed form, 1e-8


def test_average_then_compare_and_trend_keep_average_rows(results):
    a = lsa.average(results["MATH"], over="cnt")
    t = lsa.trend(a, a, linking_error=1.0, over="cnt").tidy()
    assert "Average" in set(t["group"])
    c = lsa.compare(a, over="cnt").tidy()                        # average rows are not countries
    assert set(c["group"]) == set(CNTS)


def test_small_countries_are_flagged_not_dropped(results):
    with pytest.warns(lsa.MissingDataWarning, match="FRA"):
        a = lsa.average(results["MATH"], over="cnt", min_obs=400).tidy()
    assert len(a) == 4 and "n < 400" in a.loc[a["cnt"] == "FRA", "flag"].iloc[0]
    assert "FRA" in a.loc[a["cnt"] == "Average", "flag"].iloc[0]
    close(a.loc[a["cnt"] == "Average", "estimate"], R["composite"]["MATH"]["estimate"])
    with pytest.warns(lsa.MissingDataWarning):
        c = lsa.compare(results["MATH"], over="cnt", against="pairwise", min_obs=400).tidy()
    assert len(c) == 6 and c.loc[c["group"] == "FRA", "flag"].str.contains("n < 400").all()


def test_result_vocabulary(results):
    c = lsa.compare(results["MATH"], over="cnt")
    cols = list(c.tidy().columns)
    assert cols[:3] == ["group", "reference", "term"]
    assert cols[3:10] == ["estimate", "std_error", "statistic", "df", "p_value", "conf_low", "conf_high"]
    ci = c.conf_int(0.1)
    assert list(ci.columns) == ["conf_low", "conf_high"]
    assert c.params.index.names == ["group", "reference", "term"]
    assert "<table" in c._repr_html_() and "average" in repr(c)
