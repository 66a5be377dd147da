"""MixedResult accessors (model frame, weights as used, random-effect covariances), the
WeMix-style summary and R number formatting, identifiability errors, boundary notes and
non-convergence; the shortcuts of a call's fixed cost against the general computation they
stand for: the rank check without its pivoted QR (the QR rule written out in the test, on
near-collinear random designs), unused factor levels (pandas' ``remove_unused_categories``),
formulas and term names reused between fits (a second fit, exactly equal, names unshared)."""
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lsa.errors import ConvergenceWarning, DesignError, FormulaError
from lsa.mixed import MixedControl, build_stats, mixed, optimize, profiled
from lsa.mixed.rformat import coef_table, format_real

from conftest import assert_cov_close, load_reference, read_reference_csv

W = ["w_fstuwt", "w_fschwt"]


@pytest.fixture(scope="module")
def pisa():
    return read_reference_csv("pisa2012")


@pytest.fixture(scope="module")
def rs(pisa):
    return mixed("pv1math ~ escs + st04q01 + (1 + escs | schoolid)", pisa, weights=W)


def test_model_frame_and_weights(pisa, rs):
    mf = rs.model_frame
    assert mf.X.shape == (rs.nobs, 3) and mf.xnames == tuple(rs.params.index)
    assert [z.shape for z in mf.Z] == [(rs.nobs, 2)] and mf.znames == (("(Intercept)", "escs"),)
    assert mf.group_names == ("schoolid",) and mf.Z_of("schoolid") is mf.Z[0]
    rows = pisa.loc[rs.rows_used]
    assert np.array_equal(mf.y, rows.pv1math.to_numpy())
    assert np.array_equal(mf.clusters[0], rows.schoolid.astype(str).to_numpy())
    assert np.array_equal(mf.X[:, 1], rows.escs.to_numpy())
    with pytest.raises(ValueError):            # read-only
        mf.y[0] = 0
    rw = rs.row_weights()
    assert np.allclose(rw.w1, rows.w_fstuwt) and np.allclose(rw.w2, rows.w_fschwt)
    assert np.allclose(rw.w1_cond * rw.w2_cond, rw.w1)
    # refitting from what the result holds gives the same estimates
    opt = optimize(build_stats(mf, rs.level_weights), rs.theta_map)
    assert np.allclose(opt.profile.beta, rs.params, rtol=1e-10)


def test_random_covariances(rs):
    cov = rs.random_covariances()["schoolid"]
    vc = rs.variance_components.set_index(["term1", "term2"], drop=False)
    assert cov.loc["(Intercept)", "(Intercept)"] == pytest.approx(vc.estimate.iloc[0], rel=1e-12)
    assert cov.loc["escs", "escs"] == pytest.approx(vc.estimate.iloc[1], rel=1e-12)
    assert cov.loc["escs", "(Intercept)"] == pytest.approx(vc.estimate.iloc[2], rel=1e-12)
    assert_cov_close(cov.to_numpy().T, cov.to_numpy(), 1e-12)  # symmetric (values: see the WeMix test below)


def test_random_covariances_match_wemix(pisa):
    """Oracle: WeMix 4.0.4's level-2 covariance for the same weighted random-slope model
    (tests/reference/wemix_pisa2012_rs.json). Iterative fit: 1e-5 of sqrt(var_i * var_j)."""
    ref = load_reference("wemix_pisa2012_rs")
    fit = mixed(ref["formula"], pisa, weights=ref["weights"])
    cov = fit.random_covariances()["schoolid"].loc[["(Intercept)", "escs"], ["(Intercept)", "escs"]]
    vc = dict(zip(ref["variance_components"]["name"], ref["variance_components"]["estimate"]))
    wemix = np.array([[vc["schoolid.(Intercept)"], vc["schoolid.(Intercept).escs"]],
                      [vc["schoolid.(Intercept).escs"], vc["schoolid.escs"]]])
    assert_cov_close(cov.to_numpy(), wemix, 1e-5)
    assert fit.scale == pytest.approx(ref["residual_variance"], rel=1e-5)


def test_summary_layout_random_slope(rs):
    s = rs.summary()
    for head in ("Call:", "Variance terms:", " Level    Group        Name Variance Std. Error "
                 "Std.Dev. Corr1", "Groups:", "Fixed Effects:", "lnl= ", "Intraclass Correlation= "):
        assert head in s
    corr = rs.random_covariances()["schoolid"]
    r = corr.iloc[1, 0] / np.sqrt(corr.iloc[0, 0] * corr.iloc[1, 1])
    assert f" {round(r, 2):.2f}".rstrip("0") in s


def test_wald_test(rs):
    w = rs.wald_test(["escs", "st04q01Male"])
    b, V = rs.params.iloc[1:].to_numpy(), rs.cov_params().iloc[1:, 1:].to_numpy()
    assert w.statistic == pytest.approx(b @ np.linalg.solve(V, b), rel=1e-12) and w.df == 2


def test_r_formatting_matches_r():
    """R's format(digits = 4) and printCoefmat, stored in tests/reference/r_format.json by
    tests/reference/r/r_format.py (R 4.2.2): exact string equality."""
    ref = json.loads((Path(__file__).parent / "reference" / "r_format.json").read_text())
    cases = ref["format_digits4"]["cases"]
    assert ref["format_digits4"]["output"] == ["|".join(format_real(c, 4)) for c in cases]
    pc = ref["printCoefmat"]
    est, se = np.array(pc["estimate"]), np.array(pc["std_error"])
    assert coef_table(["a", "b", "c"], est, se, est / se) == pc["output"]


def test_identifiability_errors(pisa):
    d = pisa.assign(xc=pisa.groupby("schoolid").escs.transform("mean"))
    with pytest.raises(DesignError, match=r"linearly dependent within every group of 'schoolid'"):
        mixed("pv1math ~ escs + (1 + xc | schoolid)", d, weights=W)
    two = pisa.groupby("schoolid").head(2)      # ≤ 2 rows per school, 3 random effects
    with pytest.raises(DesignError, match="number of observations"):
        mixed("pv1math ~ escs + (1 + escs + st04q01 | schoolid)", two)
    one = pisa.groupby("schoolid").head(1)
    with pytest.raises(DesignError, match=r"number of observations \(157\) <= number of random"):
        mixed("pv1math ~ escs + (1 | schoolid)", one)
    with pytest.raises(FormulaError, match="'nosuch'.*not a column"):
        mixed("pv1math ~ escs + (1 | nosuch)", pisa, weights=W)
    # single-unit clusters among others are fine
    mixed("pv1math ~ escs + (1 | schoolid)", pd.concat([two, pisa.iloc[[0]]]).drop_duplicates())


def test_boundary_variance_converges_to_zero_with_note(pisa):
    d = pisa.assign(fake=np.random.default_rng(0).integers(0, 60, len(pisa)))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        res = mixed("pv1math ~ escs + (1 | fake)", d)
    assert res.converged and res.variance_components.estimate.iloc[0] == 0.0
    assert np.isnan(res.variance_components.std_error.iloc[0])
    assert len(res.notes) == 1 and "boundary" in res.notes[0]
    assert "Note: the variance of (Intercept) | fake is estimated at the boundary" in res.summary()


def test_nonconvergence_warns(pisa):
    with pytest.warns(ConvergenceWarning, match=r"projected gradient.*after 2 L-BFGS-B iterations"):
        res = mixed("pv1math ~ escs + (1 + escs | schoolid)", pisa,
                    control=MixedControl(maxiter=2, newton=0))
    assert not res.converged and res.grad_norm > 1e-7 and res.iterations == 2
    assert "WARNING: not converged" in res.summary()


def test_varcomp_hessian_step_independent(pisa):
    """The variance-component Hessian (4th-order differences of the analytic gradient) does not
    depend on the step: halving it changes the SEs by < 1e-8 relative."""
    from lsa.mixed import vcov
    res = mixed("pv1math ~ escs + (1 + escs | schoolid)", pisa, weights=W)
    stats = build_stats(res.model_frame, res.level_weights)
    th, s, b = res.theta.to_numpy(), np.sqrt(res.scale), res.params.to_numpy()
    H1 = vcov._hessian(th, s, b, stats, res.theta_map, [0, 1, 2])
    orig = vcov._steps
    try:
        vcov._steps = lambda *a: orig(*a) / 2
        H2 = vcov._hessian(th, s, b, stats, res.theta_map, [0, 1, 2])
    finally:
        vcov._steps = orig
    assert np.max(np.abs(H1 - H2)) < 1e-8 * np.max(np.abs(H1))
    assert profiled(th, stats, res.theta_map).loglik == pytest.approx(res.llf, rel=1e-14)


def test_rank_check_fast_path_agrees_with_pivoted_qr():
    """check_rank skips the pivoted QR when the eigenvalues of the scaled X'X prove full rank; on
    random designs with columns near-collinear at every scale it refuses exactly the designs the
    QR rule written out here refuses (|r_ii| ≤ 1e-7 max |r_ii|, or an all-zero column)."""
    import scipy.linalg
    from lsa.mixed.formula import check_rank

    def qr_refuses(X):
        G = X.T @ X
        d0 = np.sqrt(np.maximum(np.diag(G), 1e-300))
        ev, Q = np.linalg.eigh(G / np.outer(d0, d0))
        _, R, _ = scipy.linalg.qr(np.sqrt(np.maximum(ev, 0))[:, None] * Q.T, pivoting=True)
        d = np.abs(np.diag(R))
        return bool(np.any(np.diag(G) == 0) or np.any(d <= d.max() * 1e-7))

    rng = np.random.default_rng(16)
    refused = 0
    for _ in range(3000):
        n, p = int(rng.integers(5, 60)), int(rng.integers(2, 8))
        X = rng.normal(size=(n, p)) * 10.0 ** rng.uniform(-3, 3, size=p)
        j, k = rng.choice(p, 2, replace=False)
        X[:, j] = X[:, k] * rng.normal() + 10.0 ** rng.uniform(-12, -2) * rng.normal(size=n) * np.abs(X[:, k]).max()
        if rng.random() < 0.1:
            X[:, j] = 0.0
        try:
            check_rank(X, tuple(f"x{i}" for i in range(p)))
            ok = True
        except FormulaError:
            ok = False
        assert ok != qr_refuses(X)
        refused += not ok
    assert 500 < refused < 2500                   # both outcomes well represented


def test_unused_levels_follow_each_frames_level_order():
    """A factor's unused levels are dropped as pandas' remove_unused_categories drops them, and the
    kept levels (whose dtype is reused between calls) follow each column's own order: the same
    levels in another order give the other reference level (R's treatment coding)."""
    d = read_reference_csv("sch25")
    hi = np.where(d.ses > 0, "hi", "lo")
    a = d.assign(f=pd.Categorical(hi, categories=["x", "hi", "lo", "y"]))
    b = d.assign(f=pd.Categorical(hi, categories=["x", "lo", "hi", "y"]))
    fa, fb = mixed("math ~ ses + f + (1 | schid)", a), mixed("math ~ ses + f + (1 | schid)", b)
    assert list(fa.params.index) == ["(Intercept)", "ses", "flo"]
    assert list(fb.params.index) == ["(Intercept)", "ses", "fhi"]
    ref = mixed("math ~ ses + f + (1 | schid)", a.assign(f=a.f.cat.remove_unused_categories()))
    pd.testing.assert_series_equal(fa.params, ref.params, check_exact=True)
    assert fa.params["flo"] == pytest.approx(-fb.params["fhi"], rel=1e-6)


def test_repeated_fits_share_no_mutable_labels():
    """Fits of one formula reuse its parsed form and its term names; the Index objects they hand
    out are their own (naming one leaves another fit's tables alone)."""
    d = read_reference_csv("sch25")
    f1, f2 = (mixed("math ~ ses + (1 + ses | schid)", d, reml=True) for _ in range(2))
    f1.params.index.name = "term"
    f1.theta.index.name = "theta"
    assert f2.params.index.name is None and f2.theta.index.name is None
    assert f2.cov_params().index.name is None and f2.cov_params().columns.name is None
    assert f1.params.index.dtype == pd.Index(["(Intercept)"]).dtype
    pd.testing.assert_series_equal(f1.params.rename_axis(None), f2.params, check_exact=True)


def test_random_slope_on_a_zero_column_is_refused():
    """A random-effect column that is zero in every group (rank 0 everywhere) is not identified,
    also for a term of one column (its rank is read from the diagonal)."""
    d = read_reference_csv("sch25").assign(z=0.0)
    with pytest.raises(DesignError, match=r"random-effect columns \['z'\] of \(z \| schid\) are linearly dependent"):
        mixed("math ~ ses + (0 + z | schid)", d)
