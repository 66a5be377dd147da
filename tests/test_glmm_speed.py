"""The fast paths of the GLMM engine (issue 14 benchmark targets) against the general code.

Oracles
-------
* The q = 1 objective (:func:`lsa.mixed.glmm_q1.evaluate_q1`: scalar per-cluster algebra, sparse
  cluster sums, the logit table in ζ = (2y − 1)η) equals the general q × q code
  (:func:`lsa.mixed.glmm.evaluate_general`, itself checked against lme4, a ``quad`` integral and
  finite differences in tests/test_glmm.py) — same ℓ to 1e-12 relative, gradient and per-cluster
  scores to 1e-10 of the largest score, modes and curvature roots to 1e-9 — for the logit, probit
  and Poisson, random intercept and random slope, AGQ and Laplace, weighted and unweighted, at
  and away from the optimum.
* The covariances' Hessian (:func:`lsa.mixed.glmm_optimize.hessian`: forward differences in β,
  central in θ) equals central differences of the exact gradient with a step of 1e-4 to 1e-6
  relative (the scale: the largest |H| entry in each row and column), and the model SEs from it
  to 1e-7 relative.
* The gradient of the q = 1 path equals central differences of its ℓ (1e-6 relative).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lsa
from lsa.mixed.glmm import evaluate, evaluate_general
from lsa.mixed.glmm_optimize import hessian

REF = Path(__file__).parent / "reference"


@pytest.fixture(scope="module")
def pisa():
    d = pd.read_csv(REF / "data" / "pisa2012.csv", dtype={"schoolid": str})
    d["likemath"] = d.st29q03.isin(["Strongly agree", "Agree"]).astype(float)
    d["count"] = np.floor(d.pv1math / 100).clip(lower=0)
    return d


CASES = [("likemath ~ escs + st04q01 + (1 | schoolid)", dict(weights=["w_fstuwt", "w_fschwt"])),
         ("likemath ~ escs + st04q01 + (1 | schoolid)", dict(link="probit", n_quad=7)),
         ("likemath ~ escs + (0 + escs | schoolid)", dict(weights=["w_fstuwt", "w_fschwt"])),
         ("likemath ~ escs + (1 | schoolid)", dict(n_quad=1)),
         ("count ~ escs + (1 | schoolid)", dict(family="poisson", weights=["w_fstuwt", "w_fschwt"]))]


@pytest.mark.parametrize("formula,kw", CASES)
def test_q1_path_equals_general_code(pisa, formula, kw):
    fit = lsa.mixed(formula, pisa, **{"family": "binomial", **kw})
    assert fit.data.q == 1
    psi_hat = np.r_[fit.params.to_numpy(), fit.theta.to_numpy()]
    for shift in (0.0, 0.1, -0.3):
        psi = psi_hat + shift
        a, b = evaluate_general(fit.data, psi), evaluate(fit.data, psi)
        scale = np.max(np.abs(a.scores))
        assert b.loglik == pytest.approx(a.loglik, rel=1e-12)
        assert np.max(np.abs(b.grad - a.grad)) < 1e-10 * scale
        assert np.max(np.abs(b.scores - a.scores)) < 1e-10 * scale
        np.testing.assert_allclose(b.per_cluster, a.per_cluster, rtol=1e-12, atol=1e-12 * np.abs(a.per_cluster).max())
        assert np.max(np.abs(b.modes - a.modes)) < 1e-9 and np.max(np.abs(b.chol - a.chol)) < 1e-9
        assert b.modes.shape == a.modes.shape and b.chol.shape == a.chol.shape
        # the value alone (gradient=False) is the same number
        assert evaluate(fit.data, psi, gradient=False).loglik == b.loglik


def test_q1_gradient_is_exact(pisa):
    fit = lsa.mixed(*CASES[0][:1], pisa, family="binomial", weights=["w_fstuwt", "w_fschwt"])
    psi = np.r_[fit.params.to_numpy(), fit.theta.to_numpy()] + 0.05
    g = evaluate(fit.data, psi).grad
    num = np.array([(evaluate(fit.data, psi + e, gradient=False).loglik
                     - evaluate(fit.data, psi - e, gradient=False).loglik) / 2e-6 for e in np.eye(len(psi)) * 1e-6])
    assert np.max(np.abs(g - num)) < 1e-6 * np.max(np.abs(num))


@pytest.mark.parametrize("formula,kw", [CASES[0], CASES[4],
                                        ("likemath ~ escs + (1 + escs | schoolid)", dict(n_quad=1))])
def test_hessian_matches_central_differences(pisa, formula, kw):
    fit = lsa.mixed(formula, pisa, **{"family": "binomial", **kw})
    psi = np.r_[fit.params.to_numpy(), fit.theta.to_numpy()]
    ev = evaluate(fit.data, psi)
    P = len(psi)
    ref = np.empty((P, P))
    for k in range(P):
        e = np.zeros(P)
        e[k] = 1e-4 * max(1.0, abs(psi[k]))
        ref[:, k] = (evaluate(fit.data, psi + e, ev.modes).grad - evaluate(fit.data, psi - e, ev.modes).grad) / (2 * e[k])
    ref = (ref + ref.T) / 2
    H = hessian(fit.data, psi, ev)
    scale = np.maximum.outer(np.abs(ref).max(axis=1), np.abs(ref).max(axis=0))
    assert np.max(np.abs(H - ref) / scale) < 1e-6
    se = np.sqrt(np.diag(np.linalg.inv(-H)))
    se_ref = np.sqrt(np.diag(np.linalg.inv(-ref)))
    np.testing.assert_allclose(se, se_ref, rtol=1e-7)
    # the fit's H is this one (at L-BFGS-B's solution when Newton moved ψ by < 1e-9, its modes
    # started elsewhere: rounding of the gradient / 1e-7)
    assert np.max(np.abs(H - fit.hessian) / scale) < 1e-8


def test_mix_pv_expression_outcome_shares_the_frame(pisa):
    """mix_pv with a response I(expr) of a PV set used nowhere else builds one model frame: the
    PV fits share X, Z and the weights, and each y is the expression of its own PV in frame
    order (closed form); a PV set also on the right-hand side gets a frame per PV."""
    pvs = [f"pv{k}math" for k in range(1, 4)]
    des = lsa.SurveyDesign(pisa, ids={"school": "schoolid"}, weights={"student": "w_fstuwt", "school": "w_fschwt"},
                           pvs={"MATH": pvs, "OTHER": [f"pv{k}math" for k in range(3, 6)]})
    res = lsa.mix_pv("I(MATH < 420.07) ~ escs + (1 | school)", des, family="binomial")
    frames = [f.model_frame for f in res.fits]
    assert all(fr.X is frames[0].X and fr.Z[0] is frames[0].Z[0] for fr in frames)
    for fr, c in zip(frames, pvs):
        np.testing.assert_array_equal(fr.y, (pisa[c].to_numpy()[fr.order] < 420.07).astype(float))
    res2 = lsa.mix_pv("I(MATH < 420.07) ~ I(OTHER / 100) + (1 | school)", des, family="binomial")
    assert res2.fits[1].model_frame.X is not res2.fits[0].model_frame.X
