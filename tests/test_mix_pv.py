"""lsa.mix_pv / lsa.lrt_pv against MLMusingR::mixPV and lrtPV (issue 4).

Oracles: tests/reference/mixpv_pisa2012_ri.json (MLMusingR 0.4.1 / WeMix 4.0.4, copied unchanged
from ../shared/reference), and the printed / [V] numbers of the method spec: §2.5 R-2.2 (random
slope, legacy and corrected alignment), §3.3 (lrtPV), §4.2 (PV as predictor), R-2.5 (Belgium
10 PVs, from the repository's extract).

Tolerances, stated at each assertion: quantities from iterative fits 1e-5 relative (WeMix stops
at ~1e-6); variance-component SEs 1e-4 (numerical Hessians on the R side); pooling of given
numbers and identities 1e-8 or tighter; printed numbers to half a unit of the printed digit;
printed df of the random block to 0.5 (spec §0.2: printed df are rounded, and a Rubin df of a
component with RIV ≈ 0.02 amplifies the ~1e-7 differences between WeMix's optimum and ours).
"""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lsa
from lsa import pooling
from lsa.errors import ConvergenceWarning, DesignError, EstimationError, FormulaError, LsaError, MissingDataWarning, PseudoLikelihoodWarning
from lsa.mix_pv import MixPVResult, lrt_pv, mix_pv
from lsa.mixed import MixedControl, mixed

from conftest import load_reference, read_reference_csv

W = ["w_fstuwt", "w_fschwt"]
PVS = [f"pv{i}math" for i in range(1, 6)]
LHS = " + ".join(PVS)
RHS = "st29q03 + sc14q02 + st04q01 + escs"
RI = f"{LHS} ~ {RHS} + (1|schoolid)"
RS = f"{LHS} ~ {RHS} + (escs|schoolid)"
# the repository's extract of PISA 2018 Belgium (provenance: tests/reference/data/README_pisa2018_bel.md)
BELGIUM = Path(__file__).parent / "reference" / "data" / "pisa2018_bel.csv.gz"


def rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))


@pytest.fixture(scope="module")
def pisa():
    return read_reference_csv("pisa2012")


@pytest.fixture(scope="module")
def ref():
    return load_reference("mixpv_pisa2012_ri")


@pytest.fixture(scope="module")
def ri(pisa):
    return mix_pv(RI, pisa, weights=W)


@pytest.fixture(scope="module")
def ri_rubin(pisa):
    return mix_pv(RI, pisa, weights=W, df="rubin")


@pytest.fixture(scope="module")
def rs(pisa):
    return mix_pv(RS, pisa, weights=W, df="rubin")


@pytest.fixture(scope="module")
def design(pisa):
    d = pisa.copy()
    d["mathinterest"] = 3.0 - d["st29q03"].cat.codes.astype(float)   # 4 - as.numeric(st29q03)
    d.loc[d["st29q03"].isna(), "mathinterest"] = np.nan
    return lsa.SurveyDesign(d, ids={"school": "schoolid"},
                            weights={"student": "w_fstuwt", "school": "w_fschwt"},
                            pvs={"MATH": PVS},
                            replicates=lsa.Replicates.fay([f"w_fsturwt{r}" for r in range(1, 81)], k=0.5))


def blocks(res):
    t = res.tidy()
    return t[t.effect == "fixed"], t[t.effect == "ran_pars"]


# -- mixpv_pisa2012_ri ------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["pooled_barnard_rubin", "pooled_rubin"])
def test_reference_pooled(ri, ri_rubin, ref, which):
    res = ri if which == "pooled_barnard_rubin" else ri_rubin
    want = ref[which]
    fx, rn = blocks(res)
    assert list(fx.term) == want["fixed"]["term"]
    assert list(rn.term) == want["random"]["term"]
    for got, block in ((fx, want["fixed"]), (rn, want["random"])):
        for col, key in [("estimate", "estimate"), ("std_error", "std.error"), ("statistic", "statistic"),
                         ("df", "df"), ("conf_low", "conf.low"), ("conf_high", "conf.high"), ("riv", "RIV")]:
            assert rel(got[col], block[key]) < 1e-5, (which, col)          # iterative fits: 1e-5
        # mixPV rounds p to 4 decimals: half a unit of the 4th decimal (+ 1e-6 for the fit)
        assert np.max(np.abs(got.p_value.to_numpy() - np.array(block["p.value"]))) <= 5e-5 + 1e-6


def test_reference_gof(ri, ref):
    g = ri.glance().iloc[0]
    want = ref["pooled_barnard_rubin"]["gof"]
    assert g.n == want["Nobs"] and g.M == want["N.pv"]
    # lnl at the optimum is second-order in the parameters: 1e-10 relative
    assert rel(g.AICbar, want["AICbar"]) < 1e-10
    assert rel(g.BICbar, want["BICbar"]) < 1e-10


def test_reference_per_pv(ri, ref):
    assert ri.labels == tuple(PVS)
    for fit, want in zip(ri.fits, ref["per_pv"]):
        assert fit.nobs == want["n"]
        assert rel(fit.params, want["fixed"]["estimate"]) < 1e-5               # 1e-5
        assert rel(fit.bse, want["fixed"]["se_sandwich"]) < 1e-5               # 1e-5
        assert rel(fit.cov_params(), want["vcov_sandwich"]["values"]) < 1e-4   # off-diagonals near 0: 1e-4
        vc = fit.variance_components
        assert rel(vc.estimate, want["variance_components"]["estimate"]) < 1e-5
        assert rel(vc.std_error, want["variance_components"]["se"]) < 1e-4    # numerical Hessian in R
        assert rel(fit.llf, want["loglik"]) < 1e-10


def test_pooling_rule_on_given_numbers(ref):
    """mixPV's rule on the reference per-PV numbers: ν_com = n − k per block (1e-8)."""
    per = ref["per_pv"]
    n = per[0]["n"]
    q = np.array([p["fixed"]["estimate"] for p in per])
    u = np.array([p["fixed"]["se_sandwich"] for p in per]) ** 2
    for which, nu in (("pooled_barnard_rubin", n - q.shape[1]), ("pooled_rubin", np.inf)):
        pooled = pooling.rubin(q, u, df_complete=nu)
        assert rel(pooled.std_error, ref[which]["fixed"]["std.error"]) < 1e-8
        assert rel(pooled.df, ref[which]["fixed"]["df"]) < 1e-8
    qv = np.array([p["variance_components"]["estimate"] for p in per])
    uv = np.array([p["variance_components"]["se"] for p in per]) ** 2
    pooled = pooling.rubin(qv, uv, df_complete=n - 2)
    assert rel(pooled.df, ref["pooled_barnard_rubin"]["random"]["df"]) < 1e-8


def test_published_digits(ri, ri_rubin, ref):
    pub = ref["published"]
    fx, rn = blocks(ri)
    fxr, rnr = blocks(ri_rubin)
    assert np.all(np.abs(fx.estimate.round(2) - pub["fixed_estimate"]) < 1e-9)
    assert np.all(np.abs(fx.std_error.round(2) - pub["fixed_se"]) < 1e-9)
    assert np.all(np.abs(fx.df.round(0) - pub["fixed_df_barnard_rubin"]) < 1e-9)
    assert np.all(np.abs(fxr.df.round(0) - pub["fixed_df_rubin"]) < 1e-9)
    assert np.all(np.abs(rn.estimate.round(2) - pub["random_estimate"]) < 1e-9)
    assert np.all(np.abs(rn.std_error.round(2) - pub["random_se"]) < 1e-9)
    assert np.all(np.abs(rn.df.round(0) - pub["random_df_barnard_rubin"]) < 1e-9)
    assert np.all(np.abs(rnr.df.round(0) - pub["random_df_rubin"]) < 1e-9)


def test_summary_layout(ri):
    s = ri.summary()
    lines = s.splitlines()
    assert lines[0] == "Results of multilevel analyses with 5 plausible values."
    assert lines[1] == "Number of observations: 3136"
    i, j = lines.index("Estimates for random effects:"), lines.index("Estimates for fixed effects:")
    assert i < j
    assert all(h in lines[i + 1] for h in ("estimate", "std.error", "statistic", "df", "Pr(>t)"))
    assert lines[i + 2].startswith("schoolid.(Intercept)") and "1397.96" in lines[i + 2]
    assert lines[j + 1 + 9].startswith("escs")
    assert str(ri) == s
    t = ri.tidy()
    assert list(t.columns) == ["effect", "term", "estimate", "std_error", "statistic", "df", "p_value",
                               "conf_low", "conf_high", "riv", "fmi"]
    assert list(ri.glance().columns) == ["n", "M", "AICbar", "BICbar"]
    ci = ri.conf_int()
    assert ci.shape == (11, 2) and ci.index[0] == "(Intercept)"


# -- R-2.2 / §3.3: random slope, alignment, lrtPV --------------------------------------------

def test_random_slope_published_legacy(pisa, rs):
    legacy = mix_pv(RS, pisa, weights=W, df="rubin", legacy_alignment=True)
    _, rn = blocks(legacy)
    assert list(rn.term) == ["schoolid.(Intercept)", "schoolid.escs", "Residual"]
    # printed (LSA_1, Rubin df): 1380.68 325.42 2151.8 ; 324.39 63.89 350.5 ; 5021.04 106.04 81.6
    assert np.all(np.abs(rn.estimate.round(2) - [1380.68, 324.39, 5021.04]) < 1e-9)
    assert np.all(np.abs(rn.std_error.round(2) - [325.42, 63.89, 106.04]) < 1e-9)
    assert np.all(np.abs(rn.df - [2151.8, 350.5, 81.6]) < 0.5)               # printed df: 0.5
    fx, _ = blocks(legacy)
    assert np.all(np.abs(fx.estimate.round(2) - [486.44, -10.54, -17.40, -36.88, -23.18, -13.75, -35.74,
                                                 8.88, 27.12]) < 1e-9)
    assert np.all(np.abs(fx.std_error.round(2) - [8.27, 5.89, 6.08, 7.05, 15.78, 11.88, 8.59, 3.09, 2.44]) < 1e-9)
    assert np.all(np.abs(fx.df.round(0) - [245, 370, 108, 250, 706, 480, 258, 192, 1412]) < 1e-9)
    # today's default (Barnard–Rubin), legacy: RE df 1252.4, 311.4, 78.9
    legacy_br = mix_pv(RS, pisa, weights=W, legacy_alignment=True)
    assert np.all(np.abs(blocks(legacy_br)[1].df.round(1) - [1252.4, 311.4, 78.9]) < 1e-9)
    # modelsummary table: AICbar / BICbar of the RS model (printed to 1e-7)
    g = legacy.glance().iloc[0]
    assert abs(g.AICbar - 25504198.0201192) < 1e-6 and abs(g.BICbar - 25504276.6792632) < 1e-6


def test_random_slope_corrected(pisa, rs):
    _, rn = blocks(rs)
    assert list(rn.term) == ["schoolid.(Intercept)", "schoolid.escs", "schoolid.(Intercept).escs", "Residual"]
    # spec §2.3 note 2 [C]: residual SE 151.45 (df 302.6, Barnard–Rubin); covariance 145.50 (SE 106.17)
    assert round(rn.std_error.iloc[3], 2) == 151.45
    assert round(rn.estimate.iloc[2], 2) == 145.50 and round(rn.std_error.iloc[2], 2) == 106.17
    br = mix_pv(RS, pisa, weights=W)
    assert round(blocks(br)[1].df.iloc[3], 1) == 302.6
    # per-PV: the residual is pooled with its own SE (PV1 varDF SEvcov: 303.88644, 63.52632, 98.28242, 137.81584)
    se1 = rs.fits[0].variance_components.std_error.to_numpy()
    assert rel(se1, [303.88644, 63.52632, 98.28242, 137.81584]) < 1e-4      # numerical Hessian in R: 1e-4
    assert rel(rs.fits[0].theta, [0.52297931, 0.04979232, 0.26189229]) < 1e-5


def test_lrt_pv(ri, rs):
    lnl0 = [-12789991.9938531, -12792874.0607724, -12793470.1521340, -12801578.2597761, -12803187.1665903]
    lnl1 = [-12741285.5261518, -12753417.7705367, -12745961.6072584, -12753321.6541163, -12766443.4922348]
    assert np.max(np.abs(ri.loglik - lnl0)) < 1e-6                         # printed to 1e-7
    assert np.max(np.abs(rs.loglik - lnl1)) < 1e-6
    with pytest.raises(EstimationError, match="random part"):               # weighted: no valid LRT
        lrt_pv(rs, ri)
    with pytest.warns(PseudoLikelihoodWarning, match="not valid"):
        res = lrt_pv(rs, ri, unadjusted=True)                                # MLMusingR's number, on request
    assert res.df_num == 2
    # [V]: F = 98.27685198, df2 = 2.650988333, r = 441.3452503, pv = 0.0033; fits: 1e-5
    assert rel(res.statistic, 98.27685198) < 1e-5
    assert rel(res.df_den, 2.650988333) < 1e-5
    assert rel(res.riv, 441.3452503) < 1e-5
    assert round(res.p_value, 4) == 0.0033
    with pytest.warns(PseudoLikelihoodWarning):
        swapped = lrt_pv(ri, rs, unadjusted=True)                            # order does not matter
    assert swapped.statistic == res.statistic
    with pytest.raises(LsaError, match="same number of parameters"):
        lrt_pv(ri, ri)


# -- §4.2: PV as predictor ---------------------------------------------------------------------

def test_pv_as_predictor(design):
    res = mix_pv("mathinterest ~ scale(MATH) + escs + (1|schoolid)", design)
    fx, rn = blocks(res)
    assert list(fx.term) == ["(Intercept)", "scale(MATH)", "escs"]
    assert res.labels[0] == "MATH=pv1math"
    # [V] full precision; iterative fits 1e-5
    assert rel(fx.estimate, [1.399540340, 0.146790049, -0.014886754]) < 1e-5
    assert rel(fx.std_error, [0.047785318, 0.023500910, 0.022905144]) < 1e-5
    assert rel(fx.df, [3118.18298, 135.83717, 2315.02297]) < 1e-5
    assert rel(fx.riv.iloc[:2], [0.0017425315, 0.2005846780]) < 1e-5
    assert round(fx.p_value.iloc[2], 4) == 0.5158
    # printed random block: 0.0942 (0.0198) df 3097 ; 0.7143 (0.0200) df 2837
    assert np.all(np.abs(rn.estimate.round(4) - [0.0942, 0.7143]) < 1e-9)
    assert np.all(np.abs(rn.std_error.round(4) - [0.0198, 0.0200]) < 1e-9)
    assert np.all(np.abs(rn.df.round(0) - [3097, 2837]) < 1e-9)
    # scale() standardises within each PV data set (R's scale: n − 1)
    d = design.data
    z = (d["pv3math"] - d["pv3math"].mean()) / d["pv3math"].std(ddof=1)
    one = mixed("mathinterest ~ z + escs + (1|schoolid)", d.assign(z=z), weights=W)
    assert rel(res.fits[2].params, one.params) < 1e-6                       # same optimum, separate fits


def test_pv_sets_on_both_sides(pisa):
    d = pisa.copy()
    rng = np.random.default_rng(1)
    for i in range(1, 6):
        d[f"read{i}"] = d[f"pv{i}math"] * 0.8 + rng.normal(0, 40, len(d))
    des = lsa.SurveyDesign(d, ids={"school": "schoolid"}, weights={"student": "w_fstuwt", "school": "w_fschwt"},
                           pvs={"MATH": PVS, "READ": [f"read{i}" for i in range(1, 6)]})
    res = mix_pv("READ ~ MATH + escs + (1|school)", des)
    assert res.labels[1] == "read2, MATH=pv2math"
    for i, fit in enumerate(res.fits, 1):
        one = mixed(f"read{i} ~ pv{i}math + escs + (1|schoolid)", d, weights=W)
        assert rel(fit.params, one.params) < 1e-6                           # paired PV m with PV m
    assert list(res.params.index) == ["(Intercept)", "MATH", "escs"]


def test_design_form_equals_r_form(ri, design):
    res = mix_pv(f"MATH ~ {RHS} + (1|schoolid)", design)
    assert rel(res.tidy().select_dtypes("number"), ri.tidy().select_dtypes("number")) < 1e-12
    via_level = mix_pv(f"MATH ~ {RHS} + (1|school)", design)               # design level name as group
    assert rel(via_level.params, ri.params) < 1e-12
    assert via_level.random_terms[0] == "school.(Intercept)"


# -- Belgium 10 PVs ---------------------------------------------------------------------

def test_belgium_10_pvs():
    b = pd.read_csv(BELGIUM, dtype={"cntschid": str})
    for c, lv in {"gender": ["Male", "Female"], "immig2": ["Native", "Second-Generation", "First-Generation"],
                  "lackstaff": ["Not at all", "Very little", "To some extent", "A lot"]}.items():
        b[c] = pd.Categorical(b[c], categories=lv)
    f = " + ".join(f"pv{i}math" for i in range(1, 11)) + \
        " ~ gender + escs + immig2 + stubeha + lackstaff + (1|cntschid)"
    with pytest.warns(MissingDataWarning, match="799 row"):
        res = mix_pv(f, b, weights=["w_fstuwt", "w_schgrnrabwt"])
    assert res.m == 10 and res.nobs == 7676 and res.n_dropped == (799,) * 10
    t = res.tidy()
    est = [499.886, -20.890, 17.674, -22.650, -27.046, -36.355, 27.385, 9.347, 22.942, 2714.714, 4385.549]
    se = [10.312, 2.428, 1.510, 3.872, 4.877, 5.522, 13.242, 13.758, 15.653, 362.636, 179.614]
    assert np.all(np.abs(t.estimate.round(3) - est) < 1e-9)                 # printed digits
    assert np.all(np.abs(t.std_error - se) <= 5e-4 + 1e-6)                  # half a printed unit
    g = res.glance().iloc[0]
    assert abs(g.AICbar - 1195567.29545046) < 1e-6 and abs(g.BICbar - 1195643.69984289) < 1e-6


# -- identities --------------------------------------------------------------------------------

def test_one_pv_equals_mixed(pisa):
    res = mix_pv(f"pv1math ~ {RHS} + (1|schoolid)", pisa, weights=W, allow_single=True)
    one = mixed(f"pv1math ~ {RHS} + (1|schoolid)", pisa, weights=W)
    assert res.m == 1
    assert rel(res.params, one.params) < 1e-12                              # same fit
    assert rel(res.bse, one.bse) < 1e-12
    _, rn = blocks(res)
    assert rel(rn.estimate, one.variance_components.estimate) < 1e-12
    assert rel(rn.std_error, one.variance_components.std_error) < 1e-12
    assert np.all(res.fixed.df == 3136 - 9) and np.all(res.random.df == 3136 - 2)


def test_identical_pvs_have_no_between_variance(pisa):
    res = mix_pv(f"pv2math + pv2math ~ {RHS} + (1|schoolid)", pisa, weights=W)
    one = mixed(f"pv2math ~ {RHS} + (1|schoolid)", pisa, weights=W)
    assert rel(res.bse, one.bse) < 1e-8                                     # B = 0: T = Ū
    nu = 3127
    assert rel(res.fixed.df, (nu + 1) / (nu + 3) * nu) < 1e-12              # limit df = ν_obs


def test_parallel_identical(pisa):
    a = mix_pv(RS, pisa, weights=W)
    b = mix_pv(RS, pisa, weights=W, n_jobs=2)
    assert np.array_equal(a.tidy().select_dtypes("number").to_numpy(), b.tidy().select_dtypes("number").to_numpy())


def test_wald_test_single_term_is_t_squared(ri):
    w = ri.wald_test(["escs"])
    t = ri.tidy().set_index("term").loc["escs", "statistic"]
    assert abs(w.statistic - t**2) / t**2 < 1e-10                           # D1 with k = 1 is t²
    w2 = ri.wald_test(["sc14q02Very little", "sc14q02To some extent", "sc14q02A lot"])
    assert w2.df_num == 3 and 0 < w2.p_value < 1


def test_cluster_df(ri, pisa):
    res = mix_pv(RI, pisa, weights=W, df="cluster")
    # 157 schools − (intercept + 3 sc14q02 dummies constant within school + 1 variance term)
    assert res.df_complete == (152.0, 152.0)
    assert rel(res.fixed.df, pooling.pooled_df(np.diag(ri.fixed.between), np.diag(ri.fixed.total), 5, 152.0)) < 1e-12
    given = mix_pv(RI, pisa, weights=W, df=500)
    assert given.df_complete == (500.0, 500.0)


# -- replicate-weight standard errors ----------------------------------------------------------

@pytest.fixture(scope="module")
def rep_fit(design):
    return mix_pv(f"MATH ~ {RHS} + (1|school)", design, se="replicate", progress=False)


def test_replicate_refit_equals_independent_fit(design, rep_fit):
    """Replicate refits through the reused sufficient statistics equal fresh lsa.mixed fits with
    the derived level weights (school weight × school factor a_j; total student weight =
    replicate weight). Replicates 1 and 2 include school 157, whose students are split between
    the two pseudo-PSUs (a non-constant factor within a school)."""
    d = design.data
    for r in (1, 2, 80):
        rep = d[f"w_fsturwt{r}"]
        a = rep.groupby(d["schoolid"]).transform("sum") / d["w_fstuwt"].groupby(d["schoolid"]).transform("sum")
        dd = d.assign(sch_r=d["w_fschwt"] * a, stu_r=rep)
        for m in (0, 3):
            one = mixed(f"pv{m + 1}math ~ {RHS} + (1|schoolid)", dd, weights=["stu_r", "sch_r"])
            got = rep_fit.replicate_estimates[m, r - 1]
            want = np.r_[one.params.to_numpy(), one.variance_components.estimate.to_numpy()]
            assert rel(got, want) < 1e-6                                    # two converged fits: 1e-6


def test_replicate_variance_formula(rep_fit):
    """V_m = 1/20 Σ_r (θ_mr − θ_m)², then Rubin with ν_com = design df 79 (given numbers: 1e-10)."""
    p = len(rep_fit.fixed_terms)
    full = np.array([np.r_[f.params.to_numpy(), f.variance_components.estimate.to_numpy()] for f in rep_fit.fits])
    d = rep_fit.replicate_estimates - full[:, None, :]
    v = (d**2).sum(axis=1) / (80 * 0.25)
    pooled = pooling.rubin(full, v, df_complete=79.0)
    assert rel(rep_fit.fixed.std_error, pooled.std_error[:p]) < 1e-10
    assert rel(rep_fit.random.std_error, pooled.std_error[p:]) < 1e-10
    assert rel(rep_fit.fixed.df, pooled.df[:p]) < 1e-10
    assert rep_fit.replicate_estimates.shape == (5, 80, p + 2)


def test_pv_variance_first(design, rep_fit):
    """TIMSS/PIRLS ≤ 2011 rule: the sampling variance of PV1 only (Ū = V_1)."""
    first = lsa.SurveyDesign(design.data, ids={"school": "schoolid"},
                             weights={"student": "w_fstuwt", "school": "w_fschwt"}, pvs={"MATH": PVS},
                             replicates=design.replicates, pv_variance="first")
    res = mix_pv(f"MATH ~ {RHS} + (1|school)", first, se="replicate", progress=False)
    p = len(res.fixed_terms)
    d = res.replicate_estimates[0, :, :p] - res.fits[0].params.to_numpy()
    assert rel(res.fixed.within, d.T @ d / 20) < 1e-10                      # given numbers
    assert rel(res.fixed.between, rep_fit.fixed.between) < 1e-12


def test_replicate_vs_sandwich(rep_fit, ri):
    """Both estimate the design variance: ratios within 0.6..1.6."""
    ratio = rep_fit.tidy().std_error.to_numpy() / ri.tidy().std_error.to_numpy()
    assert np.all((ratio > 0.6) & (ratio < 1.6)), ratio


def test_replicates_equal_full_weight_give_zero_variance(pisa):
    d = pisa.assign(rw1=pisa["w_fstuwt"], rw2=pisa["w_fstuwt"], rw3=pisa["w_fstuwt"])
    des = lsa.SurveyDesign(d, ids={"school": "schoolid"}, weights={"student": "w_fstuwt", "school": "w_fschwt"},
                           pvs={"MATH": PVS}, replicates=lsa.Replicates.custom(["rw1", "rw2", "rw3"], factor=0.5))
    res = mix_pv("MATH ~ escs + (1|school)", des, se="replicate", progress=False)
    assert np.all(np.diag(res.fixed.within) == 0) and np.all(np.diag(res.random.within) == 0)
    # T = (1 + 1/M) B only
    assert rel(res.fixed.std_error, np.sqrt(1.2 * np.diag(res.fixed.between))) < 1e-12


def test_brr_replicates_with_zero_weights(pisa):
    """BRR (Fay ρ = 0): half of the schools get replicate weight 0 (and school 157 half of its
    students): the refits still run and give finite, positive SEs."""
    d = pisa.copy()
    cols = []
    for r in range(1, 21):
        f = d[f"w_fsturwt{r}"] / d["w_fstuwt"]
        d[f"brr{r}"] = d["w_fstuwt"] * np.where(f > 1, 2.0, 0.0)
        cols.append(f"brr{r}")
    des = lsa.SurveyDesign(d, ids={"school": "schoolid"}, weights={"student": "w_fstuwt", "school": "w_fschwt"},
                           pvs={"MATH": PVS}, replicates=lsa.Replicates.brr(cols))
    res = mix_pv("MATH ~ escs + (1|school)", des, se="replicate", progress=False)
    se = res.tidy().std_error.to_numpy()
    assert np.all(np.isfinite(se)) and np.all(se > 0)


def test_replicate_se_on_simulated_truth():
    """Simulated PISA-like sample (known finite-population truth): the replicate SE and the
    sandwich agree, and the estimate of the escs slope is within 4 SE of the truth."""
    sim = lsa.datasets.simulate(n_schools=100, students_per_school=20, n_pvs=5, seed=3)
    des = sim.design()
    rep = mix_pv("MATH ~ escs + female + (1|school)", des, se="replicate", progress=False)
    sand = mix_pv("MATH ~ escs + female + (1|school)", des)
    ratio = rep.bse / sand.bse
    assert np.all((ratio > 0.6) & (ratio < 1.6)), ratio
    for term in ("escs", "female"):
        assert abs(rep.params[term] - sim.truth["coef"][term]) < 4 * rep.bse[term]
    assert rep.df_complete == (float(des.df),) * 2


def test_progress_line(design, capsys):
    mix_pv("MATH ~ escs + (1|school)", design, progress=True)
    err = capsys.readouterr().err
    assert "mix_pv: 100%" in err and "5/5" in err                     # the tqdm bar (lsa.progress)
    mix_pv("MATH ~ escs + (1|school)", design, progress=False)
    assert capsys.readouterr().err == ""


# -- bad input ---------------------------------------------------------------------------------

def test_errors(pisa, design):
    with pytest.raises(LsaError, match="at least 2 plausible values"):
        mix_pv("pv1math ~ escs + (1|schoolid)", pisa, weights=W)
    with pytest.raises(FormulaError, match=r"\['nope'\]"):
        mix_pv("pv1math + nope ~ escs + (1|schoolid)", pisa, weights=W)
    with pytest.raises(FormulaError, match="its own plausible value"):
        mix_pv("MATH ~ pv1math + (1|school)", design)
    with pytest.raises(FormulaError, match="its own plausible value"):
        mix_pv("pv1math + pv2math ~ MATH + (1|school)", design)
    with pytest.raises(FormulaError, match="unequal length"):
        mix_pv("mathinterest + escs ~ MATH + (1|school)", design)
    with pytest.raises(FormulaError, match="neither a column"):
        mix_pv("READING ~ escs + (1|school)", design)
    with pytest.raises(DesignError, match="replicate"):
        mix_pv(RI, pisa, weights=W, se="replicate")
    with pytest.raises(DesignError, match="not in the data"):
        mix_pv(RI, pisa, weights=["w_fstuwt", "nope"])
    with pytest.raises(DesignError, match="not both"):
        mix_pv("MATH ~ escs + (1|school)", design, weights=W)
    with pytest.raises(LsaError, match="df must be"):
        mix_pv(RI, pisa, weights=W, df="satterthwaite")
    with pytest.raises(LsaError, match="legacy_alignment"):
        mix_pv("MATH ~ escs + (1|school)", design, se="replicate", legacy_alignment=True)


def test_nonconvergence_is_reported(pisa):
    ctl = MixedControl(maxiter=1, newton=0)
    f = f"{LHS} ~ escs + (escs|schoolid)"
    with pytest.raises(EstimationError, match=r"did not converge for plausible value\(s\) \["):
        mix_pv(f, pisa, weights=W, control=ctl)
    with pytest.warns(ConvergenceWarning, match="pooled anyway"):
        mix_pv(f, pisa, weights=W, control=ctl, nonconverged="warn")


def test_missing_data_counted(pisa):
    d = pisa.copy()
    d.loc[d.index[:10], "escs"] = np.nan
    d.loc[d.index[10:13], "pv2math"] = np.nan
    with pytest.warns(MissingDataWarning, match="differently per PV") as rec:
        res = mix_pv(f"{LHS} ~ escs + (1|schoolid)", d, weights=W)
    assert "pv2math: 13" in str(rec[0].message)
    assert res.n_dropped == (10, 13, 10, 10, 10)
    assert res.nobs == 3126                                                  # first fit, as mixPV
    assert [f.nobs for f in res.fits] == [3126, 3123, 3126, 3126, 3126]
    assert isinstance(res, MixPVResult)


def test_three_levels_with_replicates():
    """TIMSS 3 levels (school/class/student), 2 PVs, Fay-type school-level replicate factors:
    replicate refits equal fresh lsa.mixed fits with school and class total weights × a_k."""
    d = read_reference_csv("timss2019_usa_3level")
    d["schw"] = d.WGTFAC1 * d.WGTADJ1
    d["clsw"] = d.schw * d.WGTFAC2 * d.WGTADJ2
    d["totw"] = d.clsw * d.WGTFAC3 * d.WGTADJ3
    schools = np.sort(d.IDSCHOOL.unique())
    rng = np.random.default_rng(7)
    cols = []
    for r in range(1, 5):
        fac = pd.Series(np.where(rng.random(len(schools)) < 0.5, 1.5, 0.5), index=schools)
        d[f"rw{r}"] = d.totw * d.IDSCHOOL.map(fac).to_numpy()
        cols.append(f"rw{r}")
    des = lsa.SurveyDesign(d, ids={"school": "IDSCHOOL", "class": "IDCLASS"},
                           weights={"student": "totw", "class": "clsw", "school": "schw"},
                           pvs={"MATH": ["BSMMAT01", "BSMMAT02"]},
                           replicates=lsa.Replicates.fay(cols, k=0.5))
    with pytest.warns(MissingDataWarning, match="78 row"):
        res = mix_pv("MATH ~ BSBGHER + Sex + (1 | school/class)", des, se="replicate", progress=False)
    assert res.m == 2
    assert res.random_terms == ("school:class.(Intercept)", "school.(Intercept)", "Residual")   # bottom-up
    a = d.IDSCHOOL.map(pd.Series(d[cols[1]].to_numpy() / d.totw.to_numpy(), index=d.IDSCHOOL).groupby(level=0).first())
    dd = d.assign(t_r=d[cols[1]], c_r=d.clsw * a, s_r=d.schw * a)
    with pytest.warns(MissingDataWarning):
        one = mixed("BSMMAT02 ~ BSBGHER + Sex + (1 | IDSCHOOL/IDCLASS)", dd, weights=["t_r", "c_r", "s_r"])
    want = np.r_[one.params.to_numpy(), one.variance_components.estimate.to_numpy()]
    assert rel(res.replicate_estimates[1, 1], want) < 1e-6                  # two converged fits: 1e-6
    assert np.all(np.isfinite(res.tidy().std_error))


def test_nonconverged_drop(pisa):
    ctl = MixedControl(maxiter=1, newton=0)
    with pytest.warns(ConvergenceWarning, match="left out"):
        with pytest.raises(EstimationError, match="too few converged"):
            mix_pv(f"{LHS} ~ escs + (escs|schoolid)", pisa, weights=W, control=ctl, nonconverged="drop")


def test_replicate_level_weights_outside_domain():
    """Closed form (hand-computed, exact to 1e-12): rows of zero full-sample weight (outside a
    domain) carry no replicate weight, and a school with none of positive weight has replicate
    factor a_k = 0/0 := 0. Schools: rows 0-1 | 2-4 (row 4 outside) | 5-6 (all outside)."""
    from types import SimpleNamespace
    from lsa.mixed.replicate import replicate_level_weights
    top = np.array([0, 0, 1, 1, 1, 2, 2])
    total = np.array([2.0, 2.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    stats = SimpleNamespace(weights=(None, np.array([10.0, 20.0, 30.0])))
    rep = np.array([3.0, 3.0, 0.5, 0.5, 9.0, 7.0, 7.0])                  # 9, 7, 7: ignored
    w1, top_r, changed = replicate_level_weights(stats, total, total / 2, rep, top, top)
    assert w1 is None and not changed.any()                              # b constant within schools
    assert np.allclose(top_r, [10 * 6 / 4, 20 * 1 / 2, 0.0], rtol=1e-12, atol=0)
    rep = np.array([4.0, 2.0, 0.5, 0.5, 9.0, 7.0, 7.0])                  # b = 2, 1 in school 0: a = 1.5
    w1_unscaled = np.array([1.0, 1.0, 0.5, 0.5, 0.0, 0.0, 0.0])
    w1, top_r, changed = replicate_level_weights(stats, total, w1_unscaled, rep, top, top)
    assert changed.tolist() == [True, False, False]
    assert np.allclose(w1, [4 / 3, 2 / 3, 0.5, 0.5, 0, 0, 0], rtol=1e-12, atol=0)
    w1, _, _ = replicate_level_weights(stats, total, w1_unscaled, rep, top, top, "cluster")
    # cluster scaling over the rows of positive weight only: school 1 has 2 of them, not 3
    assert np.allclose(w1, [4 / 3, 2 / 3, 1.0, 1.0, 0, 0, 0], rtol=1e-12, atol=0)
    assert np.all(np.isfinite(top_r))
