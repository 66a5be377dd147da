"""Benchmark: the country × PV × replicate grid of mix_pv on a 2-worker Dask LocalCluster (issue 16 item 6).

Run:  python benchmarks/bench_dask.py [--quick]

A measured subset of the synthetic international file (``lsa.datasets.simulate_international``,
PISA 2022's shape: ~7,500 students in ~262 schools per country, 10 PVs, 80 Fay replicates):
``mix_pv("MATH ~ ESCS + FEMALE + (1|CNTSCHID)", design, by="CNT", se="replicate")`` — per
country 10 PV fits and 800 replicate refits — run

* serially (``n_jobs=1``), and
* on a ``distributed.LocalCluster(n_workers=2, threads_per_worker=1)`` through
  ``lsa.parallel.dask_backend(client)`` (joblib's Dask backend; each country's rows are sent to
  a worker once, its grid of PVs × replicates runs there),

checked identical (tolerance 0 on every pooled estimate, SE and replicate estimate), with the
speed-up and the time projected for all 80 countries (the subset's time × 80 / its countries;
countries are independent tasks of similar size). The cluster's start-up and the workers' warm-up
(imports, a first small fit) are timed apart; the machine's load is printed with the times.

``--quick``: 2 small countries, 2 PVs, 4 replicates (the times mean nothing).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

import lsa  # noqa: E402
import lsa.parallel  # noqa: E402

from _common import quick_requested  # noqa: E402

QUICK = quick_requested()
FORMULA = "MATH ~ ESCS + FEMALE + (1|CNTSCHID)"
FULL_COUNTRIES = 80


def warm_up() -> None:
    """Import lsa's modules and fit a small model once in a worker (a fresh process's imports and
    first-call costs are start-up, timed apart as the cluster's). Imports inside: the function is
    pickled by value for the workers."""
    import warnings

    import lsa

    sim = lsa.datasets.simulate(n_schools=10, students_per_school=5, n_pvs=2, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lsa.mix_pv("MATH ~ escs + (1|school)", sim.design(), se="replicate", n_jobs=1, progress=False)


def numbers(res) -> np.ndarray:
    return res.tidy().select_dtypes("number").to_numpy()


def main() -> None:
    from distributed import Client, LocalCluster

    if QUICK:
        n_c, n_pvs, n_rep, per_country, schools = 2, 2, 4, 300, 20
    else:
        n_c, n_pvs, n_rep, per_country, schools = 4, 10, 80, 7500, 262
    sim = lsa.datasets.simulate_international(n_countries=n_c, n_students=n_c * per_country,
                                              n_schools=n_c * schools, n_pvs=n_pvs, n_replicates=n_rep,
                                              n_background=2, seed=16)
    design = sim.design()
    fits = n_c * n_pvs * (1 + n_rep)
    warm_up()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        serial = lsa.mix_pv(FORMULA, design, by="CNT", se="replicate", n_jobs=1, progress=False)
        t_serial = time.perf_counter() - t
        t = time.perf_counter()
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                          silence_logs=50) as cluster, Client(cluster) as client:
            client.run(warm_up)
            t_start = time.perf_counter() - t
            t = time.perf_counter()
            with lsa.parallel.dask_backend(client):
                dask = lsa.mix_pv(FORMULA, design, by="CNT", se="replicate", n_jobs=None, progress=False)
            t_dask = time.perf_counter() - t
    same = np.array_equal(numbers(serial), numbers(dask))
    for key in serial.results:
        same &= np.array_equal(serial[key].replicate_estimates, dask[key].replicate_estimates)
    assert same, "the Dask run differs from the serial run"
    print(f"mix_pv by country, se='replicate': {n_c} countries x {n_pvs} PVs x (1 + {n_rep}) fits = {fits} fits"
          f" ({len(design.data):,} rows){' -- quick mode' * QUICK}")
    print(f"  serial                      {t_serial:8.2f} s  ({t_serial / fits * 1e3:.2f} ms per fit)")
    print(f"  Dask LocalCluster 2 workers {t_dask:8.2f} s  (cluster start-up and worker warm-up {t_start:.2f} s, "
          f"not included)")
    print(f"  speed-up                    {t_serial / t_dask:8.2f}x   identical results: {same}")
    scale = FULL_COUNTRIES / n_c
    print(f"  load average of the machine (1, 5, 15 min): {os.getloadavg()} on {os.cpu_count()} cores "
          f"(other jobs share the cores: the speed-up is bounded by the idle ones)")
    print(f"  projected for {FULL_COUNTRIES} countries: serial {t_serial * scale:.0f} s, "
          f"Dask 2 workers {t_dask * scale:.0f} s")


if __name__ == "__main__":
    main()
