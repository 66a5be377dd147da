"""lsa.parallel on Dask when a task kills its worker process (issue 16: "A Dask worker that dies
is retried by Dask, or the error names the task (country, PV, replicate)").

Oracle: the serial run of the same loop (``n_jobs=1``), compared exactly (tolerance 0: the same
numpy operations on the same data), for a task that kills its worker once and is rerun by the
scheduler; for a task that kills every worker it lands on, the documented outcome: a
:class:`lsa.parallel.TaskError` whose message starts with the task's label, chained to Dask's
``KilledWorker``, raised without hanging. The tasks kill their worker with ``os._exit(1)`` and
leave marker files (named by the worker's process id) in ``tmp_path``, so the tests check that
workers really died, and that the rerun ran in another process.

One ``distributed.LocalCluster`` of two worker processes with one thread each serves the module,
made under ``distributed.scheduler.allowed-failures = 1`` (the scheduler reads it when it starts):
a task is rerun after one death and given up on after two.
"""
from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import lsa.errors
import lsa.parallel as lp

ALLOWED_FAILURES = 1
KILLER = 2                                     # the task that kills its worker
LABELS = [f"country DEU, PV {k + 1}" for k in range(6)]    # task 2 is "country DEU, PV 3"


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")
    import dask
    with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES}):
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                      silence_logs=50) as cluster, distributed.Client(cluster) as client:
            assert cluster.scheduler.allowed_failures == ALLOWED_FAILURES
            yield client


@pytest.fixture
def client(dask_client):
    dask_client.wait_for_workers(2, timeout=60)            # the nannies restart killed workers
    return dask_client


def on_dask(client, fn, shared, *, seconds: float = 120, retries: int = 0, **options) -> list:
    """``list(lsa.parallel.run(fn, tasks 0-5, LABELS, n_jobs=None, shared=shared + (the test's
    pid,)))`` on the cluster, in a daemon thread (joblib's backend setting is per thread), so that
    a loop that neither finishes nor raises fails the test instead of hanging the suite."""
    out: dict = {}

    def target():
        try:
            with lp.dask_backend(client, retries=retries):
                assert lp.effective_jobs(None, len(LABELS)) == 2          # really on the cluster
                out["value"] = list(lp.run(fn, range(len(LABELS)), LABELS, n_jobs=None,
                                           shared=(*shared, os.getpid()), **options))
        except BaseException as exc:                       # handed to the test's thread
            out["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"the loop neither finished nor raised within {seconds} s")
    if "error" in out:
        raise out["error"]
    return out["value"]


def exit_worker(marker_dir, test_pid: int) -> None:
    """Leave a marker named by this process's id and end the process at once, as a crash or the
    out-of-memory killer would (never the test process: a task run serially raises instead)."""
    if os.getpid() == test_pid:
        raise RuntimeError("a task meant to kill a Dask worker ran in the test process")
    (Path(marker_dir) / f"died_{os.getpid()}").write_text("")
    os._exit(1)


def died(marker_dir: Path) -> list[int]:
    """Process ids of the workers that killed themselves (one marker file each)."""
    return sorted(int(p.name.split("_")[1]) for p in marker_dir.glob("died_*"))


def gone(pid: int, seconds: float = 20) -> bool:
    """Whether process ``pid`` has exited (and been reaped by its nanny) within ``seconds``."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def _die_once(task, data, marker_dir, test_pid):
    """Task KILLER kills its worker the first time it runs (its marker remembers), then computes."""
    if task == KILLER:
        if not died(Path(marker_dir)):
            exit_worker(marker_dir, test_pid)
        (Path(marker_dir) / "rerun").write_text(str(os.getpid()))
    return float(np.sum(data[task] ** 2)) + task


def _die_always(task, marker_dir, test_pid):
    """Task KILLER kills every worker it lands on."""
    if task == KILLER:
        exit_worker(marker_dir, test_pid)
    return task


def _raise_once(task, marker_dir, test_pid):
    """Task KILLER raises the first time it runs, then returns."""
    marker = Path(marker_dir) / "raised"
    if task == KILLER and not marker.exists():
        marker.write_text("")
        raise OSError("a transient failure")
    return task * 10


def test_a_task_that_kills_its_worker_once_is_rerun_and_the_loop_equals_serial(client, tmp_path):
    data = np.random.default_rng(16).standard_normal((len(LABELS), 500))
    result = on_dask(client, _die_once, (data, str(tmp_path)))
    [pid] = died(tmp_path)                                  # the worker died, once
    assert pid != os.getpid() and gone(pid)
    rerun = int((tmp_path / "rerun").read_text())
    assert rerun not in (pid, os.getpid())                  # rerun by another worker process
    serial = list(lp.run(_die_once, range(len(LABELS)), LABELS, n_jobs=1, shared=(data, str(tmp_path), os.getpid())))
    assert result == serial                                 # in task order, exactly
    assert [k for k, _ in result] == list(range(len(LABELS)))


def test_a_task_that_kills_every_worker_raises_a_task_error_naming_it(client, tmp_path):
    distributed = pytest.importorskip("distributed")
    with pytest.raises(lp.TaskError) as info:
        on_dask(client, _die_always, (str(tmp_path),), ordered=False)
    message = str(info.value)
    # the killer's label among those of the tasks Dask gave up on at that moment (a task queued on
    # the dying worker may be given up on with it), then why
    assert re.match(r"^(country DEU, PV \d; )*country DEU, PV 3(; country DEU, PV \d)*: Dask gave up on "
                    r"(this task|these \d tasks) after the workers running (it|them) died 2 time\(s\) \(killed, "
                    r"out of memory or a crash in compiled code; distributed.scheduler.allowed-failures = 1;", message)
    assert "\n" not in message
    assert isinstance(info.value, lsa.errors.LsaError)                 # an lsa error ...
    assert isinstance(info.value.__cause__, distributed.KilledWorker)  # ... chained to Dask's
    pids = died(tmp_path)
    assert len(pids) == ALLOWED_FAILURES + 1 and all(gone(p) for p in pids)    # two workers really died


def test_retries_resubmits_a_task_that_raised(client, tmp_path):
    assert on_dask(client, _raise_once, (str(tmp_path),), retries=1) == [(k, k * 10) for k in range(len(LABELS))]
    assert (tmp_path / "raised").exists()                   # it did raise once
    (tmp_path / "raised").unlink()                          # without retries the error names the task
    with pytest.raises(lp.TaskError, match=r"^country DEU, PV 3: OSError: a transient failure$"):
        on_dask(client, _raise_once, (str(tmp_path),))
