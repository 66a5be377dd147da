"""lsa.impute: multilevel-aware MI with plausible values (issue 6). Simulated data, known truth."""

import warnings
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

import lsa
import lsa.impute as li
from lsa import pooling
from lsa.errors import DesignError, LsaError, MissingDataWarning

FORMULA = "y ~ x + g + z + (1|school)"


def simulate(seed=7, J=40, nj=25, n_pvs=3):
    """Two-level data: level-1 x (cluster component), categorical g, level-2 z; outcome PVs;
    MAR missingness driven by PV 1 (x missing for high y, g for low y, z for high-y schools)."""
    rng = np.random.default_rng(seed)
    n = J * nj
    cl = np.repeat(np.arange(1, J + 1), nj)
    z = rng.normal(0, 1, J)
    x = rng.normal(0, 0.6, J)[cl - 1] + 0.3 * z[cl - 1] + rng.normal(0, 1, n)
    g = rng.choice(3, n, p=[0.5, 0.3, 0.2])
    eta = 1 + 0.5 * x + 0.4 * z[cl - 1] - 0.3 * (g == 1) + 0.3 * (g == 2) + rng.normal(0, 0.7, J)[cl - 1]
    pv = np.column_stack([eta + rng.normal(0, 1, n) for _ in range(n_pvs)])
    df = pd.DataFrame({"school": cl, "x": x, "g": pd.Categorical.from_codes(g, ["a", "b", "c"]),
                       "z": z[cl - 1], "w": np.exp(rng.normal(0, 0.3, n)), "wsch": 1.0,
                       **{f"pv{k + 1}y": pv[:, k] for k in range(n_pvs)}})
    full = df.copy()
    ys = (pv[:, 0] - pv[:, 0].mean()) / pv[:, 0].std()
    df.loc[rng.random(n) < 1 / (1 + np.exp(1.5 - 1.5 * ys)), "x"] = np.nan
    df.loc[rng.random(n) < 1 / (1 + np.exp(2.2 + 1.0 * ys)), "g"] = np.nan
    ym = pd.Series(ys).groupby(cl).transform("mean").to_numpy()[::nj]
    zmiss = rng.random(J) < 1 / (1 + np.exp(1.8 - 1.5 * (ym - ym.mean()) / ym.std()))
    df.loc[zmiss[cl - 1], "z"] = np.nan
    return full, df


@pytest.fixture(scope="module")
def sim():
    return simulate()


@pytest.fixture(scope="module")
def imp1(sim):
    """One PV, m = 5."""
    _, df = sim
    return li.impute(df, m=5, cluster="school", level2=["z"], pvs=["pv1y"], weight="w", variables=["x", "g"],
                     seed=3, iterations=5, progress=False)


@pytest.fixture(scope="module")
def imp_pv(sim):
    """Three PVs × 2 imputations."""
    _, df = sim
    return li.impute(df, m=2, cluster="school", level2=["z"], pvs=["pv1y", "pv2y", "pv3y"], weight="w",
                     variables=["x", "g"], seed=11, iterations=3, progress=False)


def _fit(formula, df):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingDataWarning)
        return lsa.mixed(formula, df)


# -- known truth ------------------------------------------------------------------------------

def test_mi_removes_most_listwise_bias(sim):
    """One data set, m = 10 (with m = 5 the between-imputation noise of the pooled estimates,
    mostly of z, is of the order of the margin of the check)."""
    full, df = sim
    truth = _fit("pv1y ~ x + g + z + (1|school)", full).params        # complete-data estimates
    listwise = _fit("pv1y ~ x + g + z + (1|school)", df).params
    imp = li.impute(df, m=10, cluster="school", level2=["z"], pvs=["pv1y"], weight="w", variables=["x", "g"],
                    seed=3, iterations=5, progress=False)
    pooled = li.pool(li.analyze(imp, FORMULA)).params
    err_lw = np.abs(listwise.to_numpy() - truth.to_numpy())
    err_mi = np.abs(pooled.to_numpy() - truth.to_numpy())
    assert err_mi.sum() < 0.5 * err_lw.sum()
    assert err_mi[0] < 0.5 * err_lw[0]  # the intercept: most biased under listwise deletion


TRUTH = np.array([1.0, 0.5, -0.3, 0.3, 0.4])   # generating values of simulate(): 1, x, g[b], g[c], z
COVERAGE_REPS = 40


def _coverage_rep(r):
    """One replication of the coverage study: MI (m = 5) and listwise deletion on one data set."""
    _, df = simulate(seed=5000 + r, J=40, nj=20, n_pvs=1)
    imp = li.impute(df, m=5, cluster="school", level2=["z"], pvs=["pv1y"], weight="w", variables=["x", "g"],
                    seed=r, iterations=5, progress=False)
    p = li.pool(li.analyze(imp, FORMULA)).fixed
    cover_mi = np.abs(p.estimate.to_numpy() - TRUTH) <= (p.conf_high - p.estimate).to_numpy()
    lw = _fit("pv1y ~ x + g + z + (1|school)", df)
    cover_lw = np.abs(lw.params.to_numpy() - TRUTH) <= 1.96 * lw.bse.to_numpy()
    return p.estimate.to_numpy(), cover_mi, lw.params.to_numpy(), cover_lw


def test_mi_coverage_near_nominal():
    """Monte-Carlo check of 95 % interval coverage against the generating parameters, R = 40
    replications (J = 40 schools × 20 students, MAR missingness in x, g and z driven by the
    outcome; m = 5, 5 iterations). Monte-Carlo SE of one coefficient's coverage at the nominal
    rate: sqrt(0.95·0.05/40) = 0.034, so each coefficient must cover ≥ 0.95 − 3·0.034 = 0.847;
    the average over the 5 coefficients must be ≥ 0.95 − 3·SE, with SE the larger of the
    independent-coefficient value sqrt(0.95·0.05/200) = 0.015 and the SE of the per-replication
    averages (coefficients of one replication are correlated). Listwise deletion, for contrast,
    covers the intercept and x far less often (its bias is several SEs)."""
    from joblib import Parallel, delayed

    out = Parallel(n_jobs=2)(delayed(_coverage_rep)(r) for r in range(COVERAGE_REPS))
    est = np.array([o[0] for o in out])
    cov_mi = np.array([o[1] for o in out], dtype=float)
    cov_lw = np.array([o[3] for o in out], dtype=float)
    mcse = np.sqrt(0.95 * 0.05 / COVERAGE_REPS)
    per_coef = cov_mi.mean(axis=0)
    assert (per_coef >= 0.95 - 3 * mcse).all(), per_coef
    se_avg = max(np.sqrt(0.95 * 0.05 / cov_mi.size), cov_mi.mean(axis=1).std(ddof=1) / np.sqrt(COVERAGE_REPS))
    assert cov_mi.mean() >= 0.95 - 3 * se_avg, (cov_mi.mean(), se_avg)
    # the check has power: listwise deletion under-covers the intercept and the slope of x
    assert cov_lw.mean(axis=0)[:2].max() < 0.95 - 3 * mcse, cov_lw.mean(axis=0)
    # MI bias of the slope of x: small relative to listwise deletion's
    lw_bias = np.array([o[2] for o in out]).mean(axis=0) - TRUTH
    mi_bias = est.mean(axis=0) - TRUTH
    assert abs(mi_bias[1]) < 0.5 * abs(lw_bias[1])


def test_reproducible_and_independent_of_n_jobs(sim):
    _, df = sim
    kw = dict(m=2, cluster="school", level2=["z"], pvs=["pv1y"], weight="w", variables=["x", "g"], iterations=2,
              progress=False)
    a = li.impute(df, seed=3, **kw)
    b = li.impute(df, seed=3, **kw)
    par = li.impute(df, seed=3, n_jobs=2, **kw)
    for x, y, z in zip(a, b, par):
        pd.testing.assert_frame_equal(x, y)
        pd.testing.assert_frame_equal(x, z)
    np.testing.assert_array_equal(a.trace.values, par.trace.values)
    other = li.impute(df, seed=4, **kw)
    assert not a[0]["x"].equals(other[0]["x"])


def test_completed_data_structure(sim, imp1):
    _, df = sim
    for out in imp1:
        assert list(out.columns) == list(df.columns) + ["y"]
        assert len(out) == len(df) and out.index.equals(df.index)
        assert out[["x", "g", "z"]].notna().all().all()
        # observed values untouched
        obs = df["x"].notna()
        np.testing.assert_array_equal(out.loc[obs, "x"], df.loc[obs, "x"])
        assert (out.loc[df["g"].notna(), "g"] == df.loc[df["g"].notna(), "g"]).all()
        # categorical stays categorical with the same levels
        assert isinstance(out["g"].dtype, pd.CategoricalDtype)
        assert list(out["g"].cat.categories) == ["a", "b", "c"]
        # a level-2 variable is constant within cluster
        assert out.groupby("school")["z"].nunique().max() == 1
        np.testing.assert_array_equal(out["y"], df["pv1y"])
    # imputations differ between data sets
    assert not imp1[0]["x"].equals(imp1[1]["x"])


def test_pv_loop_tags(sim, imp_pv):
    _, df = sim
    assert len(imp_pv) == 6 and imp_pv.shape == (3, 2)
    assert imp_pv.pv_index.tolist() == [1, 1, 2, 2, 3, 3]
    assert imp_pv.imp_index.tolist() == [1, 2, 1, 2, 1, 2]
    for p, i, out in imp_pv.items():
        np.testing.assert_array_equal(out["y"], df[f"pv{p}y"])
    long = imp_pv.long()
    assert len(long) == 6 * len(df) and set(long[".pv"]) == {1, 2, 3}
    assert [len(x) for x in imp_pv.by_pv()] == [2, 2, 2]
    assert imp_pv.trace.values.shape[:3] == (6, 4, len(imp_pv.trace.series))


def test_flat_and_nested_pooling_match_lsa_pooling(imp_pv):
    fits = li.analyze(imp_pv, FORMULA)
    Q = np.vstack([f.params.to_numpy() for f in fits])
    U = np.stack([f.cov_params().to_numpy() for f in fits])
    k = Q.shape[1]
    flat = li.pool(fits, method="flat")
    ref = pooling.rubin(Q, U, df_complete=fits[0].nobs - k)
    np.testing.assert_allclose(flat.fixed.estimate, ref.estimate, rtol=1e-12)
    np.testing.assert_allclose(flat.fixed.std_error, ref.std_error, rtol=1e-12)
    np.testing.assert_allclose(flat.fixed.df, ref.df, rtol=1e-12)
    rubin87 = li.pool(fits, df_complete=None)
    np.testing.assert_allclose(rubin87.fixed.df, pooling.rubin(Q, U).df, rtol=1e-12)
    nested = li.pool(fits, method="nested")
    ref_n = pooling.nested(Q.reshape(3, 2, k), U.reshape(3, 2, k, k))
    np.testing.assert_allclose(nested.fixed.std_error, ref_n.std_error, rtol=1e-12)
    np.testing.assert_allclose(nested.fixed.df, ref_n.df, rtol=1e-12)
    # variance components pooled as mixPV: estimate with SE² as within variance
    vq = np.vstack([f.variance_components.estimate.to_numpy() for f in fits])
    vu = np.vstack([f.variance_components.std_error.to_numpy() ** 2 for f in fits])
    rv = pooling.rubin(vq, vu, df_complete=fits[0].nobs - vq.shape[1])
    np.testing.assert_allclose(flat.random.std_error, rv.std_error, rtol=1e-12)
    assert list(flat.random.term) == ["school.(Intercept)", "Residual"]
    # order of the results does not matter for nested pooling
    perm = [5, 0, 3, 1, 4, 2]
    shuffled = li.Analyses([fits[j] for j in perm], fits.pv_index[perm], fits.imp_index[perm])
    np.testing.assert_allclose(li.pool(shuffled, "nested").fixed.std_error, ref_n.std_error, rtol=1e-12)
    assert "nested" in str(nested)


def test_from_long_roundtrip_and_user_imputations(imp_pv):
    long = imp_pv.long()
    back = li.from_long(long, imp=".imp", pv=".pv")
    assert back.pv_index.tolist() == imp_pv.pv_index.tolist()
    for a, b in zip(imp_pv, back):
        pd.testing.assert_frame_equal(a, b)
    # mice-style long data with the original as .imp == 0 and an .id column
    mice_long = pd.concat([imp_pv[0].assign(**{".imp": 0, ".id": range(len(imp_pv[0]))})]
                          + [imp_pv[k].assign(**{".imp": k + 1, ".id": range(len(imp_pv[0]))}) for k in range(2)])
    with pytest.warns(MissingDataWarning, match="excluded"):
        user = li.from_long(mice_long)
    assert len(user) == 2 and ".id" not in user[0].columns
    fits = li.analyze(user, lambda d: _fit(FORMULA, d))
    assert li.pool(fits).m == 2


def test_analysis_variable_absent_from_imputation_model_warns(imp1):
    frames = [d.assign(aux=np.arange(len(d)) % 7) for d in imp1[:1]]
    user = li.Imputed.from_frames(frames, variables=imp1.variables, cluster="school", weight="w", pv_column="y",
                                  pv_columns=("pv1y",))
    with pytest.warns(MissingDataWarning, match="aux"):
        li.analyze(user, FORMULA.replace("+ z", "+ z + aux"))


def test_design_input_and_completed_designs(sim):
    _, df = sim
    design = lsa.SurveyDesign(df, ids={"school": "school"}, weights={"student": "w", "school": "wsch"},
                              pvs={"Y": ["pv1y", "pv2y"]})
    imp = li.impute(design, m=1, level2=["z"], pvs="Y", variables=["x", "g"], seed=1, iterations=2,
                    progress=False)
    assert imp.cluster == "school" and imp.weight == "w" and imp.pv_column == "Y_pv"
    designs = imp.designs()
    assert len(designs) == 2 and designs[0].data["x"].notna().all()
    assert designs[0].pvs == design.pvs and designs[0].weights == design.weights
    assert design.data["x"].isna().any()  # the original is untouched


def test_convergence_summary_flags_unmixed_chains():
    rng = np.random.default_rng(0)
    vals = rng.normal(0, 1, (6, 101, 2, 2))
    vals[:3, :, 1, 0] += np.array([0, 5, 10])[:, None]   # PV 1: chains of series 2 far apart
    tr = li.Trace(vals, ["ok", "bad"], ["ok", "bad"], np.array([1, 1, 1, 2, 2, 2]), np.array([1, 2, 3] * 2))
    s = li.convergence_summary(tr)
    assert s.set_index("series").loc["bad", "flag"] and not s.set_index("series").loc["ok", "flag"]
    assert s.set_index("series").loc["bad", "worst_pv"] == 1
    # R-hat by hand for one cell
    x = vals[:3, 51:, 0, 0]
    n = x.shape[1]
    w = x.var(axis=1, ddof=1).mean()
    b = n * x.mean(axis=1).var(ddof=1)
    assert li.rhat(tr).loc[1, ("ok", "mean")] == pytest.approx(np.sqrt(((n - 1) / n * w + b / n) / w))
    ET.fromstring(li.trace_svg(tr))


def test_trace_from_pipeline(imp1):
    s = li.convergence_summary(imp1.trace)
    assert set(s.variable) == {"x", "g", "z"}
    assert set(s.series) == {"x", "g[b]", "g[c]", "z"}
    svg = li.trace_svg(imp1.trace, series=["x", "z"])
    ET.fromstring(svg)
    assert imp1.trace.frame().shape[0] == 5 * 6 * 4


def test_diagnostics_numbers():
    df = pd.DataFrame({"c": [1, 1, 2, 2, 2], "a": [1.0, np.nan, 3.0, np.nan, 5.0],
                       "b": ["u", "v", None, "v", "u"], "k": [1, 2, 3, 4, 5]})
    rep = li.diagnose(df, cluster="c")
    assert rep.variables.loc["a", "share_missing"] == pytest.approx(0.4)
    assert rep.variables.loc["b", "n_missing"] == 1
    assert rep.complete_share == pytest.approx(0.4)
    assert rep.suggested_m == 60
    assert rep.by_cluster.loc[1, "share_incomplete"] == pytest.approx(0.5)
    assert rep.by_cluster.loc[2, "miss_b"] == pytest.approx(1 / 3)
    assert rep.patterns["count"].sum() == 5 and rep.patterns["count"].iloc[0] == 2
    ET.fromstring(rep.pattern_svg())
    assert "number to impute: 60" in str(rep)
    assert li.suggested_m(1.0) == 1


# -- bad input --------------------------------------------------------------------------------

def test_bad_input(sim):
    _, df = sim
    kw = dict(m=1, cluster="school", weight="w", iterations=1, progress=False)
    with pytest.raises(DesignError, match="nope"):
        li.impute(df, variables=["x", "nope"], **kw)
    bad = df.copy()
    bad.loc[bad["z"].first_valid_index(), "z"] = 99.0
    with pytest.raises(DesignError, match="'z' varies within 1 cluster"):
        li.impute(bad, level2=["z"], variables=["x"], **kw)
    bad = df.copy()
    bad.loc[[3, 4], "school"] = np.nan
    with pytest.raises(DesignError, match="cluster id 'school' has 2 missing"):
        li.impute(bad, variables=["x"], **kw)
    bad = df.assign(empty=np.nan)
    with pytest.raises(DesignError, match=r"\['empty'\] are entirely missing"):
        li.impute(bad, variables=["x", "empty"], **kw)
    bad = df.copy()
    bad.loc[7, "w"] = np.nan
    with pytest.raises(DesignError, match="weight 'w' has 1 missing"):
        li.impute(bad, variables=["x"], **kw)
    with pytest.raises(DesignError, match="PV set"):
        li.impute(df, pvs="Y", variables=["x"], **kw)
    with pytest.raises(LsaError, match="m must be"):
        li.impute(df, variables=["x"], **{**kw, "m": 0})
    with pytest.raises(LsaError, match="numeric must be 'norm'"):
        li.impute(df, variables=["x"], numeric="cart", **kw)
    with pytest.raises(LsaError, match="nested pooling needs"):
        li.pool([_fit("pv1y ~ z + (1|school)", df.dropna())] * 2, method="nested", pv_index=[1, 1],
                imp_index=[1, 2])


def test_no_pvs_gives_m_sets_and_keeps_string_columns_categorical(sim):
    _, df = sim
    d = df.assign(g=df["g"].astype(object))
    imp = li.impute(d, m=2, cluster="school", weight="w", variables=["x", "g", "pv1y"], seed=5, iterations=2,
                    progress=False)
    assert len(imp) == 2 and imp.pv_column is None and imp.pv_index.tolist() == [1, 1]
    assert isinstance(imp[0]["g"].dtype, pd.CategoricalDtype) and imp[0]["g"].notna().all()
    assert imp.info["converted_to_category"] == ["g"]
    assert list(imp[0].columns) == list(d.columns)


def test_norm_draw_is_the_bayesian_linear_model():
    """The linear-normal draw: over many draws, the imputations' mean line and spread match the
    regression (dummy-coded categorical predictor, a predictor with missing values, a constant
    column dropped); the spread of the drawn lines reflects the posterior of β."""
    from lsa.impute.pipeline import _norm_draw

    rng = np.random.default_rng(1)
    n = 400
    f = pd.DataFrame({"a": rng.normal(0, 1, n), "c": pd.Categorical.from_codes(rng.integers(0, 3, n), list("pqr")),
                      "k": 2.0})
    y = 1 + 2 * f["a"].to_numpy() + np.array([0, 1, -1])[f["c"].cat.codes] + rng.normal(0, 0.5, n)
    f.loc[:9, "a"] = np.nan                       # mean-filled + indicator
    new = pd.DataFrame({"a": [0.0, 3.0], "c": pd.Categorical(["p", "r"], categories=list("pqr")), "k": 2.0})
    rs = np.random.RandomState(0)
    draws = np.array([_norm_draw(f, y, new, rs) for _ in range(4000)])
    a = f["a"].to_numpy()
    X = np.column_stack([np.ones(n), np.nan_to_num(a, nan=np.nanmean(a)), np.isnan(a), f["c"] == "q", f["c"] == "r"])
    beta = np.linalg.lstsq(X.astype(float), y, rcond=None)[0]
    np.testing.assert_allclose(draws.mean(axis=0), [beta[0], beta[0] + 3 * beta[1] + beta[4]], atol=0.03)
    sd = draws.std(axis=0)
    assert 0.48 < sd[0] < 0.56 and sd[1] > sd[0]          # residual SD 0.5, more uncertainty far out
    one = _norm_draw(f, y, new, np.random.RandomState(5))
    np.testing.assert_array_equal(one, _norm_draw(f, y, new, np.random.RandomState(5)))


def test_numeric_methods(sim):
    """numeric="norm" (default) extrapolates beyond the observed range where the observed cases
    imply it (x is missing mostly for high outcomes); "pmm" only draws observed values."""
    _, df = sim
    kw = {"m": 2, "cluster": "school", "level2": ["z"], "pvs": ["pv1y"], "weight": "w", "variables": ["x", "g"],
          "seed": 3, "iterations": 3, "progress": False}
    norm, pmm = li.impute(df, **kw), li.impute(df, numeric="pmm", **kw)
    assert norm.info["numeric"] == "norm" and pmm.info["numeric"] == "pmm"
    miss = df["x"].isna()
    obs = set(df.loc[~miss, "x"])
    for d in pmm:
        assert set(d.loc[miss, "x"]) <= obs
    for d in norm:
        assert not set(d.loc[miss, "x"]) & obs
        assert d.groupby("school")["z"].nunique().max() == 1 and not set(d.loc[df["z"].isna(), "z"]) & set(df["z"])
    assert max(d.loc[miss, "x"].max() for d in norm) > max(obs) or min(d.loc[miss, "x"].min() for d in norm) < min(obs)
    assert not norm[0]["x"].equals(norm[1]["x"])
