"""Speed of ``lsa.mix_pv`` (weighted multilevel models over plausible values).

Cases (issue 4):

1. pisa2012, 5 PVs, random intercept (the mixPV model of the LSA2 post) — R: MLMusingR::mixPV
   ``time_fit_s`` of tests/reference/mixpv_pisa2012_ri.json (5 sequential WeMix fits).
2. Belgium PISA 2018, 10 PVs, complete cases (spec R-2.5) — R: 112 s (issue 4; the reference JSON
   has no time field for this case). Data: tests/reference/data/pisa2018_bel.csv.gz, else
   ../shared/data/pisa2018_bel/student.csv.
3. 10 PVs × 80 Fay replicate refits (se="replicate") on a simulated Belgium-sized sample
   (lsa.datasets.simulate, 280 schools × 30 students; the first 80 of its replicate columns, for
   timing). No R reference exists (WeMix has no replicate weights); issue target 30 s.

Baseline, measured in the same run: M independent ``lsa.mixed`` calls (no reuse of model frame
or sufficient statistics, cold starts), then pooling; for case 3 independent ``lsa.mixed``
refits with derived replicate weight columns, timed on 10 replicates × 10 PVs and scaled to 80.
Each time is the best of ``REPEAT`` runs. BLAS threads are limited to 1 (set before numpy is
imported; override by exporting OPENBLAS_NUM_THREADS): the engine's matrices are small (p + q + 1
columns), and multithreaded OpenBLAS on a loaded 2-core machine made every fit 10–20× slower.
The load average is printed with the results.

    python benchmarks/bench_mix_pv.py [--quick]

``--quick``: 2 PVs of pisa2012 (random intercept and slope), 5 Fay replicates, no Belgium, a
simulated sample of 40 schools x 10 students with 2 PVs x 5 replicates, one run each (checks the
code paths and the agreement with the naive loop; the times mean nothing).
"""
from __future__ import annotations

import os

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import lsa
from lsa.mix_pv import mix_pv
from lsa.mixed import mixed

from _common import REF, ROOT, quick_requested, read_reference_csv

BELGIUM = next((p for p in (REF / "data" / "pisa2018_bel.csv.gz",
                            ROOT.parent / "shared" / "data" / "pisa2018_bel" / "student.csv") if p.exists()),
               Path("pisa2018_bel-not-found"))
R_BELGIUM_S = 112.0       # issue 4: mixPV, 10 PVs, Belgium
REPEAT = 3


def best(fn, repeat=REPEAT):
    out, times = None, []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def pisa2012():
    return read_reference_csv("pisa2012")


def belgium():
    b = pd.read_csv(BELGIUM, dtype={"cntschid": str})
    for c, lv in {"gender": ["Male", "Female"], "immig2": ["Native", "Second-Generation", "First-Generation"],
                  "lackstaff": ["Not at all", "Very little", "To some extent", "A lot"]}.items():
        b[c] = pd.Categorical(b[c], categories=lv)
    return b


def naive(pvs, rhs, data, weights):
    fits = [mixed(f"{pv} ~ {rhs}", data, weights=weights) for pv in pvs]
    q = np.array([f.params.to_numpy() for f in fits])
    u = np.array([f.cov_params().to_numpy() for f in fits])
    return lsa.pooling.rubin(q, u, df_complete=fits[0].nobs - q.shape[1])


def row(name, t, r_time=None, t_naive=None):
    s = f"{name:<46} {t:8.3f} s"
    if r_time:
        s += f"   R {r_time:7.1f} s  (x{r_time / t:,.0f} faster)"
    if t_naive:
        s += f"   naive lsa.mixed loop {t_naive:7.3f} s  (x{t_naive / t:.1f})"
    return s


def main(quick: bool = False):
    global REPEAT
    warnings.simplefilter("ignore")
    if quick:
        REPEAT = 1
        print("quick mode: small sizes, one run each (the times mean nothing)")
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} cpus, "
          f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}")
    ref = json.loads((REF / "mixpv_pisa2012_ri.json").read_text())
    d = pisa2012()
    pvs = [f"pv{i}math" for i in range(1, 3 if quick else 6)]
    n_reps = 5 if quick else 80
    rhs = "st29q03 + sc14q02 + st04q01 + escs + (1|schoolid)"
    w = ["w_fstuwt", "w_fschwt"]
    t5, res5 = best(lambda: mix_pv(" + ".join(pvs) + " ~ " + rhs, d, weights=w))
    n5, pooled5 = best(lambda: naive(pvs, rhs, d, w))
    # pooled SEs of the two ways agree to 1e-6 (iterative fits; every SE is far from 0)
    np.testing.assert_allclose(res5.fixed.std_error, pooled5.std_error, rtol=1e-6)
    print(row(f"pisa2012, {len(pvs)} PVs, RI (mixPV LSA2 model)", t5, None if quick else ref["time_fit_s"], n5))
    rs = rhs.replace("(1|schoolid)", "(escs|schoolid)")
    t5s, _ = best(lambda: mix_pv(" + ".join(pvs) + " ~ " + rs, d, weights=w))
    n5s, _ = best(lambda: naive(pvs, rs, d, w))
    print(row(f"pisa2012, {len(pvs)} PVs, random slope", t5s, None, n5s))
    des = lsa.SurveyDesign(d, ids={"school": "schoolid"}, weights={"student": "w_fstuwt", "school": "w_fschwt"},
                           pvs={"MATH": pvs},
                           replicates=lsa.Replicates.fay([f"w_fsturwt{r}" for r in range(1, n_reps + 1)]))
    t5r, _ = best(lambda: mix_pv("MATH ~ " + rhs, des, se="replicate", progress=False), 1)
    print(row(f"pisa2012, {len(pvs)} PVs x {n_reps} Fay replicates", t5r))

    if quick:
        print("quick mode: skipped the Belgium 10-PV case")
    elif BELGIUM.exists():
        b = belgium()
        pv10 = [f"pv{i}math" for i in range(1, 11)]
        rhs_b = "gender + escs + immig2 + stubeha + lackstaff + (1|cntschid)"
        wb = ["w_fstuwt", "w_schgrnrabwt"]
        t10, res10 = best(lambda: mix_pv(" + ".join(pv10) + " ~ " + rhs_b, b, weights=wb))
        n10, pooled10 = best(lambda: naive(pv10, rhs_b, b, wb))
        assert np.allclose(res10.fixed.std_error, pooled10.std_error, rtol=1e-6)
        print(row("Belgium PISA 2018, 10 PVs, RI (R-2.5)", t10, R_BELGIUM_S, n10))
        t10j, _ = best(lambda: mix_pv(" + ".join(pv10) + " ~ " + rhs_b, b, weights=wb, n_jobs=2))
        print(row("  same, n_jobs=2", t10j))
    else:
        print("Belgium data not found: skipped the 10-PV case")

    if quick:
        sim = lsa.datasets.simulate(n_schools=40, students_per_school=10, n_pvs=2, n_pop_schools=400, seed=1)
    else:
        sim = lsa.datasets.simulate(n_schools=280, students_per_school=30, n_pvs=10, n_pop_schools=4000, seed=1)
    simd = sim.design(replicates=lsa.Replicates.fay(list(sim.replicate_columns[:n_reps]), k=0.5))
    f = "MATH ~ escs + female + (1|school)"
    tsr, resr = best(lambda: mix_pv(f, simd, se="replicate", progress=False), 1)
    tsrj, _ = best(lambda: mix_pv(f, simd, se="replicate", progress=False, n_jobs=2), 1)
    # naive: fresh lsa.mixed fits with derived replicate weights, 10 PVs x 10 replicates, scaled to 80
    df = sim.data
    sch = df["school_id"]

    R_naive = min(10, n_reps)

    def naive_reps(R=R_naive):
        for pv in sim.pv_columns:
            for r in range(R):
                rep = df[sim.replicate_columns[r]]
                a = rep.groupby(sch).transform("sum") / df["w_fstuwt"].groupby(sch).transform("sum")
                mixed(f"{pv} ~ escs + female + (1|school_id)", df.assign(s_r=df["w_fschwt"] * a, t_r=rep),
                      weights=["t_r", "s_r"])

    tn, _ = best(naive_reps, 1)
    n_pv = len(sim.pv_columns)
    print(row(f"simulated {len(df)} rows, {n_pv} PVs x {n_reps} replicates", tsr, None, tn * n_reps / R_naive))
    print(row("  same, n_jobs=2", tsrj))
    print(f"(naive replicate loop timed on {n_pv} x {R_naive} refits and scaled by {n_reps / R_naive:g})")


if __name__ == "__main__":
    main(quick=quick_requested())
