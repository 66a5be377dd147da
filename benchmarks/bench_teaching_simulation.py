"""Benchmark and source of the table in docs/tutorials/multilevel_or_alternative.md.

Run:  python benchmarks/bench_teaching_simulation.py [--reps 1000] [--seed 2025] [--quick]

Runs the simulation study of ``docs/tutorials/multilevel_or_alternative.py`` at full size (1,000
data sets in each of its three settings, six methods per data set), prints the Markdown table
that is pasted in the page, and the wall time (total and per data set). There is no speed claim
and no baseline: the time says how long the study takes to reproduce.

``--quick``: 3 data sets per setting (checks that the code path works and that the table has
every setting, method and term; its numbers mean nothing).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import os
import time

import numpy as np

from _common import ROOT, quick_requested

SCRIPT = ROOT / "docs" / "tutorials" / "multilevel_or_alternative.py"


def load_tutorial():
    spec = importlib.util.spec_from_file_location("multilevel_or_alternative", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main() -> None:
    tut = load_tutorial()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=tut.DEFAULT_REPS)
    ap.add_argument("--seed", type=int, default=tut.DEFAULT_SEED)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    quick = quick_requested()
    reps = 3 if quick else args.reps
    if quick:
        print("quick mode: 3 data sets per setting (checks the code path; the numbers mean nothing)")
    t0 = time.perf_counter()
    tab = tut.run(reps, seed=args.seed)
    elapsed = time.perf_counter() - t0
    n_sets = reps * len(tut.SETTINGS)

    # the table has every setting x method x term; fixed effects cannot estimate the level-2 w
    assert len(tab) == len(tut.SETTINGS) * len(tut.METHODS) * len(tut.TERMS)
    fe_w = (tab.method == "Fixed effects + CR2") & (tab.term == "w")
    assert (tab.loc[fe_w, "n"] == 0).all() and (tab.loc[~fe_w, "n"] == reps).all()
    cover = tab.loc[~fe_w, "coverage"].to_numpy()
    assert np.all((cover >= 0) & (cover <= 1))

    print(f"command: python benchmarks/bench_teaching_simulation.py --reps {reps} --seed {args.seed}"
          f"{' --quick' if quick else ''}")
    print(f"date: {datetime.date.today().isoformat()}   OPENBLAS_NUM_THREADS="
          f"{os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    print(f"{reps} data sets per setting, {len(tut.SETTINGS)} settings, {len(tut.METHODS)} methods; "
          f"seed {args.seed}; wall time {elapsed:.1f} s ({1000 * elapsed / n_sets:.0f} ms per data set)\n")
    print(tut.markdown(tab))


if __name__ == "__main__":
    main()
