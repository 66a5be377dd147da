"""Benchmark of the multiple-imputation pipeline (issue 6).

``python benchmarks/bench_impute.py belgium [--m 20 --pvs 10 --iterations 20 --jobs 2]``
    the full Belgium pipeline (spec §6.2: 10 PVs × 20 imputations), timing and pooled results
    next to the reference R-6.1 (Blimp; stochastic) and listwise deletion.
``python benchmarks/bench_impute.py coverage [--reps 100]``
    a Monte-Carlo check on simulated clustered data with MAR missingness: bias of listwise
    deletion and of MI, and coverage of 95 % intervals (with its Monte-Carlo SE).
``python benchmarks/bench_impute.py [belgium|coverage] --quick``
    both (or the one named) end to end on small sizes: Belgium with 1 PV x 2 imputations,
    2 iterations; coverage with 2 replications of 20 schools x 10 students, m = 2 (checks the
    pipeline runs; the numbers mean nothing).
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

import lsa
import lsa.impute as li

from _common import quick_requested

R61 = {"(Intercept)": (496.875, 10.737), "genderFemale": (-19.495, 2.315), "escs": (18.878, 1.724),
       "immig2Second-Generation": (-22.306, 3.622), "immig2First-Generation": (-26.349, 4.598),
       "stubeha": (-37.677, 5.536), "lackstaffVery little": (28.116, 13.967),
       "lackstaffTo some extent": (9.227, 14.198), "lackstaffA lot": (21.613, 17.975),
       "cntschid.(Intercept)": (2878.599, 377.836), "Residual": (4353.262, 163.942)}
FORMULA = "math ~ gender + escs + immig2 + stubeha + lackstaff + (1|cntschid)"


def belgium(m: int, n_pvs: int, iterations: int, jobs: int, seed: int = 1234, numeric: str = "norm",
            n_schools: int | None = None) -> None:
    df = lsa.datasets.load("pisa2018_bel_wmiss")
    if n_schools:  # quick mode: the first schools only
        df = df[df.cntschid.isin(df.cntschid.unique()[:n_schools])].reset_index(drop=True)
    pvs = [f"pv{i}math" for i in range(1, n_pvs + 1)]
    t0 = time.perf_counter()
    imp = li.impute(df, m=m, cluster="cntschid", level2=["stubeha", "lackstaff"], pvs=pvs, weight="w_fstuwt",
                    variables=["gender", "escs", "immig2"], seed=seed, iterations=iterations, n_jobs=jobs,
                    numeric=numeric, progress=not n_schools)
    t1 = time.perf_counter()
    fits = li.analyze(imp, FORMULA, weights=["w_fstuwt", "w_schgrnrabwt"], n_jobs=jobs)
    t2 = time.perf_counter()
    flat = li.pool(fits, "flat")
    nested = li.pool(fits, "nested") if n_pvs > 1 and m > 1 else None
    print(f"impute: {t1 - t0:.1f} s; analyse: {t2 - t1:.1f} s; total {t2 - t0:.1f} s "
          f"({len(imp)} data sets, {iterations} iterations, n_jobs={jobs}, numeric={numeric!r})")
    conv = li.convergence_summary(imp.trace)
    print("max R-hat per series:\n", conv[["series", "rhat_max", "flag"]].to_string(index=False))
    tab = flat.tidy().set_index("term")
    ref = pd.DataFrame(R61, index=["ref_est", "ref_se"]).T
    out = tab[["estimate", "std_error", "df"]].join(ref)
    out["diff_in_ref_se"] = (out.estimate - out.ref_est) / out.ref_se
    out["se_ratio"] = out.std_error / out.ref_se
    if nested is not None:
        out["nested_se"] = nested.tidy().set_index("term")["std_error"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lw = li.pool(li.analyze(li.Imputed.from_frames(
            [df.assign(math=df[p]) for p in pvs], pv_index=range(1, n_pvs + 1), imp_index=[1] * n_pvs), FORMULA,
            weights=["w_fstuwt", "w_schgrnrabwt"]))
    out["listwise"] = lw.tidy().set_index("term")["estimate"]
    with pd.option_context("display.width", 200):
        print(out.round(3).to_string())


def simulate(seed: int, J: int = 40, nj: int = 25):
    """Clustered data with a level-2 z, level-1 x and categorical g; y depends on all; MAR on y."""
    rng = np.random.default_rng(seed)
    n = J * nj
    cl = np.repeat(np.arange(1, J + 1), nj)
    z = rng.normal(0, 1, J)
    x = rng.normal(0, 0.6, J)[cl - 1] + 0.3 * z[cl - 1] + rng.normal(0, 1, n)
    g = rng.choice(3, n, p=[0.5, 0.3, 0.2])
    eta = 1 + 0.5 * x + 0.4 * z[cl - 1] - 0.3 * (g == 1) + 0.3 * (g == 2) + rng.normal(0, 0.7, J)[cl - 1]
    y = eta + rng.normal(0, 1, n)
    df = pd.DataFrame({"school": cl, "x": x, "g": pd.Categorical.from_codes(g, ["a", "b", "c"]),
                       "z": z[cl - 1], "w": np.exp(rng.normal(0, 0.3, n)), "y": y})
    full = df.copy()
    ys = (y - y.mean()) / y.std()
    df.loc[rng.random(n) < 1 / (1 + np.exp(1.5 - 1.5 * ys)), "x"] = np.nan
    df.loc[rng.random(n) < 1 / (1 + np.exp(2.2 + 1.0 * ys)), "g"] = np.nan
    ym = pd.Series(ys).groupby(cl).transform("mean").to_numpy()[::nj]
    zmiss = rng.random(J) < 1 / (1 + np.exp(1.8 - 1.5 * (ym - ym.mean()) / ym.std()))
    df.loc[zmiss[cl - 1], "z"] = np.nan
    return full, df


TRUTH = pd.Series({"(Intercept)": 1.0, "x": 0.5, "g[T.b]": -0.3, "g[T.c]": 0.3, "z": 0.4})


def coverage(reps: int, m: int = 10, iterations: int = 5, numeric: str = "norm", J: int = 40, nj: int = 25) -> None:
    f = "y ~ x + g + z + (1|school)"
    rows = []
    t0 = time.perf_counter()
    for r in range(reps):
        full, df = simulate(1000 + r, J=J, nj=nj)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cc = lsa.mixed(f, df)
            fu = lsa.mixed(f, full)
        imp = li.impute(df, m=m, cluster="school", level2=["z"], weight="w", variables=["x", "g", "y"], seed=r,
                        iterations=iterations, progress=False, numeric=numeric)
        p = li.pool(li.analyze(imp, f)).fixed.set_index("term")
        names = list(p.index)
        truth = TRUTH.reindex(names, fill_value=np.nan).to_numpy()
        if np.isnan(truth).any():  # patsy names differ: map by position
            truth = TRUTH.to_numpy()
        for k, nm in enumerate(names):
            ccse = cc.bse.iloc[k]
            rows.append({"rep": r, "term": nm, "truth": truth[k], "full": fu.params.iloc[k],
                         "listwise": cc.params.iloc[k], "mi": p.estimate.iloc[k],
                         "cover_mi": abs(p.estimate.iloc[k] - truth[k]) <= p.conf_high.iloc[k] - p.estimate.iloc[k],
                         "cover_lw": abs(cc.params.iloc[k] - truth[k]) <= 1.96 * ccse,
                         "cover_full": abs(fu.params.iloc[k] - truth[k]) <= 1.96 * fu.bse.iloc[k]})
    res = pd.DataFrame(rows)
    g = res.groupby("term", sort=False)
    summ = pd.DataFrame({"bias_full": g.apply(lambda d: (d.full - d.truth).mean()),
                         "bias_listwise": g.apply(lambda d: (d.listwise - d.truth).mean()),
                         "bias_mi": g.apply(lambda d: (d.mi - d.truth).mean()),
                         "mcse_bias_mi": g.apply(lambda d: (d.mi - d.truth).std() / np.sqrt(len(d))),
                         "cover_full": g.cover_full.mean(), "cover_listwise": g.cover_lw.mean(),
                         "cover_mi": g.cover_mi.mean()})
    summ["mcse_cover"] = np.sqrt(0.95 * 0.05 / reps)
    print(f"{reps} replications, m = {m}, {iterations} iterations, numeric={numeric!r}, "
          f"{time.perf_counter() - t0:.0f} s")
    print(summ.round(3).to_string())


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("what", nargs="?", choices=["belgium", "coverage"],
                    help="required unless --quick (which runs both when none is named)")
    ap.add_argument("--m", type=int, default=20)
    ap.add_argument("--pvs", type=int, default=10)
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--reps", type=int, default=100)
    ap.add_argument("--numeric", choices=["norm", "pmm"], default="norm",
                    help="imputation method of numeric variables (lsa.impute.impute(numeric=...))")
    ap.add_argument("--quick", action="store_true", help="small sizes, end to end in seconds (or LSA_BENCH_QUICK=1)")
    a = ap.parse_args()
    if quick_requested():
        print("quick mode: small sizes (the numbers mean nothing)")
        if a.what in (None, "belgium"):
            belgium(2, 1, 2, 1, numeric=a.numeric, n_schools=30)
        if a.what in (None, "coverage"):
            coverage(2, m=2, iterations=1, numeric=a.numeric, J=20, nj=10)
    elif a.what is None:
        ap.error("name what to run: belgium or coverage (or use --quick)")
    elif a.what == "belgium":
        belgium(a.m, a.pvs, a.iterations, a.jobs, numeric=a.numeric)
    else:
        coverage(a.reps, m=min(a.m, 10), iterations=min(a.iterations, 5), numeric=a.numeric)
