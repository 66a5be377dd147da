"""GLMMs over plausible values: ``lsa.mix_pv(..., family="binomial")`` (issue 14 item 2), and
replicate-weight SEs of a GLMM (``GLMMResult.with_vcov("replicate")``).

Oracles
-------
* Rubin's rules in closed form (1e-8): the pooled estimate is the mean of the per-PV estimates,
  the total variance Ū + (1 + 1/M) B, written out here from the per-PV fits.
* Each PV's fit equals ``lsa.mixed`` on that PV's own derived column (``I(pvKmath < 420.07)``
  evaluated per PV; same estimator, 1e-8).
* Replicate SEs: c Σ_r (β̂_r − β̂)² with every β̂_r refitted here by ``lsa.mixed`` with total
  weights (replicate student weight, school weight × a_j), a_j = Σ_i w_ij^(r) / Σ_i w_ij — the
  level weights BIFIEsurvey's rule gives (``lsa.mixed.replicate.replicate_level_weights``) —
  1e-6.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lsa
from lsa.replicates import replicate_variance

REF = Path(__file__).parent / "reference"
PVS = [f"pv{k}math" for k in range(1, 6)]


@pytest.fixture(scope="module")
def pisa():
    return pd.read_csv(REF / "data" / "pisa2012.csv", dtype={"schoolid": str})


def _design(d, reps):
    return lsa.SurveyDesign(d, ids={"school": "schoolid"}, weights={"student": "w_fstuwt", "school": "w_fschwt"},
                            pvs={"MATH": PVS}, replicates=lsa.Replicates.fay(reps, k=0.5))


def test_mix_pv_binomial_pools_by_rubin(pisa):
    des = _design(pisa, [f"w_fsturwt{r}" for r in range(1, 81)])
    res = lsa.mix_pv("I(MATH < 420.07) ~ escs + (1 | school)", des, family="binomial")
    assert res.m == 5 and [f.family for f in res.fits] == ["binomial"] * 5
    Q = np.array([f.params.to_numpy() for f in res.fits])
    U = np.array([f.cov_params().to_numpy() for f in res.fits])
    B = np.cov(Q.T, ddof=1)
    np.testing.assert_allclose(res.params.to_numpy(), Q.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(res.cov_params().to_numpy(), U.mean(axis=0) + (1 + 1 / 5) * B, rtol=1e-8)
    vq = np.array([f.variance_components.estimate.to_numpy() for f in res.fits])
    t = res.tidy()
    assert t[t.effect == "ran_pars"].estimate.to_numpy() == pytest.approx(vq.mean(axis=0), rel=1e-12)
    # PV 3's fit is the GLMM of its own derived outcome
    one = lsa.mixed("I(pv3math < 420.07) ~ escs + (1 | schoolid)", pisa, weights=["w_fstuwt", "w_fschwt"],
                    family="binomial")
    np.testing.assert_allclose(res.fits[2].params, one.params, rtol=1e-8)
    np.testing.assert_allclose(res.fits[2].bse, one.bse, rtol=1e-8)


def test_glmm_replicate_se(pisa):
    reps = [f"w_fsturwt{r}" for r in range(1, 5)]
    des = _design(pisa, reps)
    f = "I(pv1math < 420.07) ~ escs + (1 | schoolid)"
    fit = lsa.mixed(f, pisa, weights=["w_fstuwt", "w_fschwt"], family="binomial")
    rep = fit.with_vcov("replicate", design=des)
    est = []
    for c in reps:
        a = pisa.groupby("schoolid")[c].transform("sum") / pisa.groupby("schoolid")["w_fstuwt"].transform("sum")
        d = pisa.assign(w2r=pisa.w_fschwt * a)
        est.append(lsa.mixed(f, d, weights=[c, "w2r"], family="binomial").params.to_numpy())
    V = replicate_variance(fit.params.to_numpy(), np.array(est), des.replicate_factors())
    np.testing.assert_allclose(rep.cov_params().to_numpy(), V, rtol=1e-6, atol=1e-6 * np.sqrt(np.outer(np.diag(V),
                                                                                                 np.diag(V))).max())
    assert rep.vcov_type == "replicate" and np.all(rep.df == des.df)
