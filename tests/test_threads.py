"""lsa.threads: one BLAS thread inside lsa's small batched linear algebra (issue 16 item 5).

Oracle: threadpoolctl's own report (``threadpool_info()``) of the BLAS thread count, read
inside the protected calls. The test suite sets OPENBLAS_NUM_THREADS=1 (tests/conftest.py),
which would make the check meaningless, so it runs in a subprocess with the thread variables
removed and the BLAS set to 2 threads first: the count must read 1 inside a mixed fit, a CR2
fit and a GEE fit, and 2 again afterwards.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import lsa
from lsa.threads import blas_limit, set_blas_limit, single_blas_thread

SCRIPT = r"""
import json, sys
from threadpoolctl import threadpool_info, threadpool_limits
import numpy, scipy.linalg
import pandas as pd
import lsa
import importlib
fit_module = importlib.import_module("lsa.mixed.fit")
clustered_module = importlib.import_module("lsa.robust.clustered")
gee_module = importlib.import_module("lsa.robust.gee")

def blas_threads():
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

threadpool_limits(2, user_api="blas")
seen = {"mixed": [], "clustered": [], "gee": []}

def spy(module, name, key):
    original = getattr(module, name)
    def wrapped(*a, **k):
        seen[key].append(blas_threads())
        return original(*a, **k)
    setattr(module, name, wrapped)

spy(fit_module, "profiled", "mixed")
spy(clustered_module, "finish_result", "clustered")
spy(gee_module, "finish_result", "gee")
df = pd.read_csv(sys.argv[1])
lsa.mixed("math ~ ses + (1|schid)", df)
lsa.robust.clustered("math ~ ses", df, cluster="schid", type="CR2")
lsa.robust.gee("math ~ ses", df, cluster="schid")
print(json.dumps({"before": [2], "inside": seen, "after": blas_threads()}))
"""


def test_blas_runs_one_thread_inside_protected_calls_and_is_restored(tmp_path):
    sch25 = Path(__file__).parent / "reference" / "data" / "sch25.csv"
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(sch25)], env=env, capture_output=True, text=True,
                         timeout=300, cwd=Path(__file__).parent.parent)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    if max(got["after"]) < 2:
        pytest.skip("the BLAS runs one thread whatever is asked (single-threaded build)")
    for key, counts in got["inside"].items():
        assert counts, f"{key}: the spied function was not called"
        assert all(max(c) == 1 for c in counts), (key, counts)
    assert min(got["after"]) == 2                            # the previous count is restored


def test_nested_and_decorator_forms():
    from threadpoolctl import threadpool_info

    def count():
        return max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")

    @single_blas_thread
    def inner():
        return count()

    with single_blas_thread():
        assert inner() == 1
        assert count() == 1


def test_set_blas_limit_checks_and_round_trips():
    assert blas_limit() == 1
    with pytest.raises(lsa.LsaError, match=r"limit must be a positive integer or None; got 0"):
        set_blas_limit(0)
    set_blas_limit(None)
    try:
        assert blas_limit() is None
    finally:
        set_blas_limit(1)
