"""Speed of weighted GLMMs: ``lsa.mixed(..., family="binomial")`` and ``lsa.mix_pv(..., family=)``.

Cases (issue 14):

1. The weighted binary random-intercept model on pisa2012: ``likemath ~ escs + st04q01 +
   (1 | schoolid)`` with the raw weights c("w_fstuwt", "w_fschwt"), 13-point adaptive quadrature
   (``likemath`` = 1 if st29q03 is "Strongly agree" or "Agree", else 0). Recorded R times:
   WeMix — ``time_fit_median_s`` of ``tests/reference/wemix_pisa2012_ri.json`` (6.76 s): WeMix
   4.0.4's *linear* fit of the pisa2012 random-intercept model on this machine, used as WeMix's
   time because WeMix's binomial fit with these weights stops with an error (the issue: "about
   6 s"); lme4 — ``time_glmer_agq13_median_s`` of ``tests/reference/glmm_pisa2012.json`` (the
   same model, unweighted, ``glmer(nAGQ = 13)``, median of 5 runs). Target: ≥ 100× faster than
   WeMix (< 68 ms).
2. ``mix_pv("I(MATH < 420.07) ~ escs + (1 | school)", family="binomial")`` with 10 PVs: the
   bundled Belgium PISA 2018 extract (``lsa.datasets.load("pisa2018_bel")``, 10 math PVs,
   school ids ``cntschid``, weights w_fstuwt / w_schgrnrabwt; 8,475 students) with the cut 420.07
   and ``escs``. Target: under 2 s.

Each time is the best of ``REPEAT`` runs, BLAS threads limited to 1; the load average is
printed (a loaded 2-core machine inflates every time).

Measured (2 cores shared with other jobs, load average ~4): case 1 31 ms (219× WeMix's recorded
time, 18× glmer's), case 2 0.81 s; before the q = 1 path of ``lsa/mixed/glmm_q1.py``, the Hessian
at ψ̂ by forward differences in β and the shared model frame of ``mix_pv``: 105 ms (64×) and 2.9 s.

    python benchmarks/bench_glmm.py [--quick]

``--quick``: one run each, 2 PVs for case 2 (the times mean nothing; checks the code paths and
that the fit converges).
"""
from __future__ import annotations

import os

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pandas as pd  # noqa: E402

import lsa  # noqa: E402
from _common import REF, best_of, quick_requested  # noqa: E402

FORMULA = "likemath ~ escs + st04q01 + (1 | schoolid)"


def main(quick: bool = False) -> None:
    repeat = 1 if quick else 7
    wemix_s = json.loads((REF / "wemix_pisa2012_ri.json").read_text())["time_fit_median_s"]
    glmer_s = json.loads((REF / "glmm_pisa2012.json").read_text())["time_glmer_agq13_median_s"]
    d = pd.read_csv(REF / "data" / "pisa2012.csv", dtype={"schoolid": str})
    d["likemath"] = d.st29q03.isin(["Strongly agree", "Agree"]).astype(float)
    t, fit = best_of(lambda: lsa.mixed(FORMULA, d, weights=["w_fstuwt", "w_fschwt"], family="binomial"), repeat)
    assert fit.converged
    print(f"load average: {os.getloadavg()[0]:.2f}")
    print(f"1. weighted binary RI, pisa2012 (n={fit.nobs}, {fit.ngroups['schoolid']} schools, 13-point AGQ): "
          f"{t * 1e3:.1f} ms; WeMix recorded {wemix_s:.2f} s -> {wemix_s / t:.0f}x faster "
          f"(target 100x); glmer (unweighted) recorded {glmer_s:.2f} s -> {glmer_s / t:.1f}x")
    bel = lsa.datasets.load("pisa2018_bel")
    pvs = [f"pv{k}math" for k in range(1, 11)][: 2 if quick else 10]
    des = lsa.SurveyDesign(bel.dropna(subset=["escs"]), ids={"school": "cntschid"},
                           weights={"student": "w_fstuwt", "school": "w_schgrnrabwt"}, pvs={"MATH": pvs})
    t2, res = best_of(lambda: lsa.mix_pv("I(MATH < 420.07) ~ escs + (1 | school)", des, family="binomial"),
                      1 if quick else 3)
    print(f"2. mix_pv binomial RI, {len(pvs)} PVs, Belgium PISA 2018 (n={res.nobs}): {t2:.2f} s (target < 2 s)")
    if quick:
        print("quick mode: one run each, 2 PVs (the times mean nothing)")


if __name__ == "__main__":
    main(quick_requested())
