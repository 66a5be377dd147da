"""The few-clusters tutorial (docs/tutorials/few_clusters.py) at a small size, and the simulator.

Qualitative result checked (Huang 2025, EPM; Bell & McCaffrey 2002; Pustejovsky & Tipton 2018):
with few (10) clusters of unequal size, CR0 and CR1S with G - 1 df over-reject a true null,
CR2 with Satterthwaite df stays close to the nominal 5%. 500 replications: the Monte Carlo SE
of a 5% rate is 0.0097; the bounds below leave >= 2.5 Monte Carlo SEs of room around the
rates of the full study (docs/tutorials/few_clusters.md: CR0 0.152, CR1S 0.134, CR2 0.054).
"""

import importlib.util
import time
from pathlib import Path

import numpy as np
import pytest

from lsa.datasets.clustered import cluster_sizes, simulate_clustered
from lsa.errors import LsaError

ROOT = Path(__file__).resolve().parents[1]


def _load_tutorial():
    spec = importlib.util.spec_from_file_location("few_clusters", ROOT / "docs" / "tutorials" / "few_clusters.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_tutorial_small_study():
    fc = _load_tutorial()
    t0 = time.perf_counter()
    res = fc.run_study(n_clusters=(10,), size_cv=(1.0,), reps=500, seed=11)
    elapsed = time.perf_counter() - t0
    rate = res.set_index("method")["rate"]
    mcse = res["mc_se"].iloc[0]
    assert mcse == pytest.approx(np.sqrt(0.05 * 0.95 / 500))
    # CR0 / CR1S with G - 1 df over-reject (full study: 0.152 / 0.134)
    assert rate["CR0"] > 0.05 + 3 * mcse
    assert rate["CR1S"] > 0.05 + 2 * mcse
    # CR2 + Satterthwaite close to nominal (full study: 0.054)
    assert 0.05 - 3 * mcse < rate["CR2"] < 0.05 + 3 * mcse
    # ordering: ignoring clustering >> CR0 >= CR1S >= CR2 >= CR3 (CR3 conservative)
    assert rate["OLS"] > rate["CR0"] >= rate["CR1S"] >= rate["CR2"] >= rate["CR3"]
    assert fc.wide(res).shape == (1, 2 + len(fc.METHODS))
    assert elapsed < 30


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


def test_tutorial_worked_example_numbers():
    """The single data set shown in few_clusters.md (printed to 3 decimals / 1 for df)."""
    from lsa.robust import clustered, effective_clusters_simple

    d = simulate_clustered(n_clusters=10, cluster_size=30, icc=0.1, size_cv=1.0, seed=7)
    assert sorted(d.groupby("cluster").size()) == [2, 6, 9, 17, 17, 21, 27, 31, 84, 102]
    assert effective_clusters_simple(d.cluster) == pytest.approx(4.92, abs=5e-3)
    r = clustered("y ~ treat + x", d, cluster="cluster", type="CR2")
    printed = {("CR0", "naive"): (0.160, 9, 0.011), ("CR1S", "naive"): (0.169, 9, 0.015),
               ("CR2", "satterthwaite"): (0.214, 3.8, 0.082),
               ("CR3", "satterthwaite"): (0.310, 2.7, 0.212)}
    for (cov_type, df), (se, dfv, p) in printed.items():
        row = r.with_vcov(cov_type, df).tidy().iloc[1]
        assert row.std_error == pytest.approx(se, abs=5e-4)
        assert row.df == pytest.approx(dfv, abs=5e-2)
        assert row.p_value == pytest.approx(p, abs=5e-4)
    assert r.effective_clusters()["treat"] == pytest.approx(2.6, abs=0.05)
