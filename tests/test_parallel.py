"""lsa.parallel: every n_jobs loop under any joblib backend, Dask included (issue 16 item 4).

Oracle: the serial run of the same call. A parallel run performs the same floating-point
operations on other workers (every optimiser start is fixed before the loop), so its results
must equal the serial ones exactly: ``np.array_equal``, tolerance 0, on the pooled table and on
every replicate estimate. The Dask run uses a ``distributed.LocalCluster`` of two worker
processes with one thread each (processes, so that the data really are pickled and sent).
How often the shared data are pickled is counted in this process: at most twice per run (into
the task graph by the client, and by the scheduler, which runs in this process, to the one worker
that holds them), not once per task. What happens when a worker dies is tested in
``test_parallel_dask_failures.py``.
"""
from __future__ import annotations

import joblib
import numpy as np
import pytest

import lsa
import lsa.parallel as lp
from lsa.mix_pv import mix_pv
from lsa.mixed import pv_refits

FORMULA = "MATH ~ escs + female + (1|school)"


@pytest.fixture(scope="module")
def design():
    return lsa.datasets.simulate(n_schools=40, students_per_school=10, n_pvs=5, seed=16).design()


@pytest.fixture(scope="module")
def serial(design):
    return mix_pv(FORMULA, design, se="replicate", progress=False, n_jobs=1)


def numbers(res):
    return res.tidy().select_dtypes("number").to_numpy()


def test_threading_backend_from_parallel_config_equals_serial(design, serial):
    """n_jobs=None takes the enclosing joblib.parallel_config (here threads, 2 workers)."""
    with joblib.parallel_config(backend="threading", n_jobs=2):
        assert lp.effective_jobs(None, 4) == 2
        res = mix_pv(FORMULA, design, se="replicate", progress=False)
    assert np.array_equal(res.replicate_estimates, serial.replicate_estimates)
    assert np.array_equal(numbers(res), numbers(serial))


def test_loky_equals_serial(design, serial):
    res = mix_pv(FORMULA, design, se="replicate", progress=False, n_jobs=2)
    assert np.array_equal(res.replicate_estimates, serial.replicate_estimates)
    assert np.array_equal(numbers(res), numbers(serial))


def test_outside_a_context_none_means_one_worker():
    assert lp.effective_jobs(None, 10) == 1
    assert lp.effective_jobs(2, 1) == 1


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=50) as cluster, distributed.Client(cluster) as client:
        yield client


def test_dask_local_cluster_equals_serial_and_sends_the_shared_data_once(design, serial, dask_client, monkeypatch):
    pickled = []
    original = pv_refits.SharedData.__reduce_ex__

    def counting(self, protocol):
        pickled.append(1)
        return original(self, protocol)

    monkeypatch.setattr(pv_refits.SharedData, "__reduce_ex__", counting)
    with lp.dask_backend(dask_client):
        res = mix_pv(FORMULA, design, se="replicate", progress=False)
    assert np.array_equal(res.replicate_estimates, serial.replicate_estimates)
    assert np.array_equal(numbers(res), numbers(serial))
    assert 1 <= len(pickled) <= 2             # 4 tasks (PVs 2-5) share one copy: client + scheduler


def _fail_on_three(task):
    if task == 3:
        raise ValueError("no convergence for this one")
    return task * 10


def _lsa_fail_on_two(task):
    if task == 2:
        raise lsa.EstimationError("singular")
    return task


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_a_failing_task_is_named(n_jobs):
    labels = [f"country C{k}, PV {k + 1}" for k in range(5)]
    with joblib.parallel_config(backend="threading"):
        with pytest.raises(lp.TaskError, match=r"^country C3, PV 4: ValueError: no convergence for this one$"):
            list(lp.run(_fail_on_three, list(range(5)), labels, n_jobs=n_jobs))
        with pytest.raises(lsa.EstimationError, match=r"^country C2, PV 3: singular$") as info:
            list(lp.run(_lsa_fail_on_two, list(range(5)), labels, n_jobs=n_jobs))
    assert type(info.value) is lsa.EstimationError          # an lsa error keeps its class
    assert list(lp.run(_fail_on_three, [0, 1], labels[:2], n_jobs=n_jobs)) == [(0, 0), (1, 10)]


def test_a_failing_replicate_refit_is_named_with_its_pv(design, monkeypatch):
    """A refit that raises names the PV (lsa.parallel) and the replicate (lsa.mixed.replicate)."""
    from lsa.mixed import replicate
    calls = []
    original = replicate.optimize

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise np.linalg.LinAlgError("Matrix is not positive definite")
        return original(*args, **kwargs)

    monkeypatch.setattr(replicate, "optimize", flaky)
    with pytest.raises(lsa.EstimationError, match=r"^PV1MATH: replicate 3: LinAlgError: Matrix is not positive"):
        mix_pv(FORMULA, design, se="replicate", progress=False, n_jobs=1)


def test_dask_task_error_names_the_task(dask_client):
    labels = [f"PV {k + 1}" for k in range(4)]
    with lp.dask_backend(dask_client):
        with pytest.raises(lp.TaskError, match=r"^PV 4: ValueError: no convergence"):
            list(lp.run(_fail_on_three, list(range(4)), labels, n_jobs=-1))


def test_a_function_that_refers_to_lsa_pickles_for_workers():
    """loky and Dask pickle task functions with cloudpickle; ``lsa`` (a lazy package of its own
    module type) must pickle by name, as a plain module does, and unpickle to the same module."""
    import pickle

    import lsa

    cloudpickle = pytest.importorskip("cloudpickle")   # comes with distributed (the test extra)

    task = lambda: lsa.mean          # noqa: E731  (a script's function, pickled by value)
    assert pickle.loads(cloudpickle.dumps(task))() is lsa.mean
    assert pickle.loads(pickle.dumps(lsa)) is lsa
