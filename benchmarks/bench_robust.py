"""Benchmark: CR2 + Satterthwaite df computed cluster by cluster vs a dense n x n implementation.

Run:  python benchmarks/bench_robust.py [--large-naive]

1. PISA 2012 USA (tests/reference/data/pisa2012.csv; 3,136 students, 157 schools):
   ``pv1math ~ escs + st04q01`` -- lsa.robust.clustered vs lsa.robust._naive.naive_cr2_ols
   (the R CR2::clustSE way: n x n hat matrix), timed in the same run; the ratio is printed and
   the two results are checked to agree to 1e-8.
2. A simulated three-level-sized data set (8,466 rows, 18 clusters, as the crct stacked data on
   which R's satdf did not finish in 15 minutes). The dense version needs ~1.5 GB and is run only
   with --large-naive.
R timings for reference (cr2_clustse_lm.json): clustSE on pisa2012 0.32 s; robust_mixed 5.3 s.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lsa.robust import clustered  # noqa: E402
from lsa.robust._naive import naive_cr2_ols  # noqa: E402
from lsa.robust.formula import build_design, read_reference_csv  # noqa: E402


def best_of(fn, repeat=3):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def compare(label, formula, data, cluster, repeat=3, naive=True):
    t_fast, r = best_of(lambda: clustered(formula, data, cluster=cluster, type="CR2"), repeat)
    print(f"{label}: n = {len(data)}, G = {data[cluster].nunique()}")
    print(f"  cluster-by-cluster CR2 + Satterthwaite df: {t_fast:8.3f} s")
    if not naive:
        return
    d = build_design(formula, data)
    cl = data[cluster].to_numpy()[np.asarray(d.rows)]
    t_naive, (V, df) = best_of(lambda: naive_cr2_ols(d.X, d.y, cl), 1)
    print(f"  dense n x n implementation:                {t_naive:8.3f} s")
    print(f"  ratio naive / cluster-by-cluster:          {t_naive / t_fast:8.1f}x")
    np.testing.assert_allclose(r.cov, V, rtol=1e-8)
    np.testing.assert_allclose(r.df_values, df, rtol=1e-8)
    print("  results agree to 1e-8 relative")


def simulated(n_clusters=18, n=8466, seed=2025):
    rng = np.random.default_rng(seed)
    sizes = rng.multinomial(n - 2 * n_clusters, np.ones(n_clusters) / n_clusters) + 2
    g = np.repeat(np.arange(n_clusters), sizes)
    trt = (rng.random(n_clusters) < 0.5).astype(float)[g]
    x = rng.normal(size=n)
    time_ = rng.integers(0, 2, n).astype(float)
    y = 0.1 * x + 0.2 * trt + 0.05 * time_ + rng.normal(0, 0.3, n_clusters)[g] + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": x, "trt": trt, "time": time_, "g": g})


if __name__ == "__main__":
    pisa = read_reference_csv(ROOT / "tests" / "reference" / "data" / "pisa2012.csv")
    compare("PISA 2012 USA", "pv1math ~ escs + st04q01", pisa, "schoolid")
    sim = simulated()
    compare("simulated crct-sized (trt*time)", "y ~ x + trt * time", sim, "g",
            repeat=1, naive="--large-naive" in sys.argv)
