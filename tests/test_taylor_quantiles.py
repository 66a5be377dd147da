"""Quantiles with Woodruff intervals under Taylor linearisation (issue 13 items 1 and 6).

Oracles:
* R's survey 4.1.1 (``tests/reference/survey_timss2015_quantiles.R`` → ``.json``) on the bundled
  TIMSS 2015 USA grade-8 extract (no replicate weights): ``svyquantile(~x, svydesign(ids = ~IDSCHOOL,
  [strata = ~PSTRAT4], weights = ~TOTWGT), c(.1, .5, .9), interval.type = "mean", qrule = "math")``
  — estimates, Woodruff bounds and ``SE`` per PV, in sex domains (``subset``: t with the domain's
  ``degf``), and the 5 PVs pooled by ``MIcombine``. Closed forms given the same quantile rule:
  1e-8 relative.
* Closed form by numerical differentiation: the CDF's linearised values are w_i ∂F̂/∂w_i (central
  differences), 1e-6 relative to the largest value compared.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lsa
from lsa.estimators import influence

REF = json.loads((Path(__file__).parent / "reference" / "survey_timss2015_quantiles.json").read_text())
DATA = Path(lsa.__file__).parent / "datasets" / "data" / "timss2015_usa_g8.csv.gz"
PVS = [f"BSMMAT0{i}" for i in range(1, 6)]
PROBS = [0.1, 0.5, 0.9]


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    d = pd.read_csv(DATA)
    d["PSTRAT4"] = (d["IDSCHOOL"].rank(method="dense").astype(int) - 1) // 4 + 1     # as the R script
    return d


def design(d, **kw) -> lsa.SurveyDesign:
    return lsa.SurveyDesign(d, ids={"school": "IDSCHOOL"}, weights={"student": "TOTWGT"}, pvs={"MATH": PVS}, **kw)


@pytest.fixture(scope="module")
def des(data):
    return design(data)


def quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


def close_to_svyquantile(t: pd.DataFrame, ref: dict) -> None:
    np.testing.assert_allclose(t["estimate"], ref["coef"], rtol=1e-8)
    np.testing.assert_allclose(t["std_error"], ref["se"], rtol=1e-8)
    np.testing.assert_allclose(t["woodruff_low"], ref["lower"], rtol=1e-8)
    np.testing.assert_allclose(t["woodruff_high"], ref["upper"], rtol=1e-8)


@pytest.mark.parametrize("m", range(5))
def test_each_pv_matches_svyquantile_woodruff(des, m):
    t = quiet(lsa.quantiles, des, PVS[m], PROBS).tidy()
    assert (t["df"] == REF["per_pv"][m]["df"]).all() and REF["per_pv"][m]["df"] == 245
    close_to_svyquantile(t, REF["per_pv"][m])                                       # 1e-8


def test_default_interval_is_woodruff_on_a_taylor_design(des):
    default = quiet(lsa.quantiles, des, "BSMMAT01", PROBS).tidy()
    explicit = quiet(lsa.quantiles, des, "BSMMAT01", PROBS, interval="woodruff").tidy()
    np.testing.assert_allclose(default["std_error"], REF["per_pv"][0]["se"], rtol=1e-8)
    np.testing.assert_allclose(explicit["std_error"], REF["per_pv"][0]["se"], rtol=1e-8)
    assert np.isfinite(default["std_error"]).all()


def test_pvs_pooled_as_micombine(des):
    t = quiet(lsa.quantiles, des, "MATH", PROBS, df_method="rubin").tidy()
    ref = REF["pooled"]
    np.testing.assert_allclose(t["estimate"], ref["coef"], rtol=1e-8)
    np.testing.assert_allclose(t["std_error"], ref["se"], rtol=1e-8)
    np.testing.assert_allclose(t["df"], ref["df"], rtol=1e-8)


def test_domains_use_every_psu_and_the_domain_df(des):
    t = quiet(lsa.quantiles, des, "BSMMAT01", PROBS, by="ITSEX").tidy()
    for s, ref in enumerate(REF["by_sex"]):
        close_to_svyquantile(t.iloc[3 * s:3 * s + 3], ref)                        # girls: degf 242
    assert [r["df"] for r in REF["by_sex"]] == [242, 245]


def test_stratified_design(data):
    res = quiet(lsa.quantiles, design(data, strata="PSTRAT4"), "BSMMAT01", PROBS)
    close_to_svyquantile(res.tidy(), REF["strat4"])                                # degf 184


def test_cdf_linearised_values_are_weight_derivatives(data):
    rng = np.random.default_rng(13)
    rows = rng.choice(len(data), 300, replace=False)
    y, w = data["BSMMAT01"].to_numpy()[rows], data["TOTWGT"].to_numpy()[rows]
    y[:5] = np.nan
    valid = ~np.isnan(y)
    q = np.array([450.0, 520.0])

    def stat(weights):
        ok = valid & (weights > 0)
        return np.array([(weights[ok] * (y[ok] <= v)).sum() / weights[ok].sum() for v in q])

    f, z = influence.cdf(y, valid, w, q)
    np.testing.assert_allclose(f, stat(w), rtol=1e-12)
    num = np.empty_like(z)
    for i in range(len(w)):
        h = 1e-4 * w[i]
        up, down = w.copy(), w.copy()
        up[i] += h
        down[i] -= h
        num[i] = w[i] * (stat(up) - stat(down)) / (2 * h)
    np.testing.assert_allclose(z, num, atol=1e-6 * np.abs(num).max())


def test_replicate_quantiles_on_a_taylor_design_stay_nan_and_say_why(data):
    with pytest.warns(lsa.errors.MissingDataWarning, match="with_replicates"):
        t = lsa.quantiles(design(data), "BSMMAT01", PROBS, interval="quantile").tidy()
    assert t["std_error"].isna().all()
