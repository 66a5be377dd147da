"""All countries at once on the synthetic PISA-2022-shaped file (issue 16 item 6, first three).

``lsa.datasets.simulate_international()``: 80 countries, ~600,000 students in ~21,000 schools,
10 PVs, 80 Fay replicates nested within CNT, 300 background columns. Steps, each timed in this run:

(a) ``lsa.mean(design, "MATH", by="CNT")`` against the floor: the bare numpy products
    Y_c' W_c of each country's PV matrix (n_c × 10) with its weight matrix (n_c × 81), the
    blocks extracted beforehand (target: within 3× of the floor, under 5 s). Also shown: the
    former cost model — a masked n × 81 product per country — measured on 4 countries and
    scaled to all;
(b) ``lsa.lm(design, "MATH ~ ESCS", by="CNT")`` (target: under 3 s);
(c) ``lsa.mix_pv("MATH ~ ESCS + (1|school)", design, by="CNT", n_jobs=2)``: random intercept,
    10 PVs, sandwich SEs, every country (target: under 30 s on 2 cores), and the serial time of
    a subset of countries scaled to all;
(d) peak memory of each step (tracemalloc, a fresh design, the parent process) against the
    bytes of the columns it analyses (target: at most 3×).

"first" is the first call on a fresh design (it converts the replicate columns to float once,
per country; the estimator modules are loaded before, untimed: ``import lsa`` is lazy and their
one-time import, mostly scipy.stats, is printed apart); "repeat" the best of 3 later calls. Checks (assertions): the means from the floor
products equal lsa's (1e-10), one country's regression equals its single-country design
(1e-10). Timings are noisy when other work shares the machine; ratios are taken in the same run.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_international.py [--quick]

``--quick``: 6 countries, 12,000 students, 30 background columns (checks the code path).

Measured (full size, OPENBLAS_NUM_THREADS=1, 2 cores shared with other work, load ~1-2; 30 Nov
2026): simulate 5.6 s; (a) mean by CNT 0.128 s repeat = 2.2x the 0.058 s floor, first call 0.94 s
(the masked n x 81 product per country, the former cost model: 44.9 s); (b) lm 0.32 s; (c)
mix_pv by CNT with n_jobs=2 14.8 s (13.2 s with the workers running), serial 8.0 s scaled from 8
countries — with other processes on the 2 cores the second worker gains nothing (on a quiet
machine, load < 1: 9.3 s with n_jobs=2 against 12.4 s serial); (d) peaks 1.16x, 1.28x and 2.22x
the bytes of the columns analysed.
"""

from __future__ import annotations

import gc
import time
import tracemalloc
import warnings

import numpy as np

import lsa
from lsa.datasets import simulate_international

from _common import best_of, quick_requested


def _floor(sim) -> tuple[float, np.ndarray]:
    """Bare products Y_c' W_c per country (blocks extracted first) and the pooled means."""
    d = sim.data
    w = d[["W_FSTUWT", *sim.replicate_columns]].to_numpy()
    y = d[list(sim.pv_columns)].to_numpy()
    codes = d["CNT"].cat.codes.to_numpy()
    starts = np.flatnonzero(np.diff(codes, prepend=-1))
    blocks = [(y[a:b], w[a:b]) for a, b in zip(starts, np.append(starts[1:], len(d)))]
    t, prods = best_of(lambda: [yc.T @ wc for yc, wc in blocks])
    means = np.array([p[:, 0].mean() / wc[:, 0].sum() for p, (_, wc) in zip(prods, blocks)])
    return t, means


def _masked(sim, n: int = 4) -> float:
    """The former cost model: for each country an n × 81 weight matrix zeroed outside it,
    multiplied with the n × 10 PV matrix; measured on ``n`` countries, scaled to all."""
    d = sim.data
    w = d[["W_FSTUWT", *sim.replicate_columns]].to_numpy()
    y = d[list(sim.pv_columns)].to_numpy()
    codes = d["CNT"].cat.codes.to_numpy()
    t = time.perf_counter()
    for c in range(n):
        wm = w * (codes == c)[:, None]
        y.T @ wm
        np.ones(len(d)) @ wm
    return (time.perf_counter() - t) / n * len(sim.truth)


def _peak(fn) -> tuple[float, object]:
    gc.collect()
    tracemalloc.start()
    out = fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak, out


def _bytes(sim, cols) -> int:
    return int(sim.data[list(cols)].memory_usage(index=False, deep=True).sum())


def main(quick: bool = False) -> None:
    size = (dict(n_countries=6, n_students=12_000, n_schools=420, n_background=30) if quick else
            dict(n_countries=80, n_students=600_000, n_schools=21_000, n_background=300))
    t = time.perf_counter()
    sim = simulate_international(**size, seed=2022)
    t_sim = time.perf_counter() - t
    n, c = len(sim.data), len(sim.truth)
    print(f"simulate_international: {n:,} students, {sim.truth.n_schools.sum():,} schools, {c} countries, "
          f"{sim.data.shape[1]} columns, {sim.data.memory_usage(deep=True).sum() / 1e9:.2f} GB, {t_sim:.1f} s")
    rep = list(sim.replicate_columns)
    pvs = list(sim.pv_columns)

    # (a) mean by country ------------------------------------------------------------------------------
    t = time.perf_counter()
    lsa.mean, lsa.lm                     # import lsa is lazy: load the estimators (scipy.stats) once, untimed
    t_import = time.perf_counter() - t
    t = time.perf_counter()
    design = sim.design()
    t_design = time.perf_counter() - t
    t = time.perf_counter()
    res = lsa.mean(design, "MATH", by="CNT")
    t_first = time.perf_counter() - t
    t_rep, res = best_of(lambda: lsa.mean(design, "MATH", by="CNT"))
    t_floor, floor_means = _floor(sim)
    err = np.max(np.abs(res.tidy()["estimate"].to_numpy() - floor_means) / np.abs(floor_means))
    assert err < 1e-10, err
    t_masked = _masked(sim, min(4, c))
    print(f"\n(a) mean by CNT, {len(pvs)} PVs x {1 + len(rep)} weights per country (design built in {t_design:.2f} s; "
          f"loading the estimator modules, once per session: {t_import:.2f} s)")
    print(f"    lsa first call {t_first:.3f} s, repeat {t_rep:.3f} s; floor (bare Y_c'W_c products) {t_floor:.3f} s")
    print(f"    ratio to the floor: repeat {t_rep / t_floor:.1f}x, first {t_first / t_floor:.1f}x (target <= 3x, < 5 s); "
          f"a masked n x 81 product per country (a reconstruction of the former cost model) {t_masked:.2f} s; "
          f"max rel. diff {err:.1e}")

    # (b) regression by country --------------------------------------------------------------------
    t = time.perf_counter()
    reg = lsa.lm(design, "MATH ~ ESCS", by="CNT")
    t_lm_first = time.perf_counter() - t
    t_lm, reg = best_of(lambda: lsa.lm(design, "MATH ~ ESCS", by="CNT"))
    first = sim.truth["CNT"].iloc[0]
    one = lsa.lm(sim.design(data=sim.data[sim.data.CNT == first].reset_index(drop=True)), "MATH ~ ESCS").tidy()
    got = reg.tidy()
    got = got[got.CNT == first]
    err = float(np.max(np.abs(got[["estimate", "std_error"]].to_numpy() - one[["estimate", "std_error"]].to_numpy())
                       / np.abs(one[["estimate", "std_error"]].to_numpy())))
    assert err < 1e-10, err
    print(f"\n(b) lm MATH ~ ESCS by CNT: first {t_lm_first:.3f} s, repeat {t_lm:.3f} s (target < 3 s); "
          f"one country vs its own design: max rel. diff {err:.1e}")

    # (c) mix_pv by country -------------------------------------------------------------------------
    formula = "MATH ~ ESCS + (1|school)"
    sub_c = min(8, c)
    keep = sim.data.CNT.isin(sim.truth.CNT.iloc[:sub_c])
    sub = sim.design(data=sim.data[keep].reset_index(drop=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        lsa.mix_pv(formula, sub, by="CNT", n_jobs=1, progress=False)
        t_serial = (time.perf_counter() - t) / sub_c * c
        t = time.perf_counter()
        mx = lsa.mix_pv(formula, design, by="CNT", n_jobs=2, progress=False)
        t_mx = time.perf_counter() - t
        t = time.perf_counter()
        again = lsa.mix_pv(formula, design, by="CNT", n_jobs=2, progress=False)
        t_again = time.perf_counter() - t
    assert len(mx) == c
    pd_equal = mx.tidy().equals(again.tidy())
    assert pd_equal
    print(f"\n(c) mix_pv {formula!r}, {len(pvs)} PVs, sandwich SEs, {c} countries, n_jobs=2: {t_mx:.1f} s "
          f"(starting the 2 workers), {t_again:.1f} s again (workers running) (target < 30 s); serial "
          f"(n_jobs=1), from {sub_c} countries scaled: {t_serial:.1f} s")

    # (d) peak memory -----------------------------------------------------------------------------
    print("\n(d) peak memory (tracemalloc, fresh design, first call; parent process only for mix_pv)")
    base = ["CNT", "CNTSCHID", "W_FSTUWT"]
    steps = [("mean by CNT", lambda d: lsa.mean(d, "MATH", by="CNT"), base + rep + pvs),
             ("lm by CNT", lambda d: lsa.lm(d, "MATH ~ ESCS", by="CNT"), base + rep + pvs + ["ESCS"]),
             ("mix_pv by CNT", lambda d: lsa.mix_pv(formula, d, by="CNT", n_jobs=2, progress=False),
              base + ["W_SCHGRNRABWT", "ESCS"] + pvs)]
    for name, fn, cols in steps:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            peak, _ = _peak(lambda: fn(sim.design()))
        b = _bytes(sim, cols)
        print(f"    {name:14s} peak {peak / 1e6:8.1f} MB; columns analysed ({len(cols)}) {b / 1e6:8.1f} MB; "
              f"ratio {peak / b:.2f}x (target <= 3x)")
    if quick:
        print("\nquick mode: small sizes, one run each; the times say nothing about speed")


if __name__ == "__main__":
    main(quick_requested())
