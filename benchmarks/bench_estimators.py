"""Speed of design-based regression with plausible values × replicate weights.

PIAAC 2012 Flanders (bundled): 5,463 adults, 10 literacy PVs, final weight + 80 JK2 replicate
weights = 810 weighted least-squares fits. Baseline, measured in the same run: the loop that
R's intsvy / a hand-written script performs, one statsmodels WLS fit per PV × weight column.
Prints the times and the ratio, and checks both give the same pooled estimates.

    python benchmarks/bench_estimators.py
"""

from __future__ import annotations

import time

import numpy as np
import statsmodels.api as sm

import lsa
from lsa.datasets import load

FORMULA = "LIT ~ AGE_R + GENDER_R"


def design():
    df = load("piaac2012_bel_flanders")
    return lsa.SurveyDesign(df, weights={"adult": "SPFWT0"},
                            pvs={"LIT": [f"PVLIT{m}" for m in range(1, 11)]},
                            replicates=lsa.Replicates.jk2([f"SPFWT{r}" for r in range(1, 81)]))


def naive(d: lsa.SurveyDesign) -> np.ndarray:
    """One statsmodels WLS per PV and weight column; returns (M, 81, p) coefficients."""
    df = d.data
    gender = df["GENDER_R"]
    base = np.column_stack([np.ones(len(df)), df["AGE_R"].astype(float), (gender == gender.dropna().sort_values().iloc[-1]).astype(float)])
    cols = ["SPFWT0"] + [f"SPFWT{r}" for r in range(1, 81)]
    out = []
    for pv in d.pvs["LIT"]:
        ok = df[pv].notna() & df["AGE_R"].notna() & gender.notna()
        out.append([sm.WLS(df.loc[ok, pv], base[ok], weights=df.loc[ok, c]).fit().params.to_numpy() for c in cols])
    return np.array(out)


def best_of(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), result


def main() -> None:
    d = design()
    lsa.lm(d, FORMULA)                                     # warm up (imports, caches of the design)
    t_lsa, res = best_of(lambda: lsa.lm(d, FORMULA), 5)
    t_naive, coefs = best_of(lambda: naive(d), 1)
    pooled = coefs[:, 0, :].mean(axis=0)
    assert np.allclose(res.tidy()["estimate"].to_numpy(), pooled, rtol=1e-8), "lsa and the loop disagree"
    print(f"regression {FORMULA!r}: {d.n:,} rows, 10 PVs x 81 weights = 810 WLS fits")
    print(f"  lsa.lm (vectorised)        {t_lsa * 1000:8.1f} ms")
    print(f"  statsmodels WLS loop       {t_naive * 1000:8.1f} ms")
    print(f"  speed-up                   {t_naive / t_lsa:8.1f} x")


if __name__ == "__main__":
    main()
