"""Speed of design-based regression with plausible values × replicate weights.

PIAAC 2012 Flanders (bundled): 5,463 adults, 10 literacy PVs, final weight + 80 JK2 replicate
weights = 810 weighted least-squares fits. Baseline, measured in the same run: the loop that
R's intsvy / a hand-written script performs, one statsmodels WLS fit per PV × weight column.
Prints the times and the ratio, and checks both give the same pooled estimates.

    python benchmarks/bench_estimators.py [--quick]

``--quick``: 2 PVs x 11 weights, one timing run (checks the code path, not the speed).
"""

from __future__ import annotations

import warnings

import numpy as np
import statsmodels.api as sm

import lsa
from lsa.datasets import load

from _common import best_of, quick_requested

FORMULA = "LIT ~ AGE_R + GENDER_R"


def design(n_pvs: int = 10, n_reps: int = 80):
    df = load("piaac2012_bel_flanders")
    return lsa.SurveyDesign(df, weights={"adult": "SPFWT0"},
                            pvs={"LIT": [f"PVLIT{m}" for m in range(1, n_pvs + 1)]},
                            replicates=lsa.Replicates.jk2([f"SPFWT{r}" for r in range(1, n_reps + 1)]))


def naive(d: lsa.SurveyDesign, level: str) -> np.ndarray:
    """One statsmodels WLS per PV and weight column, with the indicator of GENDER_R == ``level``
    (the non-reference level lsa reports); returns (M, 1 + replicates, p) coefficients."""
    df = d.data
    gender = df["GENDER_R"]
    base = np.column_stack([np.ones(len(df)), df["AGE_R"].astype(float),
                            (gender.astype(object) == level).astype(float)])
    cols = ["SPFWT0"] + list(d.replicates.columns)
    out = []
    for pv in d.pvs["LIT"]:
        ok = df[pv].notna() & df["AGE_R"].notna() & gender.notna()
        out.append([sm.WLS(df.loc[ok, pv], base[ok], weights=df.loc[ok, c]).fit().params.to_numpy() for c in cols])
    return np.array(out)


def main(quick: bool = False) -> None:
    warnings.simplefilter("ignore", lsa.MissingDataWarning)   # 479 rows without AGE_R, every call
    n_pvs, n_reps = (2, 10) if quick else (10, 80)
    d = design(n_pvs, n_reps)
    lsa.lm(d, FORMULA)                                     # warm up (imports, caches of the design)
    t_lsa, res = best_of(lambda: lsa.lm(d, FORMULA), 1 if quick else 5)
    level = res.tidy()["term"].iloc[2].removeprefix("GENDER_R")
    t_naive, coefs = best_of(lambda: naive(d, level), 1)
    pooled = coefs[:, 0, :].mean(axis=0)
    est = res.tidy()["estimate"].to_numpy()
    # same pooled estimates, to 1e-8 of their largest (the age slope is ~1e-3 of the intercept)
    assert np.max(np.abs(est - pooled)) <= 1e-8 * np.max(np.abs(pooled)), "lsa and the loop disagree"
    print(f"regression {FORMULA!r}: {d.n:,} rows, {n_pvs} PVs x {n_reps + 1} weights = "
          f"{n_pvs * (n_reps + 1)} WLS fits" + ("  (quick mode: times mean nothing)" if quick else ""))
    print(f"  lsa.lm (vectorised)        {t_lsa * 1000:8.1f} ms")
    print(f"  statsmodels WLS loop       {t_naive * 1000:8.1f} ms")
    print(f"  speed-up                   {t_naive / t_lsa:8.1f} x")


if __name__ == "__main__":
    main(quick=quick_requested())
