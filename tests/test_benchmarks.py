"""Every benchmark runs end to end in its quick mode (``--quick``: small sizes, one run).

No timing is asserted: the point is that the scripts keep working (they raised ImportError for
a while and nothing noticed). Each runs in a subprocess from a temporary directory, so a script
that only works from the repository root fails here. The benchmarks check their own results
against their baselines (assertions inside the scripts); a failing check is a non-zero exit.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = sorted(p.name for p in BENCHMARKS.glob("bench_*.py"))


def test_every_benchmark_is_listed():
    assert SCRIPTS == ["bench_compare.py", "bench_dask.py", "bench_estimators.py", "bench_glmm.py", "bench_impute.py",
                       "bench_international.py", "bench_mix_pv.py", "bench_mixed.py", "bench_models.py",
                       "bench_reading.py", "bench_robust.py", "bench_search.py", "bench_small.py",
                       "bench_teaching_simulation.py"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_benchmark_runs_in_quick_mode(script, tmp_path):
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    env.pop("LSA_BENCH_QUICK", None)  # the flag alone must select quick mode
    proc = subprocess.run([sys.executable, str(BENCHMARKS / script), "--quick"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    assert "quick mode" in proc.stdout, proc.stdout


def test_quick_mode_from_the_environment(tmp_path):
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "LSA_BENCH_QUICK": "1"}
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "bench_robust.py")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "quick mode" in proc.stdout
