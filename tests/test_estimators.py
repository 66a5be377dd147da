"""Design-based estimators against survey (R) on PISA 2012 USA with 80 Fay replicates.

Oracles: tests/reference/survey_pisa2012_fay.json (survey 4.1.1 + mitools, given) and
tests/reference/survey_pisa2012_extra.json (survey 4.1.1; script r/survey_pisa2012_extra.R).
Replicate variance and pooling are closed-form: tolerance 1e-8 relative. The logistic fit is
iterative (Newton to 1e-10 relative step): tolerance 1e-7 relative.
"""

import numpy as np
import pytest

import lsa
from conftest import load_reference

RTOL = 1e-8
FAY = load_reference("survey_pisa2012_fay")
EXTRA = load_reference("survey_pisa2012_extra")
PV = [f"pv{i}math" for i in range(1, 6)]
REP = [f"w_fsturwt{r}" for r in range(1, 81)]


@pytest.fixture(scope="module")
def design(pisa2012):
    df = pisa2012.copy()
    df["escs_na"] = df["escs"]
    df.loc[df.index[::17], "escs_na"] = np.nan          # as the R script: every 17th row missing
    df["male"] = (df["st04q01"] == "Male").astype(float)
    return lsa.SurveyDesign(
        df,
        ids={"school": "schoolid"},
        weights={"student": "w_fstuwt", "school": "w_fschwt"},
        pvs={"MATH": PV},
        replicates=lsa.Replicates.fay(REP, k=0.5),
    )


def close(actual, expected, rtol=RTOL):
    np.testing.assert_allclose(np.asarray(actual, dtype=float), np.asarray(expected, dtype=float), rtol=rtol, atol=0)


def test_mean_pv1(design):
    t = lsa.mean(design, "pv1math").tidy()
    close(t["estimate"], FAY["pv1"]["mean"]["estimate"])
    close(t["std_error"], FAY["pv1"]["mean"]["se"])
    assert t["df"].iloc[0] == 79                        # survey's degf: R - 1


def test_group_means_and_gap(design):
    t = lsa.mean(design, "pv1math", by="st04q01").tidy()
    assert list(t["st04q01"]) == ["Female", "Male"]
    close(t["estimate"], FAY["pv1"]["mean_by_sex"]["estimate"])
    close(t["std_error"], FAY["pv1"]["mean_by_sex"]["se"])
    g = lsa.gap(design, "pv1math", between="st04q01").tidy()
    assert g["term"].iloc[2] == "Male - Female"
    close(g["estimate"].iloc[2], FAY["pv1"]["diff_male_minus_female"]["estimate"][0])
    close(g["std_error"].iloc[2], FAY["pv1"]["diff_male_minus_female"]["se"][0])
    cov = lsa.mean(design, "pv1math", by="st04q01")
    close(cov.cov_params(("Female",)).to_numpy(), np.array(FAY["pv1"]["mean_by_sex"]["vcov"]["values"])[:1, :1])


def test_percentages(design):
    t = lsa.percentages(design, "st29q03").tidy()
    ref = FAY["pv1"]["percent_st29q03"]
    assert list(t["term"]) == [s.replace("st29q03", "") for s in ref["term"]]
    close(t["estimate"] / 100, ref["estimate"])
    close(t["std_error"] / 100, ref["se"])


def test_percentages_by_group(design):
    t = lsa.percentages(design, "st29q03", by="st04q01").tidy()
    ref = EXTRA["ratio_percent_by_sex"]
    # survey orders the svyby coefficients category-major: (cat1 F, cat1 M, cat2 F, ...)
    est = t.pivot(index="term", columns="st04q01", values="estimate").loc[t["term"].unique()]
    close(est.to_numpy().ravel() / 100, ref["estimate"])
    se = t.pivot(index="term", columns="st04q01", values="std_error").loc[t["term"].unique()]
    close(se.to_numpy().T / 100, np.array(ref["se"]))


def test_quantiles(design):
    t = lsa.quantiles(design, "pv1math", probs=[0.1, 0.5, 0.9]).tidy()
    ref = FAY["pv1"]["quantiles_interval_quantile"]
    close(t["estimate"], ref["estimate"])
    close(t["std_error"], ref["se"])
    close(t["conf_low"], ref["ci_lower"])
    close(t["conf_high"], ref["ci_upper"])


def test_regression_pv1(design):
    t = lsa.lm(design, "pv1math ~ escs + st04q01").tidy()
    ref = FAY["pv1"]["glm"]
    assert list(t["term"]) == ref["term"]
    close(t["estimate"], ref["estimate"])
    close(t["std_error"], ref["se"])
    close(t["statistic"], ref["t"])
    close(t["p_value"], ref["p"], rtol=1e-6)       # tail probability of a t on 77 df (scipy vs R)
    assert (t["df"] == ref["df_residual"]).all()


@pytest.mark.parametrize("block,est", [("mean", lsa.mean), ("glm", None)])
def test_pv_pooling_all_and_first(pisa2012, design, block, est):
    ref = FAY["pv_pooled"][block]
    first = lsa.SurveyDesign(design.data, weights={"student": "w_fstuwt"}, pvs={"MATH": PV},
                             replicates=lsa.Replicates.fay(REP), pv_variance="first")
    if block == "mean":
        full, pv1 = (lsa.mean(d, "MATH", df_method="rubin").tidy() for d in (design, first))
    else:
        full, pv1 = (lsa.lm(d, "MATH ~ escs + st04q01", df_method="rubin").tidy() for d in (design, first))
    close(full["estimate"], ref["estimate"])
    close(full["std_error"], ref["se_full"])
    close(full["df"], ref["df_rubin_full"])
    close(pv1["std_error"], ref["se_pv1_shortcut"])


def test_pv_pooling_by_group_matches_micombine(design):
    t = lsa.mean(design, "MATH", by="st04q01", df_method="rubin").tidy()
    ref = FAY["pv_pooled"]["micombine_by_sex"]
    close(t["estimate"], ref["estimate"])
    close(t["std_error"], ref["se"])
    close(t["df"], ref["df"])


def test_logit(design):
    t = lsa.logit(design, "male ~ escs + pv1math").tidy()
    ref = EXTRA["logit"]
    close(t["estimate"], ref["estimate"], rtol=1e-7)
    close(t["std_error"], ref["se"], rtol=1e-7)
    t2 = lsa.logit(design, "st04q01 ~ escs + pv1math").tidy()   # two-level factor: 2nd level is the event
    close(t2["estimate"], ref["estimate"], rtol=1e-7)


def test_domain_equals_r_subset(design):
    fem = design.subset(design.data["st04q01"] == "Female")
    assert fem.n == design.n                               # rows kept, weights zeroed
    t = lsa.mean(fem, "pv1math").tidy()
    close(t["estimate"], EXTRA["mean_female_domain"]["estimate"])
    close(t["std_error"], EXTRA["mean_female_domain"]["se"])
    t = lsa.lm(design.subset("st04q01 == 'Female'"), "pv1math ~ escs").tidy()
    close(t["estimate"], EXTRA["lm_female_domain"]["estimate"])
    close(t["std_error"], EXTRA["lm_female_domain"]["se"])


def test_missing_values_excluded_and_counted(design):
    with pytest.warns(lsa.MissingDataWarning, match="185 rows"):
        t = lsa.mean(design, "escs_na").tidy()
    close(t["estimate"], EXTRA["mean_escs_narm"]["estimate"])
    close(t["std_error"], EXTRA["mean_escs_narm"]["se"])
    assert t["n_missing"].iloc[0] == EXTRA["mean_escs_narm"]["n_missing"] == 185
    assert t["n_obs"].iloc[0] == design.n - 185
    with pytest.warns(lsa.MissingDataWarning):
        t = lsa.lm(design, "pv1math ~ escs_na").tidy()
    close(t["estimate"], EXTRA["lm_escs_na"]["estimate"])
    close(t["std_error"], EXTRA["lm_escs_na"]["se"])


@pytest.mark.parametrize("scheme,key", [(lsa.Replicates.jk1, "mean_jk1"), (lsa.Replicates.bootstrap, "mean_bootstrap")])
def test_other_factors(design, scheme, key):
    d = lsa.SurveyDesign(design.data, weights={"student": "w_fstuwt"}, replicates=scheme(REP))
    assert d.replicates.factor == pytest.approx(EXTRA[key]["scale"], rel=1e-12)
    t = lsa.mean(d, "pv1math").tidy()
    close(t["std_error"], EXTRA[key]["se"])


def test_all_missing_group_gives_nan_with_warning(design):
    df = design.data.copy()
    df["y"] = np.where(df["st04q01"] == "Male", np.nan, df["escs"])
    d = lsa.SurveyDesign(df, weights={"student": "w_fstuwt"}, replicates=lsa.Replicates.fay(REP))
    with pytest.warns(lsa.MissingDataWarning, match="undefined in group"):
        t = lsa.mean(d, "y", by="st04q01").tidy()
    assert np.isnan(t.loc[t["st04q01"] == "Male", "estimate"]).all()
    assert np.isfinite(t.loc[t["st04q01"] == "Female", "estimate"]).all()


def test_user_statistic_equals_builtin(design):
    """lsa.estimate with a hand-written weighted mean reproduces lsa.mean (PVs pooled)."""
    wmean = lambda d, w: (d["MATH"].to_numpy() @ w) / w.sum(axis=0)
    a = lsa.estimate(design, wmean, terms=["MATH"]).tidy()
    b = lsa.mean(design, "MATH").tidy()
    close(a["estimate"], b["estimate"], rtol=1e-12)
    close(a["std_error"], b["std_error"], rtol=1e-10)


def test_estimators_pool_over_completed_designs(design):
    """Design-based estimators on completed data sets (multiple imputations): flat pooling equals
    lsa.pooling.rubin over the per-data-set estimates and replicate variances (closed form,
    1e-10), with the design df as complete-data df; nested equals lsa.pooling.nested."""
    from lsa import pooling

    rng = np.random.default_rng(3)
    miss = design.data["escs_na"].isna().to_numpy()
    completed = []
    for _ in range(4):
        df = design.data.copy()
        df.loc[miss, "escs_na"] = rng.normal(0.2, 0.9, miss.sum())
        completed.append(design.with_data(df))
    res = lsa.mean(completed, ["escs_na", "MATH"], df_method="barnard_rubin").tidy()
    singles = [lsa.mean(d, ["escs_na"]) for d in completed]
    est = np.array([s.tidy()["estimate"].iloc[0] for s in singles])[:, None]
    var = np.array([s.tidy()["std_error"].iloc[0] ** 2 for s in singles])[:, None]
    ref = pooling.rubin(est, var, df_complete=design.df)
    close(res["estimate"].iloc[0], ref.estimate[0], rtol=1e-10)
    close(res["std_error"].iloc[0], ref.std_error[0], rtol=1e-10)
    close(res["df"].iloc[0], ref.df[0], rtol=1e-10)
    assert res["n_missing"].iloc[0] == 0                      # nothing missing after imputation
    # MATH: 4 data sets x 5 PVs = 20 draws, nested as 4 x 5
    nested = lsa.mean(completed, "MATH", pool="nested").tidy()
    per = [lsa.mean(d, "MATH").per_pv for d in completed]
    q = np.array([p["estimate"].to_numpy() for p in per])[..., None]
    u = np.array([p["sampling_se"].to_numpy() ** 2 for p in per])[..., None]
    close(nested["std_error"].iloc[0], pooling.nested(q, u).std_error[0], rtol=1e-10)
