"""Benchmark: small problems against R, and the fixed cost of a call (issue 16 items 5-6).

Run:  python benchmarks/bench_small.py [--quick]

1. Small fits against R's times recorded on this machine by tests/reference/small_problem_times.R
   (its JSON: median and minimum of 50 calls after warm-up, one BLAS thread):
   * CR2 + Satterthwaite df for an OLS fit on the 25-school data set sch25 (546 students):
     ``lsa.robust.clustered`` vs ``lm`` + ``clubSandwich::coef_test(vcov = "CR2")``;
   * GEE gaussian, exchangeable, on sch25: ``lsa.robust.gee`` vs ``geepack::geeglm``;
   * REML fits: ``lsa.mixed(..., reml=True)`` vs ``lme4::lmer`` (sch25 random intercept and
     random slope; PISA 2012 USA random intercept, 3,136 students).
   Each lsa result is first checked against R's (estimates 1e-5 relative, SEs 1e-4 relative:
   iterative fits), then timed the same way (median and minimum of repeated calls). Target:
   none slower than R (ratio R / lsa >= 1 on the medians).
2. The per-call overhead: the call's time minus the time of its bare numerical core run on
   prepared arrays: for ``lsa.mean`` on a 200-row design with 20 JK1 replicates, the weighted
   means of all weight columns (one matrix product); for the CR2 fit, OLS by QR plus the
   per-cluster CR2 adjustment, the sandwich and the Satterthwaite df in numpy (what the R call
   timed in part 1 computes); for the REML fits, the per-cluster sufficient statistics
   (``lsa.mixed.fit.build_stats``: the one pass over the rows) and the engine's optimiser
   (``lsa.mixed.fit.optimize``) on them, from the prebuilt model matrices. What is left is the
   fixed cost of a call: formula, validation, model frame, result assembly. The variance
   components' sandwich (a numerical Hessian) is computed when first read, so it is in
   neither. Target: <= 2 ms.
3. The Dask speed-up is in benchmarks/bench_dask.py.

``--quick``: fewer repetitions (the times mean nothing; the agreement checks still run).
Set OPENBLAS_NUM_THREADS=1 for timing runs (done below before numpy is imported).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import lsa  # noqa: E402
from lsa.mixed.fit import build_stats, level_weights, optimize  # noqa: E402
from lsa.mixed.formula import model_frame, parse_formula  # noqa: E402
from lsa.mixed.pml import ThetaMap  # noqa: E402

from _common import REF, quick_requested, read_reference_csv  # noqa: E402

QUICK = quick_requested()
REPS = 5 if QUICK else 50


def timed(fn, reps: int = REPS) -> tuple[float, float]:
    """(median, minimum) seconds of ``reps`` calls after two warm-up calls."""
    fn(), fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), min(ts)


def rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.abs(b)))


def bare_cr2(y, X, cl):
    """OLS, its CR2 sandwich and the Satterthwaite df of each coefficient in plain numpy (Bell &
    McCaffrey 2002; Pustejovsky & Tipton 2018, eq. 11, with W = Theta = I): the arithmetic floor
    of what clubSandwich's timed ``coef_test(..., test = "Satterthwaite")`` returns.

    E_j = A_j X_j M (M = (X'X)^-1, A_j = (I - H_jj)^-1/2); for coefficient c, a_j = E_j e_c,
    d_j = X_j' a_j, P_jl = [j = l] a_j'a_j - d_j' M d_l and df_c = tr(P)^2 / sum P_jl^2."""
    Q, R = np.linalg.qr(X)
    beta = np.linalg.solve(R, Q.T @ y)
    e = y - X @ beta
    bread = np.linalg.inv(R.T @ R)
    meat = np.zeros((X.shape[1], X.shape[1]))
    E, Xs = [], []
    for g in np.unique(cl):
        idx = cl == g
        Xg, Qg = X[idx], Q[idx]
        val, vec = np.linalg.eigh(np.eye(idx.sum()) - Qg @ Qg.T)
        A = (vec / np.sqrt(np.maximum(val, 1e-12))) @ vec.T
        u = Xg.T @ (A @ e[idx])
        meat += np.outer(u, u)
        E.append(A @ Xg @ bread)
        Xs.append(Xg)
    df = np.empty(X.shape[1])
    for c in range(X.shape[1]):
        a = [Ej[:, c] for Ej in E]
        D = np.array([Xg.T @ aj for Xg, aj in zip(Xs, a)])            # (G, p)
        P = np.diag([aj @ aj for aj in a]) - D @ bread @ D.T
        df[c] = np.trace(P) ** 2 / np.sum(P * P)
    return beta, bread @ meat @ bread, df


def main() -> None:
    ref = json.loads((REF / "small_problem_times.json").read_text())["cases"]
    sch = read_reference_csv("sch25").sort_values("schid", kind="stable").reset_index(drop=True)
    pisa = read_reference_csv("pisa2012")
    rows = []

    def compare(name, fn, check):
        res = fn()
        check(res, ref[name]["result"])
        med, mn = timed(fn)
        r_med, r_min = ref[name]["time_median_s"], ref[name]["time_min_s"]
        rows.append((name, med, mn, r_med, r_min))

    def check_lm(res, r):
        assert rel(res.params, r["estimate"]) < 1e-5 and rel(res.bse, r["se"]) < 1e-4, (res.params, r)

    cr2_formula = "math ~ ses + male + minority + mses + mhmwk"
    compare("cr2_lm_sch25", lambda: lsa.robust.clustered(cr2_formula, sch, cluster="schid", type="CR2"), check_lm)
    compare("gee_gaussian_sch25", lambda: lsa.robust.gee("math ~ ses + male + minority", sch, cluster="schid"),
            check_lm)

    def check_mixed(res, r):
        assert rel(res.params, r["estimate"]) < 1e-5 and rel(res.bse_model, r["se"]) < 1e-4, (res.params, r)

    mixed_cases = {"lmer_reml_sch25_ri": (f"{cr2_formula} + (1|schid)", sch),
                   "lmer_reml_sch25_rs": (f"{cr2_formula} + (1 + ses|schid)", sch),
                   "lmer_reml_pisa2012_ri": ("pv1math ~ escs + st04q01 + (1|schoolid)", pisa)}
    for name, (formula, data) in mixed_cases.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compare(name, lambda f=formula, d=data: lsa.mixed(f, d, reml=True), check_mixed)

    print(f"1. small fits against R (R times: tests/reference/small_problem_times.json){' -- quick mode' * QUICK}")
    print(f"   {'case':<24}{'lsa median':>12}{'lsa min':>10}{'R median':>10}{'R min':>9}{'R/lsa (median)':>16}")
    for name, med, mn, r_med, r_min in rows:
        print(f"   {name:<24}{med * 1e3:10.2f}ms{mn * 1e3:8.2f}ms{r_med * 1e3:8.2f}ms{r_min * 1e3:7.2f}ms"
              f"{r_med / med:15.2f}x")
    slower = [r[0] for r in rows if r[1] > r[3]]
    print(f"   slower than R (median): {slower or 'none'}")

    # 2. per-call overhead
    rng = np.random.default_rng(16)
    d = pd.DataFrame({"y": rng.normal(size=200), "w": 1 + rng.random(200), "sch": np.repeat(np.arange(20), 10)})
    des = lsa.SurveyDesign(d, ids={"school": "sch"}, weights={"student": "w"}).with_replicates("jk1")
    W = des.weight_matrix()                              # (n, 1 + R): full-sample weight, then replicates
    yv = d["y"].to_numpy()
    mean_res = lsa.mean(des, "y")
    assert abs(float(mean_res.params.iloc[0]) - float(W[:, 0] @ yv / W[:, 0].sum())) < 1e-10
    over = [("lsa.mean, 200 rows x 21 weights", timed(lambda: lsa.mean(des, "y"))[1],
             timed(lambda: (yv @ W) / W.sum(axis=0))[1])]
    y, X = sch["math"].to_numpy(float), np.column_stack([np.ones(len(sch))] + [sch[c].to_numpy(float) for c in
                                                                                ("ses", "male", "minority",
                                                                                 "mses", "mhmwk")])
    cl = sch["schid"].to_numpy()
    beta, V, dfs = bare_cr2(y, X, cl)
    fit = lsa.robust.clustered(cr2_formula, sch, cluster="schid", type="CR2")
    assert rel(fit.params, beta) < 1e-8 and rel(fit.bse, np.sqrt(np.diag(V))) < 1e-6
    assert rel(fit.df, dfs) < 1e-6 and rel(dfs, ref["cr2_lm_sch25"]["result"]["df"]) < 1e-4, (fit.df, dfs)
    over.append(("clustered CR2, sch25", timed(lambda: lsa.robust.clustered(cr2_formula, sch, cluster="schid",
                                                                            type="CR2"))[1],
                 timed(lambda: bare_cr2(y, X, cl))[1]))
    for name, (formula, data) in mixed_cases.items():
        parsed = parse_formula(formula)
        frame = model_frame(parsed, data)
        unit = level_weights(frame, data, None, False, "none", None)
        tmap = ThetaMap.from_blocks(frame.blocks)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            full = timed(lambda f=formula, d=data: lsa.mixed(f, d, reml=True))[1]
        core = timed(lambda fr=frame, t=tmap, u=unit: optimize(build_stats(fr, u), t, True))[1]
        over.append((f"mixed REML {name[10:]}", full, core))
    print("2. per-call overhead = call - bare numerical core (minimum times)")
    print(f"   {'call':<34}{'call':>10}{'core':>10}{'overhead':>11}")
    for name, full, core in over:
        print(f"   {name:<34}{full * 1e3:8.2f}ms{core * 1e3:8.2f}ms{(full - core) * 1e3:9.2f}ms")


if __name__ == "__main__":
    main()
