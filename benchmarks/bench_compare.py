"""Cost of international comparisons against the per-country estimates they start from.

Synthetic data: ``lsa.datasets.simulate`` draws one PISA-like sample per country (two-stage,
Fay replicates, 5 PVs); the countries are stacked into one file with a ``CNT`` column. Baseline,
timed in the same run: the per-country means, ``lsa.mean(design, "MATH", by="CNT")``. Timed
against it: ``lsa.average`` (composite), ``lsa.compare`` against the average and
``lsa.compare(..., against="pairwise")`` (N(N−1) rows). Issue 12 asks that together they add
less than 10% to the baseline for 80 countries; the full run asserts it. Also checks the
composite average against its closed form (the mean of the country estimates).

    python benchmarks/bench_compare.py [--quick]

``--quick``: 8 small countries, one timing run (checks the code path, not the speed).
"""

from __future__ import annotations

import dataclasses
import warnings

import pandas as pd

import lsa
from lsa.datasets import simulate

from _common import best_of, quick_requested


def stacked(n_countries: int, n_schools: int, students: int, n_pop: int) -> lsa.SurveyDesign:
    parts, sim = [], None
    for c in range(n_countries):
        sim = simulate(n_schools, students, n_pop_schools=n_pop, seed=c)
        parts.append(sim.data.assign(CNT=f"C{c:02d}", school_id=sim.data["school_id"].astype(str) + f"-{c}"))
    return dataclasses.replace(sim, data=pd.concat(parts, ignore_index=True)).design()


def comparisons(res):
    return (lsa.average(res), lsa.compare(res), lsa.compare(res, against="pairwise"))


def main(quick: bool = False) -> None:
    warnings.simplefilter("ignore", lsa.MissingDataWarning)
    n_countries, n_schools, students, n_pop = (8, 16, 10, 200) if quick else (80, 40, 20, 600)
    design = stacked(n_countries, n_schools, students, n_pop)
    repeat = 1 if quick else 3
    lsa.mean(design, "MATH", by="CNT")                                  # warm up the design's caches
    t_base, res = best_of(lambda: lsa.mean(design, "MATH", by="CNT"), repeat)
    t_cmp, (avg, vs_avg, pairs) = best_of(lambda: comparisons(res), repeat)
    est = res.tidy()["estimate"].to_numpy()
    got = avg.tidy()["estimate"].iloc[-1]
    assert abs(got - est.mean()) <= 1e-10 * abs(est.mean()), "composite average is not the mean of the countries"
    assert len(pairs.tidy()) == n_countries * (n_countries - 1) and len(vs_avg.tidy()) == n_countries
    ratio = t_cmp / t_base
    print(f"{n_countries} countries, {design.n:,} rows, {design.n_pvs} PVs x {design.n_replicates + 1} weights"
          + ("  (quick mode: times mean nothing)" if quick else ""))
    print(f"  per-country means (baseline)          {t_base * 1000:8.1f} ms")
    print(f"  average + compare (average, pairwise) {t_cmp * 1000:8.1f} ms")
    print(f"  added                                 {100 * ratio:8.1f} %")
    if not quick:
        assert ratio < 0.10, f"comparisons add {100 * ratio:.1f}% (> 10%) to the per-country estimates"


if __name__ == "__main__":
    main(quick=quick_requested())
