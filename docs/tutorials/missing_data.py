"""Missing data in a large-scale assessment: diagnose → impute → fit → pool → compare.

The Belgium PISA 2018 example of Huang & Keller (2025), end to end (see missing_data.md).

    python docs/tutorials/missing_data.py                 # reduced: 3 PVs × 5 imputations, 5 iterations
    python docs/tutorials/missing_data.py --full          # the paper's 10 PVs × 20 imputations
    python docs/tutorials/missing_data.py --pvs 2 --m 2 --iterations 2 --out /tmp/mi   # CI size

``main()`` returns a dict with the diagnostics, the imputations and the pooled results.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import pandas as pd

import lsa
import lsa.impute as li
from lsa.errors import MissingDataWarning

FORMULA = "math ~ gender + escs + immig2 + stubeha + lackstaff + (1|cntschid)"
WEIGHTS = ["w_fstuwt", "w_schgrnrabwt"]


def main(n_pvs: int = 3, m: int = 5, iterations: int = 5, n_jobs: int = 1, seed: int = 1234,
         out: str | None = None, progress: bool = True) -> dict:
    t0 = time.perf_counter()
    df = lsa.datasets.load("pisa2018_bel_wmiss")
    pvs = [f"pv{i}math" for i in range(1, n_pvs + 1)]

    # 1. Diagnose: share missing, complete cases, suggested number of imputations, by school
    report = li.diagnose(df, cluster="cntschid")
    print(report, end="\n\n")

    # 2. Impute: separately for every PV; the student weight and the outcome in the model;
    #    stubeha and lackstaff are school variables, imputed once per school
    imp = li.impute(df, m=m, cluster="cntschid", level2=["stubeha", "lackstaff"], pvs=pvs, weight="w_fstuwt",
                    variables=["gender", "escs", "immig2"], seed=seed, iterations=iterations, n_jobs=n_jobs,
                    progress=progress)
    print(imp, f"({imp.info['seconds']:.1f} s)")

    # 3. Convergence: R-hat of the chains' imputed means/SDs (< 1.1), trace plots
    conv = li.convergence_summary(imp.trace) if iterations >= 2 and m >= 2 else None
    if conv is not None:
        print(conv[["series", "rhat_max", "flag"]].to_string(index=False), end="\n\n")

    # 4. Fit the weighted multilevel model to every completed data set and pool
    fits = li.analyze(imp, FORMULA, weights=WEIGHTS, n_jobs=n_jobs)
    flat = li.pool(fits, method="flat")              # as Huang & Keller: all M × m fits as one set
    print(flat, end="\n\n")
    nested = li.pool(fits, method="nested") if n_pvs > 1 and m > 1 else None

    # 5. Compare with listwise deletion (one fit per PV on the complete cases, pooled over PVs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingDataWarning)
        cc = li.Imputed.from_frames([df.assign(math=df[p]) for p in pvs], pv_index=range(1, n_pvs + 1),
                                    imp_index=[1] * n_pvs)
        cc_fits = li.analyze(cc, FORMULA, weights=WEIGHTS)
    listwise = li.pool(cc_fits)
    table = pd.DataFrame({
        "MI": flat.tidy().set_index("term")["estimate"], "MI_se": flat.tidy().set_index("term")["std_error"],
        "listwise": listwise.tidy().set_index("term")["estimate"],
        "listwise_se": listwise.tidy().set_index("term")["std_error"]})
    if nested is not None:
        table["MI_nested_se"] = nested.tidy().set_index("term")["std_error"]
    print(f"n used: MI {fits[0].nobs}, listwise {cc_fits[0].nobs}")
    print(table.round(3).to_string())

    if out:
        d = Path(out)
        d.mkdir(parents=True, exist_ok=True)
        (d / "missing_pattern.svg").write_text(report.pattern_svg(), encoding="utf-8")
        if imp.trace.n_iterations >= 1:
            (d / "trace.svg").write_text(li.trace_svg(imp.trace), encoding="utf-8")
        table.to_csv(d / "comparison.csv")
    print(f"\ntotal {time.perf_counter() - t0:.1f} s")
    return {"report": report, "imputed": imp, "convergence": conv, "flat": flat, "nested": nested,
            "listwise": listwise, "table": table}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pvs", type=int, default=3)
    ap.add_argument("--m", type=int, default=5)
    ap.add_argument("--iterations", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--out", default=None, help="directory for the SVG plots and the comparison table")
    ap.add_argument("--full", action="store_true", help="10 PVs × 20 imputations, 20 iterations, 2 jobs")
    a = ap.parse_args()
    if a.full:
        a.pvs, a.m, a.iterations, a.jobs = 10, 20, 20, max(a.jobs, 2)
    main(a.pvs, a.m, a.iterations, a.jobs, a.seed, a.out)
