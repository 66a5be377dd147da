"""lsa.robust.clustered against R: CR2::clustSE and clubSandwich (tests/reference/cr2_clustse_lm.json).

Oracles: clubSandwich 0.5.8 vcovCR (CR0, CR1, CR1S, CR2) + coef_test (Satterthwaite, naive-t);
CR2 0.2.1 clustSE (between-within df, CR2 p-values). Closed-form: tolerance 1e-8 relative.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from lsa.robust import clustered
from lsa.robust._naive import naive_cr2_ols

from conftest import assert_cov_close, read_reference_csv

REF = Path(__file__).parent / "reference"
CLUSTSE = json.loads((REF / "cr2_clustse_lm.json").read_text())
MODELS = {"sch25": "schid", "crct": "usid", "pisa2012": "schoolid"}
RTOL = 1e-8  # closed-form results: 1e-8 relative


def _data(name):
    return read_reference_csv(REF / "data" / f"{name}.csv")


def _assert_p(actual, desired):
    """clustSE rounds to 22 decimals, so p < 1e-22 print as 0: compare the rest at 1e-8."""
    actual, desired = np.asarray(actual), np.asarray(desired, float)
    big = desired > 1e-20
    # 1e-8 relative, plus half a unit of clustSE's 22nd decimal
    np.testing.assert_allclose(actual[big], desired[big], rtol=RTOL, atol=1e-22)
    assert np.all(actual[~big] < 1e-20)


def _formula(name):
    call = CLUSTSE["models"][name]["r_call_fit"]
    return call.split("lm(")[1].split(", data")[0]


@pytest.fixture(scope="module", params=list(MODELS))
def model(request):
    name = request.param
    return name, _data(name), _formula(name), CLUSTSE["models"][name]


@pytest.mark.parametrize("cov_type", ["CR0", "CR1", "CR1S", "CR2"])
def test_vcov_and_satterthwaite_match_clubsandwich(model, cov_type):
    name, data, formula, ref = model
    r = clustered(formula, data, cluster=MODELS[name], type=cov_type, df="satterthwaite")
    cs = ref["clubSandwich"][cov_type]
    assert list(r.terms) == cs["vcov"]["rownames"]
    # estimates, vcov, SE, t, Satterthwaite df, p: 1e-8 relative
    np.testing.assert_allclose(r.params.to_numpy(), cs["satterthwaite"]["estimate"], rtol=RTOL)
    # vcov: each entry relative to se_i * se_j (off-diagonal covariances can be near 0)
    assert_cov_close(r.cov_params().to_numpy(), np.array(cs["vcov"]["values"]), RTOL)
    tab = r.tidy()
    np.testing.assert_allclose(tab.std_error, cs["satterthwaite"]["se"], rtol=RTOL)
    np.testing.assert_allclose(tab.statistic, cs["satterthwaite"]["t"], rtol=RTOL)
    np.testing.assert_allclose(tab.df, cs["satterthwaite"]["df"], rtol=RTOL)
    np.testing.assert_allclose(tab.p_value, cs["satterthwaite"]["p"], rtol=RTOL)


@pytest.mark.parametrize("cov_type", ["CR0", "CR2"])
def test_naive_df_matches_clubsandwich(model, cov_type):
    name, data, formula, ref = model
    r = clustered(formula, data, cluster=MODELS[name], type=cov_type, df="naive")
    cs = ref["clubSandwich"][cov_type]["naive_t"]
    np.testing.assert_allclose(r.df.to_numpy(), cs["df"], rtol=0)  # exact: G - 1
    np.testing.assert_allclose(r.pvalues.to_numpy(), cs["p"], rtol=RTOL)


def test_clustse_columns(model):
    """clustSE: CR0/CR1(=CR1S)/CR2 SEs, between-within df and p-values (CR2pv.n, CR0pv, CR2pv)."""
    name, data, formula, ref = model
    cs = ref["clustSE"]
    cl = MODELS[name]
    r2 = clustered(formula, data, cluster=cl, type="CR2", df="bell-mccaffrey")
    np.testing.assert_allclose(r2.bse.to_numpy(), cs["CR2"], rtol=RTOL)
    np.testing.assert_allclose(r2.tvalues.to_numpy(), cs["tCR2"], rtol=RTOL)
    _assert_p(r2.pvalues, cs["CR2pv"])
    np.testing.assert_allclose(r2.df.to_numpy(), cs["dfBM"], atol=0.005)  # clustSE rounds dfBM to 2 dp
    np.testing.assert_allclose(r2.se_model.to_numpy(), cs["se.unadj"], rtol=RTOL)
    # clustSE's CR0 p-values use the CR2-based dfBM (our "bell-mccaffrey" df)
    r0 = r2.with_vcov("CR0")
    assert r0.df_method == "bell-mccaffrey"
    np.testing.assert_allclose(r0.bse.to_numpy(), cs["CR0"], rtol=RTOL)
    _assert_p(r0.pvalues, cs["CR0pv"])
    r1 = r2.with_vcov("CR1S")
    np.testing.assert_allclose(r1.bse.to_numpy(), cs["CR1"], rtol=RTOL)
    _assert_p(r1.pvalues, cs["CR1pv"])
    bw = r2.with_vcov("CR2", df="between-within")
    np.testing.assert_array_equal(bw.df.to_numpy(), cs["dfn"])  # integers, exact
    _assert_p(bw.pvalues, cs["CR2pv.n"])


def test_cluster_by_cluster_equals_dense_nxn():
    """The per-cluster algebra equals the dense n x n computation (R's satdf/clustSE way)."""
    data = _data("sch25")
    r = clustered(_formula("sch25"), data, cluster="schid")
    from lsa.robust.formula import build_design

    d = build_design(_formula("sch25"), data)
    V, df = naive_cr2_ols(d.X, d.y, data["schid"].to_numpy())
    # same arithmetic, two layouts: 1e-10 of se_i * se_j (an off-diagonal entry is ~4e-5 of the
    # largest, so a plain rtol on it compares rounding noise; numpy 2.4.6 differs there by 1.1e-10)
    assert_cov_close(r.cov, V, 1e-10)
    np.testing.assert_allclose(r.df_values, df, rtol=1e-10)


def test_cr3_matches_clubsandwich_and_huang_cr3():
    """Spec 11.4: crct LPM, clubSandwich CR3 and Huang's cr3(adj = TRUE) SEs (printed 8-10 digits)."""
    data = _data("crct")
    f = "odr_post ~ odr_pre + female + race_Hispanic + trt + size + stype_elem + stype_hs"
    r3 = clustered(f, data, cluster="usid", type="CR3")
    cs_cr3 = [0.073299768, 0.035879065, 0.016623390, 0.018254083, 0.035254165, 0.000138862,
              0.045809531, 0.039794685]
    np.testing.assert_allclose(r3.bse.to_numpy(), cs_cr3, rtol=5e-8)  # printed to 8 significant digits
    huang = [0.0712345701, 0.0348681841, 0.0161550313, 0.0177397796, 0.0342608903, 0.0001349496,
             0.0445188619, 0.0386734821]
    np.testing.assert_allclose(r3.with_vcov("CR3J").bse.to_numpy(), huang, rtol=0, atol=5e-11)  # 10 dp
    np.testing.assert_allclose(r3.with_vcov("CR3J").bse / r3.bse, np.sqrt(17 / 18), rtol=1e-12)


def test_wald_htz_single_constraint_is_satterthwaite_t():
    data = _data("sch25")
    r = clustered(_formula("sch25"), data, cluster="schid")
    w = r.wald_test(["mses"])
    assert w.df_denom == pytest.approx(r.df["mses"], rel=1e-10)
    assert w.statistic == pytest.approx(r.tvalues["mses"] ** 2, rel=1e-10)
    assert w.p_value == pytest.approx(r.pvalues["mses"], rel=1e-8)


def test_wald_htz_joint_equals_dense_computation():
    """HTZ for q = 2 against the dense n x n form of Pustejovsky & Tipton (2018, sec. 3.2)."""
    data = _data("sch25")
    r = clustered(_formula("sch25"), data, cluster="schid")
    w = r.wald_test(["mses", "mhmwk"])
    from lsa.robust._linalg import sym_power
    from lsa.robust.formula import build_design

    d = build_design(_formula("sch25"), data)
    X, cl = d.X, data["schid"].to_numpy()
    n, p = X.shape
    M = np.linalg.inv(X.T @ X)
    IH = np.eye(n) - X @ M @ X.T
    C = np.zeros((2, p))
    C[0, 3] = C[1, 4] = 1
    g = []  # g[j]: n x q
    for lab in np.unique(cl):
        idx = np.flatnonzero(cl == lab)
        A, _ = sym_power(IH[np.ix_(idx, idx)], -0.5)
        g.append(IH[:, idx] @ A @ X[idx] @ M @ C.T)
    P = np.einsum("ajs,alt->stjl", np.stack(g, axis=1), np.stack(g, axis=1))
    J = len(g)
    Om = sum(P[:, :, j, j] for j in range(J))
    On, _ = sym_power(Om, -0.5)
    B = np.einsum("as,stjl,tb->abjl", On, P, On)
    var = np.einsum("stjl,tsjl->st", B, B) + np.einsum("ssjl,ttjl->st", B, B)
    nu = 2 * 3 / var.sum()
    assert w.df_denom == pytest.approx(nu - 1, rel=1e-10)
    b = C @ r.beta
    Q = b @ np.linalg.solve(C @ r.cov @ C.T, b)
    assert w.Q == pytest.approx(Q, rel=1e-12)
    assert w.statistic == pytest.approx((nu - 1) / (2 * nu) * Q, rel=1e-10)
    chi = r.wald_test(["mses", "mhmwk"], test="chi2")
    assert chi.statistic == pytest.approx(Q, rel=1e-12) and np.isinf(chi.df_denom)
    nf = r.wald_test(["mses", "mhmwk"], test="naive-F")
    assert nf.df_denom == 24 and nf.statistic == pytest.approx(Q / 2, rel=1e-12)


def test_result_is_immutable_and_with_vcov_returns_new():
    data = _data("sch25")
    r = clustered(_formula("sch25"), data, cluster="schid")
    with pytest.raises(Exception):
        r.cov_type = "CR0"
    r0 = r.with_vcov("CR0")
    assert r.cov_type == "CR2" and r0.cov_type == "CR0"
    assert not np.allclose(r.cov, r0.cov)
    ci = r.conf_int()
    assert list(ci.columns) == ["conf_low", "conf_high"]
    assert "CR2" in r.summary() and "satterthwaite" in r.summary()


def test_statsmodels_results_in_place_of_formula():
    import statsmodels.formula.api as smf

    data = _data("crct")
    f = _formula("crct")
    ref = CLUSTSE["models"]["crct"]["clubSandwich"]["CR2"]["satterthwaite"]
    fit = smf.ols(f, data).fit()
    r = clustered(fit, data, cluster="usid")
    assert sorted(r.terms) == sorted(ref["term"])  # stype[T.es] -> stypees (patsy's column order)
    se = dict(zip(ref["term"], ref["se"]))
    dfs = dict(zip(ref["term"], ref["df"]))
    np.testing.assert_allclose(r.bse.to_numpy(), [se[t] for t in r.terms], rtol=RTOL)
    np.testing.assert_allclose(r.df.to_numpy(), [dfs[t] for t in r.terms], rtol=RTOL)
    r_arr = clustered(fit, cluster=data["usid"].to_numpy())
    assert_cov_close(r_arr.cov, r.cov, 1e-12)  # same data, passed as an array


def test_weighted_least_squares_invariances():
    """WLS: constant weights change nothing; W = diag(w), Theta = I working model (clubSandwich)."""
    data = _data("sch25")
    f = _formula("sch25")
    r = clustered(f, data, cluster="schid")
    rw = clustered(f, data.assign(w=3.0), cluster="schid", weights="w")
    assert_cov_close(rw.cov, r.cov, 1e-10)
    np.testing.assert_allclose(rw.df_values, r.df_values, rtol=1e-10)
    # non-constant weights: CR0 equals the textbook weighted sandwich, computed densely here
    rng = np.random.default_rng(7)
    w = rng.uniform(0.5, 2.0, len(data))
    r0 = clustered(f, data.assign(w=w), cluster="schid", weights="w", type="CR0")
    from lsa.robust.formula import build_design

    d = build_design(f, data)
    M = np.linalg.inv(d.X.T @ (w[:, None] * d.X))
    beta = M @ d.X.T @ (w * d.y)
    e = d.y - d.X @ beta
    meat = np.zeros((5, 5))
    for g in np.unique(data.schid):
        i = np.flatnonzero(data.schid.to_numpy() == g)
        u = d.X[i].T @ (w[i] * e[i])
        meat += np.outer(u, u)
    np.testing.assert_allclose(r0.beta, beta, rtol=1e-10)
    assert_cov_close(r0.cov, M @ meat @ M, 1e-10)
