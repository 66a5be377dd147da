"""R² (Rights & Sterba 2019; Nakagawa & Schielzeth 2013), random effects with conditional SEs and
the caterpillar plot of linear ``lsa.mixed`` / ``lsa.mix_pv`` fits.

Oracles:
* ``mixed_helpers_lmer.json`` (``mixed_helpers_lmer.R``; lme4 1.1-31 ``lmer(REML = FALSE)`` on the
  pisa2012 extract and the 3-level TIMSS 2019 USA extract): Rights & Sterba's R² written out in R
  from ``model.matrix``, ``fixef``, ``VarCorr`` and ``sigma``, and ``performance::r2_nakagawa``,
  1e-6 absolute (R² are proportions); ``ranef(condVar = TRUE)`` estimates and posterior SDs, 1e-6
  relative to the largest |estimate| / to each SD. The fits themselves agree to ~1e-8, so the
  limit is the two optimisers' θ̂.
* Weighted fits (no R reference): integer level-1 weights equal duplicated rows and integer
  level-2 weights equal duplicated schools for the posterior means and SDs (1e-6); R² are invariant
  to rescaling the weights (1e-8); R² components computed by hand with pandas ``groupby`` means
  and the documented weighted-variance rule (1e-8).
* ``mix_pv``: the pooled R² is the mean over PVs of ``lsa.mixed`` fits on each PV column (1e-8).
* The plot draws one interval per group (a count of line segments on the Agg backend).
"""
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import read_reference_csv

import lsa
from lsa.centering import center, cluster_means
from lsa.mixed import mixed, plot_caterpillar
from lsa.mixed.r2 import r2_parts

REF = json.loads((Path(__file__).parent / "reference" / "mixed_helpers_lmer.json").read_text())["models"]
W = ["w_fstuwt", "w_fschwt"]


@pytest.fixture(scope="module")
def pisa():
    p = read_reference_csv("pisa2012").dropna(subset=["pv1math", "escs", "st04q01"])
    p = p.assign(escs_mean=p.groupby("schoolid")["escs"].transform("mean"))
    return p.assign(escs_cwc=p.escs - p.escs_mean)


@pytest.fixture(scope="module")
def timss():
    return read_reference_csv("timss2019_usa_3level").dropna(subset=["BSMMAT01", "BSBGHER", "Sex"])


@pytest.fixture(scope="module")
def fits(pisa, timss):
    data = {"rs": pisa, "ri_cmc": pisa, "rs_cmc": pisa, "timss_ri3": timss}
    return {k: mixed(REF[k]["formula"], d) for k, d in data.items()}


@pytest.mark.parametrize("case", ["rs", "ri_cmc", "rs_cmc"])
def test_r2_matches_rights_sterba_and_performance(fits, case):
    ref, tab = REF[case], fits[case].r2().set_index(["decomposition", "component"])["estimate"]
    for dec in ("total", "within", "between"):
        for comp, value in (ref.get(f"r2_{dec}") or {}).items():
            assert abs(tab[(dec, comp)] - value) < 1e-6, (dec, comp)              # R² by hand in R, 1e-6
    if case == "rs":                                    # a random slope of an uncentred ESCS: no within/between
        assert tab["within"].isna().all() and tab["between"].isna().all()
    for comp in ("marginal", "conditional"):                                       # performance 0.10.2, 1e-6
        assert abs(tab[("nakagawa", comp)] - ref["r2_nakagawa"][comp]) < 1e-6
    parts = r2_parts(fits[case])
    for k in ("f", "f1", "f2", "v", "m", "sigma2"):      # the variances themselves, relative to the total
        assert abs(parts[k] - ref["r2_parts"][k]) < 1e-6 * (parts.f + parts.v + parts.m + parts.sigma2)
    assert np.isclose(parts.f1 + parts.f2, parts.f, rtol=1e-12)                    # exact identity


def test_r2_three_levels_nakagawa_only(fits):
    fit = fits["timss_ri3"]
    tab = fit.r2("nakagawa").set_index("component")["estimate"]
    for comp in ("marginal", "conditional"):                                       # performance 0.10.2, 1e-6
        assert abs(tab[comp] - REF["timss_ri3"]["r2_nakagawa"][comp]) < 1e-6
    with pytest.raises(lsa.LsaError, match="defined for two-level models; this fit has 3 levels"):
        fit.r2()


def _ref_ranef(case, group):
    return next(r for r in REF[case]["ranef"] if r["group"] == group)


@pytest.mark.parametrize("case, group, ref_group", [
    ("rs", "schoolid", "schoolid"), ("ri_cmc", "schoolid", "schoolid"), ("rs_cmc", "schoolid", "schoolid"),
    ("timss_ri3", "IDSCHOOL", "IDSCHOOL"), ("timss_ri3", "IDSCHOOL:IDCLASS", "IDCLASS:IDSCHOOL")])
def test_random_effects_match_lme4_condvar(fits, case, group, ref_group):
    ref = _ref_ranef(case, ref_group)
    tab = fits[case].random_effects()
    assert list(tab.columns) == ["group", "level", "term", "estimate", "std_error"]
    sub = tab[tab.group == group]
    for k, term in enumerate(ref["terms"]):
        t = sub[sub.term == term]
        labels = t.level.astype(str).str.split(":").str[-1]          # '1:103' (school:class) -> '103'
        t = t.set_index(labels.to_numpy()).loc[[str(v) for v in ref["level"]]]
        est, se = np.array(ref["estimate"])[:, k], np.array(ref["std_error"])[:, k]
        assert np.max(np.abs(t.estimate - est)) < 1e-6 * np.max(np.abs(est))   # lme4 conditional modes, 1e-6
        np.testing.assert_allclose(t.std_error, se, rtol=1e-6)                  # sqrt(postVar), 1e-6
    # the estimates are the fit's BLUPs
    blup = fits[case].ranef[group]
    t = sub[sub.term == ref["terms"][0]].set_index("level")
    np.testing.assert_allclose(t.estimate.loc[blup.index], blup[ref["terms"][0]], rtol=1e-10, atol=1e-12)


def _duplicate(pisa, rng):
    d = pisa[["schoolid", "pv1math", "escs"]].copy()
    d["f1"] = rng.integers(1, 4, len(d)).astype(float)               # integer student frequencies
    school_f = pd.Series(rng.integers(1, 3, d.schoolid.nunique()).astype(float), index=sorted(d.schoolid.unique()))
    d["f2"] = d.schoolid.map(school_f)
    d["wt"] = d.f1 * d.f2                                              # total weight
    rows = d.loc[d.index.repeat(d.f1.astype(int))]
    copies = []
    for c in range(2):                                                 # schools with f2 = 2 appear twice
        part = rows[rows.f2 > c].copy()
        part["schoolid"] = part.schoolid + f"_{c}"
        copies.append(part)
    return d, pd.concat(copies, ignore_index=True)


def test_weighted_random_effects_equal_duplicated_rows_and_schools(pisa):
    d, dup = _duplicate(pisa, np.random.default_rng(14))
    formula = "pv1math ~ escs + (1 + escs | schoolid)"
    wfit = mixed(formula, d, weights=["wt", "f2"])
    ufit = mixed(formula, dup)
    a = wfit.random_effects()
    b = ufit.random_effects()
    b = b[b.level.str.endswith("_0")].assign(level=lambda x: x.level.str[:-2])
    a = a.set_index(["term", "level"])
    b = b.set_index(["term", "level"]).loc[a.index]
    scale = np.abs(a.estimate).max()
    assert np.max(np.abs(a.estimate - b.estimate)) < 1e-6 * scale                # duplication, 1e-6
    np.testing.assert_allclose(a.std_error, b.std_error, rtol=1e-6)


def test_weighted_r2_by_hand_and_scale_invariant(pisa):
    formula = "pv1math ~ escs_cwc + escs_mean + st04q01 + (1 + escs_cwc | schoolid)"
    d = pisa.drop(columns=["escs_mean", "escs_cwc"])           # weighted centering this time
    d = cluster_means(center(d, "escs", by="schoolid", weights="w_fstuwt"), "escs", by="schoolid",
                      weights="w_fstuwt")
    fit = mixed(formula, d, weights=W)
    tab = fit.r2().set_index(["decomposition", "component"])["estimate"]
    # by hand: weighted moments with divisor Σu (n-1)/n, cluster means by pandas groupby
    fr = fit.model_frame
    u = fit.row_weights()["w1"].to_numpy()
    X, beta = pd.DataFrame(fr.X), fit.params.to_numpy()
    g = pd.Series(fr.codes[0])
    Xb = (X.mul(u, axis=0).groupby(g).transform("sum")).div(pd.Series(u).groupby(g).transform("sum"), axis=0)
    n, su = len(u), u.sum()

    def wvar(v):
        m = np.sum(u * v) / su
        return np.sum(u * (v - m) ** 2) / su * n / (n - 1)

    f1, f2 = wvar((X - Xb).to_numpy() @ beta), wvar(Xb.to_numpy() @ beta)
    Z = fr.Z[0]
    T = fit.random_covariances()["schoolid"].to_numpy()
    v = T[1, 1] * wvar(Z[:, 1])
    mu = np.array([1.0, np.sum(u * Z[:, 1]) / su])
    m = mu @ T @ mu
    tot = f1 + f2 + v + m + fit.scale
    for comp, val in {"f1": f1, "f2": f2, "v": v, "m": m}.items():
        assert np.isclose(tab[("total", comp)], val / tot, rtol=1e-8, atol=1e-12)
    assert np.isclose(tab[("within", "f1")], f1 / (f1 + v + fit.scale), rtol=1e-8)
    assert np.isclose(tab[("between", "m")], m / (f2 + m), rtol=1e-8)
    d2 = d.assign(w_fstuwt=d.w_fstuwt * 37.0, w_fschwt=d.w_fschwt * 37.0)
    tab2 = mixed(formula, d2, weights=W).r2()
    np.testing.assert_allclose(tab2.estimate, tab.to_numpy(), rtol=1e-8, atol=1e-10)  # weight scale


def test_mix_pv_r2_is_the_mean_over_pvs():
    df = lsa.datasets.load("pisa2012")
    pvs = [f"pv{i}math" for i in range(1, 6)]
    design = lsa.SurveyDesign(df, ids={"school": "schoolid"}, weights={"student": "w_fstuwt", "school": "w_fschwt"},
                              pvs={"MATH": pvs})
    pooled = lsa.mix_pv("MATH ~ escs + (1|school)", design).r2()
    per_pv = np.array([mixed(f"{c} ~ escs + (1|schoolid)", df, weights=W).r2().estimate for c in pvs])
    np.testing.assert_allclose(pooled.estimate, per_pv.mean(axis=0), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(pooled.sd_between_pvs, per_pv.std(axis=0, ddof=1), rtol=1e-6, atol=1e-12)
    assert list(pooled.columns) == ["decomposition", "component", "estimate", "sd_between_pvs"]


def _segments(fig):
    from matplotlib.collections import LineCollection

    return [len(c.get_segments()) for a in fig.axes for c in a.collections if isinstance(c, LineCollection)]


def test_caterpillar_draws_one_interval_per_group(fits):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plot_caterpillar(fits["rs"])                                  # a result: 2 panels of 157 schools
    assert len(fig.axes) == 2 and _segments(fig) == [157, 157]
    plt.close(fig)
    tab = fits["timss_ri3"].random_effects()                           # a table (the GLMM results' columns)
    fig = plot_caterpillar(tab, group="IDSCHOOL:IDCLASS")
    assert _segments(fig) == [533]
    plt.close(fig)
    fig, ax = plt.subplots()
    out = plot_caterpillar(tab, group="IDSCHOOL", term="(Intercept)", ax=ax, alpha=0.1)
    assert out is fig and _segments(fig) == [246]
    plt.close(fig)


def test_caterpillar_without_matplotlib(fits, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(lsa.LsaError, match=r'pip install "lsa\[plot\]"'):
        plot_caterpillar(fits["ri_cmc"])


def test_random_effects_need_the_model_frame(fits):
    bare = dataclasses.replace(fits["ri_cmc"], model_frame=None)
    with pytest.raises(lsa.LsaError, match="random_effects\\(\\) needs the model frame"):
        bare.random_effects()
