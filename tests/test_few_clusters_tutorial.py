"""The few-clusters tutorial (docs/tutorials/few_clusters.py and .md), and the simulator.

Oracles, none of them lsa's own earlier output:

* Monte Carlo with a known null (the true treatment effect is 0): over 400 data sets with 10
  clusters of unequal size (a fixed seed), the rejection rate of CR2 + Satterthwaite at the 5%
  level lies within the central 99.9% binomial interval of the nominal 5% (Bell & McCaffrey 2002;
  Pustejovsky & Tipton 2018; Huang 2025, EPM), while CR0 with G - 1 df over-rejects: its rate is
  above that interval's upper end. No timing assertion.
* The tutorial's worked example: every SE, df and p-value it prints, and the ones lsa computes,
  against a dense n x n computation written out here from the definitions (the sandwich with
  A_j = I, (I - H_jj)^{-1/2}, (I - H_jj)^{-1}; Satterthwaite df of Pustejovsky & Tipton 2018, eq. 11
  with the working model Phi = I, as clubSandwich for OLS); lsa to 1e-8 of the SE, printed numbers
  to half a unit of their last digit; the effective numbers of clusters from their closed forms.
"""

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from lsa.datasets.clustered import cluster_sizes, simulate_clustered
from lsa.errors import LsaError

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "docs" / "tutorials"


def _load_tutorial():
    spec = importlib.util.spec_from_file_location("few_clusters", TUTORIAL / "few_clusters.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_tutorial_study_rejection_rates_under_a_known_null():
    fc = _load_tutorial()
    reps, alpha = 400, 0.05
    res = fc.run_study(n_clusters=(10,), size_cv=(1.0,), reps=reps, seed=11, cluster_size=15)
    rate = res.set_index("method")["rate"]
    assert res["mc_se"].iloc[0] == pytest.approx(np.sqrt(alpha * (1 - alpha) / reps), rel=1e-12)
    # central 99.9% interval of the number of rejections when the true rate is alpha
    low = stats.binom.ppf(0.0005, reps, alpha) / reps
    high = stats.binom.isf(0.0005, reps, alpha) / reps
    assert low <= rate["CR2"] <= high, (rate["CR2"], low, high)    # CR2 + Satterthwaite: nominal
    assert rate["CR0"] > high, (rate["CR0"], high)                   # CR0 with G - 1 df over-rejects
    assert rate["OLS"] > high                                        # ignoring the clustering: worse
    # CR1S has the same df as CR0 and a larger SE, so it rejects a subset of what CR0 rejects
    assert rate["CR1S"] <= rate["CR0"]
    assert fc.wide(res).shape == (1, 2 + len(fc.METHODS))


def test_simulate_clustered_basics():
    d = simulate_clustered(n_clusters=12, cluster_size=25, icc=0.3, effect=0.4, seed=5)
    assert len(d) == 300 and d.cluster.nunique() == 12
    assert d.groupby("cluster").treat.nunique().max() == 1          # treatment at cluster level
    assert d.groupby("cluster").treat.first().sum() == 6
    assert d.attrs["truth"]["treat"] == 0.4
    big = simulate_clustered(n_clusters=400, cluster_size=50, icc=0.3, beta_x=0.0, seed=1)
    # one-way ANOVA estimate of the ICC
    m = big.groupby("cluster").y.mean()
    within = big.y.sub(big.cluster.map(m)).pow(2).sum() / (len(big) - 400)
    tau = m.var() - within / 50
    assert tau / (tau + within) == pytest.approx(0.3, abs=0.04)
    again = simulate_clustered(n_clusters=12, cluster_size=25, icc=0.3, effect=0.4, seed=5)
    assert d.equals(again)


def test_unequal_sizes_and_assignment():
    s = cluster_sizes(2000, 30, size_cv=1.0, seed=3)
    assert s.min() >= 2 and s.mean() == pytest.approx(30, rel=0.05)
    assert s.std() / s.mean() == pytest.approx(1.0, abs=0.1)
    assert list(cluster_sizes(3, [5, 6, 7])) == [5, 6, 7]
    d = simulate_clustered(n_clusters=10, cluster_size=[5] * 8 + [50, 60], treat_prop=0.2,
                           assign="largest", seed=2)
    assert sorted(d.loc[d.treat == 1, "size"].unique()) == [50, 60]
    h = simulate_clustered(n_clusters=200, cluster_size=100, icc=0.0, sd_ratio=2.0, beta_x=0, seed=4)
    sd = h.groupby("treat").y.std()
    assert sd[1] / sd[0] == pytest.approx(2.0, rel=0.05)
    for bad in (dict(icc=1.0), dict(treat_prop=0.0), dict(n_clusters=1), dict(size_cv=-1),
                dict(assign="nope"), dict(cluster_size=[3, 4])):
        args = dict(n_clusters=5, cluster_size=10) | bad
        with pytest.raises(LsaError):
            simulate_clustered(**args)


def _dense_cluster_robust(X, y, cluster, cov_type):
    """(vcov, Satterthwaite df) of OLS with n x n matrices, from the definitions:
    V = c M [sum_j X_j' A_j e_j e_j' A_j' X_j] M with M = (X'X)^{-1}; df_k = tr(P)^2 / sum(P * P)
    with P = G_k' G_k, column j of G_k = (I - H)_{., j} A_j X_j M e_k (Pustejovsky & Tipton 2018)."""
    n, p = X.shape
    M = np.linalg.inv(X.T @ X)
    IH = np.eye(n) - X @ M @ X.T
    e = IH @ y
    labels = np.unique(cluster)
    meat, blocks = np.zeros((p, p)), []
    for lab in labels:
        idx = np.flatnonzero(cluster == lab)
        d, q = np.linalg.eigh(IH[np.ix_(idx, idx)])
        power = {"CR0": 0.0, "CR1S": 0.0, "CR2": -0.5, "CR3": -1.0}[cov_type]
        A = (q * d**power) @ q.T
        u = X[idx].T @ A @ e[idx]
        meat += np.outer(u, u)
        blocks.append(IH[:, idx] @ A @ X[idx] @ M)
    G = len(labels)
    c = G * (n - 1) / ((G - 1) * (n - p)) if cov_type == "CR1S" else 1.0
    V = c * M @ meat @ M
    df = np.empty(p)
    for k in range(p):
        Gk = np.column_stack([b[:, k] for b in blocks])
        P = Gk.T @ Gk
        df[k] = np.trace(P) ** 2 / np.sum(P * P)
    return V, df


def _printed_table(md: str):
    """The worked example's table in few_clusters.md: {method: (se, df, p) as printed strings}."""
    rows = re.findall(r"^\| (CR\w+) +\| ([\d.]+) +\| ([\d.]+) +\| ([\d.]+) \|$", md, flags=re.M)
    return {m: (se, df, p) for m, se, df, p in rows}


def _half_unit(printed: str) -> float:
    return 0.5 * 10.0 ** -len(printed.partition(".")[2]) + 1e-12


def test_tutorial_worked_example_against_dense_computation():
    """The single data set of few_clusters.md: lsa and the printed table against the dense oracle."""
    from lsa.robust import clustered, effective_clusters_simple

    d = simulate_clustered(n_clusters=10, cluster_size=30, icc=0.1, size_cv=1.0, seed=7)
    sizes = d.groupby("cluster").size().to_numpy()
    assert sorted(sizes) == [2, 6, 9, 17, 17, 21, 27, 31, 84, 102]   # as printed in the tutorial
    kish = sizes.sum() ** 2 / np.sum(sizes.astype(float) ** 2)      # (sum N_g)^2 / sum N_g^2
    assert effective_clusters_simple(d.cluster) == pytest.approx(kish, rel=1e-12)
    assert kish == pytest.approx(4.92, abs=5e-3)                     # printed to 2 decimals

    X = np.column_stack([np.ones(len(d)), d.treat.to_numpy(float), d.x.to_numpy(float)])
    y, cl, G = d.y.to_numpy(float), d.cluster.to_numpy(), d.cluster.nunique()
    r = clustered("y ~ treat + x", d, cluster="cluster", type="CR2")
    printed = _printed_table((TUTORIAL / "few_clusters.md").read_text())
    assert set(printed) == {"CR0", "CR1S", "CR2", "CR3"}
    for cov_type, df_method in [("CR0", "naive"), ("CR1S", "naive"), ("CR2", "satterthwaite"),
                                ("CR3", "satterthwaite")]:
        V, satt = _dense_cluster_robust(X, y, cl, cov_type)
        se = np.sqrt(V[1, 1])
        df = G - 1 if df_method == "naive" else satt[1]
        p = 2 * stats.t.sf(abs(r.beta[1] / se), df)
        row = r.with_vcov(cov_type, df_method).tidy().iloc[1]
        assert row.term == "treat"
        assert row.std_error == pytest.approx(se, rel=1e-8)          # closed form: 1e-8 of the SE
        assert row.df == pytest.approx(df, rel=1e-8)
        assert row.p_value == pytest.approx(p, rel=1e-6)             # t tail on a non-integer df
        se_txt, df_txt, p_txt = printed[cov_type]                    # the tutorial's printed numbers
        assert abs(float(se_txt) - se) <= _half_unit(se_txt), (cov_type, se_txt, se)
        assert abs(float(df_txt) - df) <= _half_unit(df_txt), (cov_type, df_txt, df)
        assert abs(float(p_txt) - p) <= _half_unit(p_txt), (cov_type, p_txt, p)

    # Carter, Schnepel & Steigerwald (2017): G* = G / (1 + Gamma), Gamma = mean((g_j - mean g)^2) / mean(g)^2,
    # g_j = (e_k' M X_j' 1)^2 (perfect within-cluster correlation); the tutorial prints 2.6 for treat
    M = np.linalg.inv(X.T @ X)
    g = np.array([(M @ X[cl == lab].sum(axis=0))[1] ** 2 for lab in np.unique(cl)])
    g_star = G / (1 + np.mean((g - g.mean()) ** 2) / g.mean() ** 2)
    assert r.effective_clusters()["treat"] == pytest.approx(g_star, rel=1e-10)
    assert g_star == pytest.approx(2.6, abs=0.05)
