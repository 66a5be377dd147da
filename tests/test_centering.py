"""lsa.center / lsa.cluster_means: weighted group-mean and grand-mean centering, cluster means of a
PV set computed within each PV.

Oracles: the closed forms Σw x / Σw written out per cluster with numpy in the test (a loop over
schools, independent of the library's bincount), 1e-12 relative to the scale of x; R's
``ave(escs, schoolid)`` (unweighted school means) from ``mixed_helpers_lmer.json``
(``mixed_helpers_lmer.R``), 1e-12; for a PV set, PV m's school mean equals the weighted mean of
PV m in that school (1e-12), and ``mix_pv`` with the new set equals one ``lsa.mixed`` fit per PV on
the hand-computed means (1e-8, the same optimiser on the same numbers).
"""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import read_reference_csv

import lsa
from lsa.centering import center, cluster_means

REF = Path(__file__).parent / "reference"
PVS = [f"pv{i}math" for i in range(1, 6)]


@pytest.fixture(scope="module")
def pisa():
    return read_reference_csv("pisa2012")


@pytest.fixture(scope="module")
def design(pisa):
    return lsa.SurveyDesign(pisa, ids={"school": "schoolid"}, weights={"student": "w_fstuwt", "school": "w_fschwt"},
                            pvs={"MATH": PVS})


def _by_hand_group_means(x, w, g):
    """Weighted mean of x per cluster, missing x left out, looped over clusters."""
    out = np.full(len(x), np.nan)
    for s in pd.unique(g):
        rows = np.flatnonzero((g == s) & ~np.isnan(x))
        if len(rows) and w[rows].sum() > 0:
            out[g == s] = np.sum(w[rows] * x[rows]) / np.sum(w[rows])
    return out


def test_weighted_group_mean_centering_closed_form(pisa):
    x, w, g = pisa.escs.to_numpy(float), pisa.w_fstuwt.to_numpy(float), pisa.schoolid.to_numpy()
    means = _by_hand_group_means(x, w, g)
    out = center(pisa, "escs", by="schoolid", weights="w_fstuwt")
    scale = np.nanstd(x)
    np.testing.assert_allclose(out["escs_cwc"], x - means, rtol=0, atol=1e-12 * scale)   # closed form
    cm = cluster_means(pisa, "escs", by="schoolid", weights="w_fstuwt")
    np.testing.assert_allclose(cm["escs_mean"], means, rtol=0, atol=1e-12 * scale)
    assert np.isnan(out["escs_cwc"].to_numpy()[np.isnan(x)]).all()          # missing stays missing
    assert "escs_cwc" not in pisa.columns                                    # input untouched


def test_weighted_grand_mean_centering_closed_form(pisa):
    x, w = pisa.escs.to_numpy(float), pisa.w_fstuwt.to_numpy(float)
    ok = ~np.isnan(x)
    grand = np.sum(w[ok] * x[ok]) / np.sum(w[ok])
    out = center(pisa, ["escs", "pv1math"], kind="grand", weights="w_fstuwt")
    np.testing.assert_allclose(out["escs_cgm"], x - grand, rtol=0, atol=1e-12 * np.nanstd(x))
    y = pisa.pv1math.to_numpy(float)
    np.testing.assert_allclose(out["pv1math_cgm"], y - np.average(y, weights=w), rtol=0, atol=1e-12 * y.std())
    un = center(pisa, "escs", kind="grand")                                  # unweighted on a DataFrame
    np.testing.assert_allclose(un["escs_cgm"], x - np.nanmean(x), rtol=0, atol=1e-12 * np.nanstd(x))


def test_unweighted_school_means_match_r_ave(pisa):
    ref = json.loads((REF / "mixed_helpers_lmer.json").read_text())["centering"]
    d = pisa.dropna(subset=["pv1math", "escs", "st04q01"])
    out = center(cluster_means(d, "escs", by="schoolid"), "escs", by="schoolid")
    out = center(out, "escs", kind="grand")
    n = len(ref["escs_mean"])
    assert list(out.schoolid.iloc[:n]) == ref["schoolid"]
    for col in ("escs_mean", "escs_cwc", "escs_cgm"):                        # R's ave() and mean(), 1e-12
        np.testing.assert_allclose(out[col].iloc[:n], ref[col], rtol=0, atol=1e-12)


def test_pv_set_school_means_within_each_pv(design, pisa):
    new = cluster_means(design, ["MATH", "escs"], by="school")
    assert "MATH_mean" not in design.pvs and "pv1math_mean" not in design.data      # not mutated
    assert new.pvs["MATH_mean"] == tuple(f"{c}_mean" for c in PVS)
    assert new.ids == design.ids and new.weights == design.weights
    w, g = pisa.w_fstuwt.to_numpy(float), pisa.schoolid.to_numpy()
    for c in PVS:                                   # PV m's school mean = weighted mean of PV m there
        np.testing.assert_allclose(new.data[f"{c}_mean"], _by_hand_group_means(pisa[c].to_numpy(float), w, g),
                                   rtol=1e-12)
    # the design's weight is the total student weight; the conditional weight gives the same school means
    cond = cluster_means(pisa, "pv3math", by="schoolid", weights="pwt1")
    np.testing.assert_allclose(cond["pv3math_mean"], new.data["pv3math_mean"], rtol=1e-12)
    cwc = center(new, "MATH", by="school")
    np.testing.assert_allclose(cwc.data["pv2math_cwc"], pisa.pv2math - new.data["pv2math_mean"], rtol=0, atol=1e-9)
    assert cwc.pvs["MATH_cwc"] == tuple(f"{c}_cwc" for c in PVS)


def test_mix_pv_pairs_the_new_pv_set(design, pisa):
    new = cluster_means(design, "MATH", by="school")
    pooled = lsa.mix_pv("MATH ~ MATH_mean + escs + (1|school)", new)
    w, g = pisa.w_fstuwt.to_numpy(float), pisa.schoolid.to_numpy()
    for m, fit in enumerate(pooled.fits):
        d = pisa.assign(xm=_by_hand_group_means(pisa[PVS[m]].to_numpy(float), w, g))
        alone = lsa.mixed(f"{PVS[m]} ~ xm + escs + (1|schoolid)", d, weights=["w_fstuwt", "w_fschwt"])
        np.testing.assert_allclose(fit.params.to_numpy(), alone.params.to_numpy(), rtol=1e-8)


def test_weight_scale_invariance_and_zero_weight_cluster(pisa):
    d = pisa[["schoolid", "escs", "w_fstuwt"]].copy()
    a = cluster_means(d, "escs", by="schoolid", weights="w_fstuwt")
    d["w2"] = d.w_fstuwt * 1e6
    b = cluster_means(d, "escs", by="schoolid", weights="w2")
    np.testing.assert_allclose(a.escs_mean, b.escs_mean, rtol=1e-12)
    first = d.schoolid == d.schoolid.iloc[0]
    d.loc[first, "w2"] = 0.0
    c = cluster_means(d, "escs", by="schoolid", weights="w2")
    assert c.escs_mean[first].isna().all()                  # no weight in the school: no mean
    np.testing.assert_allclose(c.escs_mean[~first], b.escs_mean[~first], rtol=1e-12)
