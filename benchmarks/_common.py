"""Shared by the benchmarks: paths, the quick mode, and the reader of the R reference CSVs.

Every benchmark runs end to end on small sizes in a few seconds with ``--quick`` (or with the
environment variable ``LSA_BENCH_QUICK=1``); ``tests/test_benchmarks.py`` runs them that way. Quick
runs check that the code paths work and that the results agree with their baselines; their times
mean nothing. The scripts work from any current directory: paths are relative to this file.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REF = ROOT / "tests" / "reference"
QUICK_ENV = "LSA_BENCH_QUICK"


def quick_requested(argv: list[str] | None = None) -> bool:
    """True with ``--quick`` on the command line or ``LSA_BENCH_QUICK`` set to 1/true/yes."""
    argv = sys.argv[1:] if argv is None else argv
    return "--quick" in argv or os.environ.get(QUICK_ENV, "").strip().lower() in ("1", "true", "yes")


def tests_conftest():
    """tests/conftest.py loaded from its path (under its own module name, so it never clashes with
    pytest's ``conftest``): the one reader of the reference CSVs, shared with the tests."""
    name = "_lsa_tests_conftest"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "tests" / "conftest.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


def read_reference_csv(name):
    """A reference CSV of tests/reference/data read as R read it (see tests/conftest.py)."""
    return tests_conftest().read_reference_csv(name)


def max_scaled_difference(a, b) -> float:
    """max |a - b| / (se_i se_j) for two covariance matrices (b gives the scale)."""
    import numpy as np

    a, b = np.asarray(a, float), np.asarray(b, float)
    se = np.sqrt(np.abs(np.diag(b)))
    return float(np.max(np.abs(a - b) / np.outer(se, se)))


def best_of(fn, repeat: int = 3) -> tuple[float, object]:
    """The fastest of ``repeat`` timed calls of ``fn`` (seconds) and the last result."""
    import time

    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), result
