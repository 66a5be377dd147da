"""Benchmark: quantile regression and multinomial logit over 10 PVs × 81 weight columns (issue 13
item 5) against a loop of statsmodels fits, timed in the same run.

Run:  python benchmarks/bench_models.py [--quick]

Data: the bundled PIAAC 2012 Flanders extract (JK2, 80 replicates + the full weight, 10 PVs).
- ``lsa.quantreg(design, "PVLIT ~ AGE_R + GENDER_R", q=0.5)`` against ``statsmodels.QuantReg``
  (IRLS) fitted once per PV and weight column on the rows with positive weight, the weights
  applied as rq does (rows and response multiplied by w: ρ_τ(w u) = w ρ_τ(u) for w > 0), each fit
  started cold (statsmodels has no start values for QuantReg). Agreement: the full-sample fits of
  PV 1 agree to 1e-3 relative (statsmodels stops IRLS at its default tolerance; lsa is the exact LP).
- ``lsa.multinom(design, "EDU ~ I(PVLIT / 100) + GENDER_R")`` (EDCAT6 in six levels) against
  ``statsmodels.MNLogit(...).fit(method="newton")`` once per PV and weight column on the rows with
  positive weight. statsmodels' MNLogit takes no weights, so the baseline fits are unweighted: the
  same problem size and algorithm, a timing baseline only (lsa's weighted fits are checked against
  ``nnet::multinom`` in tests/test_categorical_models.py).
The ratio baseline time / lsa time is printed (target ≥ 3; measured 6.0x for quantreg and 6.8x
for multinom on a shared 2-core machine, OPENBLAS_NUM_THREADS=1). ``--quick``: one PV and the loop over
the first 5 weight columns only (checks the code paths; the times mean nothing).
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import statsmodels.api as sm

import lsa

from _common import quick_requested, tests_conftest

def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    quick = quick_requested()
    d = tests_conftest().piaac_flanders_edu()   # EDCAT6 as the six-level EDU, as the tests use it
    m = 1 if quick else 10
    design = lsa.design_from_study("piaac", 2012, d, pvs={"PVLIT": [f"PVLIT{i}" for i in range(1, m + 1)]})
    weights = d[[f"SPFWT{i}" for i in range(81)]].to_numpy()
    n_cols = 5 if quick else weights.shape[1]
    print(f"bench_models: PIAAC 2012 Flanders, {m} PV(s) x 81 weight columns"
          + (" (quick mode: the statsmodels loop over 5 columns)" if quick else ""))
    ok = d["PVLIT1"].notna().to_numpy()
    male = (d["GENDER_R"] == "Male").to_numpy(float)

    # quantile regression
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_lsa, res = timed(lambda: lsa.quantreg(design, "PVLIT ~ AGE_R + GENDER_R", q=0.5))

    def quantreg_loop():
        out = []
        for i in range(1, m + 1):
            x = np.column_stack([np.ones(len(d)), d["AGE_R"].to_numpy(float), male])[ok]
            y = d[f"PVLIT{i}"].to_numpy()[ok]
            for c in range(n_cols):
                w = weights[ok, c]
                pos = w > 0
                out.append(sm.QuantReg(y[pos] * w[pos], x[pos] * w[pos][:, None]).fit(q=0.5).params)
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_sm, fits = timed(quantreg_loop)
    full_sm = fits[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = res.params.to_numpy() if quick else lsa.quantreg(
            lsa.design_from_study("piaac", 2012, d, pvs={"PVLIT": ["PVLIT1"]}), "PVLIT ~ AGE_R + GENDER_R",
            q=0.5).params.to_numpy()
    gap = np.max(np.abs(first - full_sm) / np.maximum(np.abs(first), 1.0))
    assert gap < 1e-3, f"quantile regression: lsa and statsmodels differ by {gap:.2e}"
    t_sm_all = t_sm * weights.shape[1] / n_cols
    print(f"quantreg  lsa {t_lsa:7.2f} s   statsmodels loop {t_sm_all:7.2f} s"
          f"{' (extrapolated)' if quick else ''}   ratio {t_sm_all / t_lsa:5.1f}x   (PV1 agreement {gap:.1e})")

    # multinomial logit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_lsa, _ = timed(lambda: lsa.multinom(design, "EDU ~ I(PVLIT / 100) + GENDER_R"))
    rows = ok & d["EDU"].notna().to_numpy()
    codes = d["EDU"].cat.codes.to_numpy()[rows]

    def multinom_loop():
        for i in range(1, m + 1):
            x = np.column_stack([np.ones(rows.sum()), d[f"PVLIT{i}"].to_numpy()[rows] / 100, male[rows]])
            for c in range(n_cols):
                pos = weights[rows, c] > 0
                sm.MNLogit(codes[pos], x[pos]).fit(method="newton", disp=False, maxiter=100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_sm, _ = timed(multinom_loop)
    t_sm_all = t_sm * weights.shape[1] / n_cols
    print(f"multinom  lsa {t_lsa:7.2f} s   statsmodels loop {t_sm_all:7.2f} s"
          f"{' (extrapolated)' if quick else ''}   ratio {t_sm_all / t_lsa:5.1f}x")


if __name__ == "__main__":
    main()
