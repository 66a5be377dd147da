"""Designs over several countries (issue 12 item 1): replicates nested within country.

Oracles:
- R's ``survey::svrepdesign`` (``tests/reference/multicountry.R`` -> ``multicountry.json``):
  * TIMSS 1999 grade 8, three countries (``tests/reference/data/timss1999_g8_3cnt.csv``), JK2
    with country-specific zones (one replicate per (IDCNTRY, JKZONE) pair, factor 1), sampling
    variance from PV1: pooled and per-country means and SEs, 1e-8 relative;
  * PIAAC 2012 Flanders (JK2, 80 replicates) with Russia declared JK1 (12 replicates, factor
    11/12) in one design, per-replicate ``rscales``: pooled mean and SE, and each country's SE
    in its own design, 1e-8 relative.
- Closed forms: a country's estimate, SE and df in ``by=`` equal its single-country design
  (the other countries' replicates leave its rows' weights unchanged), 1e-10 relative; the
  replicate variance of a pooled total is the sum of the national variances (independent
  samples), 1e-10; V = Σ_r c_r d_r d_r' with per-replicate factors, 1e-12.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lsa
from lsa.errors import DesignError
from lsa.multicountry import check_constant_within_zones, group_weights
from lsa.replicates import replicate_variance

REF = Path(__file__).parent / "reference"
R = json.loads((REF / "multicountry.json").read_text())
MATH = [f"BSMMAT0{m}" for m in range(1, 6)]


@pytest.fixture(scope="module")
def timss() -> pd.DataFrame:
    return pd.read_csv(REF / "data" / "timss1999_g8_3cnt.csv")


@pytest.fixture(scope="module")
def nested(timss):
    return lsa.SurveyDesign.from_study("timss", 1999, timss, grade=8)


def _explicit(data, nest=True):
    rep = lsa.Replicates.jk2(zone="JKZONE", rep="JKREP")
    return lsa.SurveyDesign(data, weights="TOTWGT", pvs={"BSMMAT": MATH},
                            replicates=rep.within("IDCNTRY") if nest else rep, pv_variance="first")


def test_timss_pooled_mean_equals_svrepdesign_with_country_specific_zones(nested, timss):
    ref = R["timss1999"]
    assert nested.replicates.country == "IDCNTRY" and nested.n_replicates == ref["n_replicates"] == 221
    for root in ("BSMMAT", "BSSSCI"):
        t = lsa.mean(nested, root).tidy().iloc[0]
        assert t["estimate"] == pytest.approx(ref["pooled"][root]["estimate"], rel=1e-8)
        assert t["std_error"] == pytest.approx(ref["pooled"][root]["std_error"], rel=1e-8)
    t = lsa.mean(_explicit(timss), "BSMMAT").tidy().iloc[0]           # the same design built by hand
    assert t["std_error"] == pytest.approx(ref["pooled"]["BSMMAT"]["std_error"], rel=1e-8)


def test_zones_shared_across_countries_give_another_se(timss):
    """The construction of before (zone h of every country in one replicate) differs from R's
    country-specific zones: the test above can fail."""
    shared = lsa.mean(_explicit(timss, nest=False), "BSMMAT").tidy().iloc[0]["std_error"]
    assert abs(shared / R["timss1999"]["pooled"]["BSMMAT"]["std_error"] - 1) > 0.03


def test_timss_per_country_results_unchanged(nested, timss):
    by = lsa.mean(nested, "BSMMAT", by="IDCNTRY").tidy()
    for row, ref in zip(by.itertuples(), R["timss1999"]["by_country"]):
        assert row.IDCNTRY == ref["IDCNTRY"]
        assert row.estimate == pytest.approx(ref["estimate"], rel=1e-8)
        assert row.std_error == pytest.approx(ref["std_error"], rel=1e-8)
        alone = lsa.SurveyDesign.from_study("timss", 1999, timss[timss.IDCNTRY == row.IDCNTRY].reset_index(drop=True),
                                            grade=8)
        one = lsa.mean(alone, "BSMMAT").tidy().iloc[0]
        assert not alone.replicates.nested
        for col in ("estimate", "std_error", "df", "p_value", "conf_low"):
            assert getattr(row, col) == pytest.approx(one[col], rel=1e-10), col
        sub = lsa.mean(nested.subset(nested.data.IDCNTRY.to_numpy() == row.IDCNTRY), "BSMMAT").tidy().iloc[0]
        for col in ("estimate", "std_error", "df"):
            assert sub[col] == pytest.approx(one[col], rel=1e-10), col


def test_a_country_domain_uses_only_its_replicates(nested):
    jpn = nested.data.IDCNTRY.to_numpy() == 392
    gw = group_weights(nested.subset(jpn))
    assert gw.matrix.shape == (nested.n, 1 + 71) and gw.df == 71    # Japan has 71 zones
    assert group_weights(nested).matrix.shape == (nested.n, 1 + 221) and nested.df == 221


def test_pooled_total_variance_is_the_sum_of_national_variances(nested):
    """Independent national samples: Var(Σ_c T_c) = Σ_c Var(T_c) for the totals T_c (closed form)."""
    def total(d, w):
        return (d["BSMMAT"].to_numpy() @ w)[:, None]

    pooled, by = lsa.estimate(nested, total), lsa.estimate(nested, total, by="IDCNTRY")
    for m in range(1, 6):
        u_pooled = pooled.per_pv.query("pv == @m")["sampling_se"].iloc[0] ** 2
        u_by = (by.per_pv.query("pv == @m")["sampling_se"] ** 2).sum()
        assert u_pooled == pytest.approx(u_by, rel=1e-10)
    assert pooled.tidy()["estimate"].iloc[0] == pytest.approx(by.tidy()["estimate"].sum(), rel=1e-12)


def test_replicate_variance_with_per_replicate_factors():
    rng = np.random.default_rng(3)
    theta, reps, f = rng.normal(size=2), rng.normal(size=(6, 2)), rng.uniform(0.5, 1, 6)
    d = reps - theta
    want = sum(f[r] * np.outer(d[r], d[r]) for r in range(6))
    np.testing.assert_allclose(replicate_variance(theta, reps, f), want, rtol=1e-12)


# -- PIAAC: a JK2 and a JK1 country -----------------------------------------------------------
@pytest.fixture(scope="module")
def piaac():
    bel = lsa.datasets.load("piaac2012_bel_flanders")
    rus = lsa.datasets.load("piaac2012_rus").assign(VEMETHOD="JK1")     # Russia declared JK1
    return bel, rus, pd.concat([bel, rus], ignore_index=True)


@pytest.mark.filterwarnings("ignore::lsa.errors.MissingDataWarning")    # rows without PVs
def test_piaac_jk1_and_jk2_countries_in_one_design(piaac):
    bel, rus, both = piaac
    ref = R["piaac2012_jk2_jk1"]
    design = lsa.SurveyDesign.from_study("piaac", 2012, both)
    assert design.replicates.method == "by_country" and design.n_replicates == ref["n_replicates"] == 92
    f = design.replicate_factors()
    np.testing.assert_allclose(f, np.r_[np.ones(80), np.full(12, ref["rscales_jk1"])], rtol=1e-15)
    pooled = lsa.mean(design, "PVLIT").tidy().iloc[0]
    by = lsa.mean(design, "PVLIT", by="CNTRYID").tidy().set_index("CNTRYID")
    assert pooled["estimate"] == pytest.approx(ref["pooled"]["estimate"], rel=1e-8)
    assert pooled["std_error"] == pytest.approx(ref["pooled"]["std_error"], rel=1e-8)
    for name, data, key in (("Belgium", bel, "Belgium"), ("Russian Federation", rus, "Russia")):
        own = lsa.SurveyDesign.from_study("piaac", 2012, data)
        assert own.replicates.method == ("jk2" if key == "Belgium" else "jk1")
        one = lsa.mean(own, "PVLIT").tidy().iloc[0]
        assert one["std_error"] == pytest.approx(ref["own_design"][key]["std_error"], rel=1e-8)
        for col in ("estimate", "std_error", "df"):
            assert by.loc[name, col] == pytest.approx(one[col], rel=1e-10), (name, col)


@pytest.mark.filterwarnings("ignore::lsa.errors.MissingDataWarning")
def test_piaac_declared_by_hand_equals_the_dictionary(piaac):
    _, _, both = piaac
    rep = lsa.Replicates.by_country("CNTRYID", {
        "Belgium": lsa.Replicates.jk2([f"SPFWT{r}" for r in range(1, 81)]),
        "Russian Federation": lsa.Replicates.jk1([f"SPFWT{r}" for r in range(1, 13)])})
    design = lsa.SurveyDesign(both, weights="SPFWT0", pvs={"PVLIT": [f"PVLIT{m}" for m in range(1, 11)]},
                              replicates=rep)
    t = lsa.mean(design, "PVLIT").tidy().iloc[0]
    assert t["std_error"] == pytest.approx(R["piaac2012_jk2_jk1"]["pooled"]["std_error"], rel=1e-8)
    assert "a scheme per CNTRYID value" in design.describe()


def test_country_column_must_separate_the_replicates(nested, timss):
    check_constant_within_zones(nested, "IDCNTRY")                    # nested: passes
    with pytest.raises(DesignError, match="'IDCNTRY' is not constant within the design's strata"):
        check_constant_within_zones(_explicit(timss, nest=False), "IDCNTRY")


@pytest.mark.parametrize("order", ["interleaved", "sorted"])
def test_replicate_columns_within_country_read_once_for_all_countries(order):
    """Fay columns nested within country, rows interleaved or sorted by country (the blocks are
    then views of one conversion): each country's replicates are its own columns on its rows and
    the full weight elsewhere (closed form, exact), and by= equals each country alone (1e-12)."""
    rng = np.random.default_rng(5)
    n, cols = 300, [f"r{j}" for j in range(4)]
    cnt = rng.choice(["A", "B", "C"], n)
    cnt = np.sort(cnt) if order == "sorted" else cnt
    w = rng.uniform(1, 3, n)
    reps = w[:, None] * rng.choice([0.5, 1.5], (n, 4))
    df = pd.DataFrame({"CNT": cnt, "w": w, "y": rng.normal(size=n), **dict(zip(cols, reps.T))})
    fay = lsa.Replicates.fay(cols, k=0.5)
    d = lsa.SurveyDesign(df, weights="w", replicates=fay.within("CNT"))
    W = d.replicate_weights()
    assert W.shape == (n, 12)
    by = lsa.mean(d, "y", by="CNT").tidy().set_index("CNT")
    for i, c in enumerate(["A", "B", "C"]):
        own = cnt == c
        np.testing.assert_array_equal(W[own, 4 * i:4 * i + 4], reps[own])
        np.testing.assert_array_equal(W[~own, 4 * i:4 * i + 4], np.repeat(w[~own, None], 4, axis=1))
        alone = lsa.mean(lsa.SurveyDesign(df[own].reset_index(drop=True), weights="w", replicates=fay), "y").tidy()
        for col in ("estimate", "std_error"):
            assert by.loc[c, col] == pytest.approx(alone[col].iloc[0], rel=1e-12)
