"""The parallel loops of lsa, under any joblib backend (loky, threads, Dask).

Every ``n_jobs`` loop of lsa (the PV × replicate refits of :func:`lsa.mix_pv`, the groups of
``mix_pv(by=)``, the chains of :func:`lsa.impute.impute`, the fits of :func:`lsa.impute.analyze`)
goes through :func:`run`, which names no backend: the backend is whatever
``joblib.parallel_config`` says where lsa is called:

.. code-block:: python

    from dask.distributed import Client
    import joblib, lsa

    client = Client("scheduler-address:8786")        # or LocalCluster() for one machine
    with joblib.parallel_config(backend="dask", retries=2):    # or lsa.parallel.dask_backend(client)
        res = lsa.mix_pv(formula, design, se="replicate")    # n_jobs=None: the backend's workers

**Results do not depend on the backend or on ``n_jobs``**: every task is a pure function of
its inputs (its optimiser start is fixed before the loop), and results are put back in task
order.

**Dask.** Under joblib's Dask backend (``backend="dask"``, :func:`dask_backend`) :func:`run`
submits the tasks to that backend's ``distributed.Client`` itself, one future per task, at most
twice as many at a time as the cluster has threads (a task's data are made when it is
submitted), with the backend's ``retries``. It does not use ``joblib.Parallel`` there because
joblib (1.6) never hears of a Dask future that fails outside the task, as when its worker dies,
and then waits for ever.

**How data reach the workers.** :func:`run` passes the data that all tasks share (the
replicate weight matrix, a frame) as separate arguments, the *same* objects for every task, and
only the per-task part (a PV's outcome, a seed) is pickled per task. On Dask each shared object
is sent once per loop, as the value of one task of its own that the other tasks depend on: the
scheduler keeps it (as it keeps the arguments of the tasks in flight) and so can make it again
on another worker when the worker that held it dies, which ``client.scatter`` could not. The
loky backend memory-maps arrays over 1 MB once.

**Errors name the task.** An exception inside a task is re-raised with the task's label (e.g.
``"country DEU, PV 3"`` or ``"PV 2, replicate 17"``) in front of its message: an lsa error keeps
its class, any other exception becomes a :class:`TaskError` chained to it. A worker process that
dies (killed, out of memory, a crash in compiled code) cannot report:

- On Dask, the scheduler reruns the tasks of a dead worker on another worker; when a task's
  workers have died more than ``distributed.scheduler.allowed-failures`` times (3 by default) Dask
  gives up on it (``KilledWorker``) and :func:`run` raises a :class:`TaskError` that starts with
  the task's label (and the labels of the tasks Dask gave up on at the same moment: a task
  waiting on the dying worker counts a death too). ``retries=`` resubmits a task that *raised*;
  it does not apply to a dead worker.
- Under loky, when joblib gives up (``TerminatedWorkerError``), :func:`run` raises a
  :class:`TaskError` listing the tasks that had not returned.
"""
from __future__ import annotations

import warnings
from typing import Any, Callable, Iterator, Sequence
from uuid import uuid4

from lsa.errors import EstimationError, LsaError
from lsa.validation import check_n_jobs

__all__ = ["run", "call_task", "TaskError", "dask_backend", "effective_jobs"]


class TaskError(EstimationError):
    """A task of a parallel (or serial) lsa loop failed; the message names the task."""


def effective_jobs(n_jobs: int | None, n_tasks: int) -> int:
    """The number of workers joblib would use: ``n_jobs`` as joblib reads it (``None``: the value
    of an enclosing ``joblib.parallel_config``, else 1), and 1 for a single task."""
    if n_jobs == 1 or n_tasks <= 1:
        return 1
    import joblib
    return int(joblib.effective_n_jobs(n_jobs))


def call_task(fn: Callable, label: str, index: int, task: Any, *shared: Any) -> tuple[int, Any]:
    """``(index, fn(task, *shared))``; an exception is re-raised with ``label`` in front of its
    message (the same class for an :class:`~lsa.errors.LsaError`, else a :class:`TaskError`)."""
    try:
        return index, fn(task, *shared)
    except LsaError as exc:
        if isinstance(exc, TaskError) or str(exc).startswith(f"{label}:"):
            raise
        try:
            new = type(exc)(f"{label}: {exc}")
        except Exception:                      # a subclass with another constructor
            new = TaskError(f"{label}: {type(exc).__name__}: {exc}")
        raise new from exc
    except Exception as exc:
        raise TaskError(f"{label}: {type(exc).__name__}: {exc}") from exc


def run(fn: Callable, tasks: Sequence[Any], labels: Sequence[str], *, n_jobs: int | None = 1,
        shared: Sequence[Any] = (), ordered: bool = True) -> Iterator[tuple[int, Any]]:
    """Yield ``(k, fn(tasks[k], *shared))`` for every task: in task order (``ordered``) or as
    they finish; serially when joblib would use one worker, on the client of joblib's Dask
    backend when that is active, else through ``joblib.Parallel(n_jobs)`` under the active
    backend. ``shared`` objects are passed as separate arguments, the same objects for all tasks
    (sent once on Dask). ``tasks[k]`` is read when task k is sent."""
    check_n_jobs(n_jobs)
    n = len(tasks)
    jobs = effective_jobs(n_jobs, n)
    if jobs == 1:
        for k in range(n):
            yield call_task(fn, labels[k], k, tasks[k], *shared)
        return
    backend = _dask_backend_in_use()
    if backend is not None:
        yield from _run_on_dask(backend, fn, tasks, labels, shared, ordered, in_flight=2 * jobs)
        return
    from joblib import Parallel, delayed
    par = Parallel(n_jobs=n_jobs, return_as="generator" if ordered else "generator_unordered")
    pending = set(range(n))
    try:
        for k, res in par(delayed(call_task)(fn, labels[k], k, tasks[k], *shared) for k in range(n)):
            pending.discard(k)
            yield k, res
    except LsaError:
        raise
    except Exception as exc:
        names = [labels[k] for k in sorted(pending)]
        first = (str(exc).strip().splitlines() or [""])[0]
        more = f" and {len(names) - 10} more" if len(names) > 10 else ""
        raise TaskError(f"a worker failed outside lsa's code ({type(exc).__name__}: {first}) while running "
                        f"{len(names)} unfinished task(s): {names[:10]}{more}. A worker that died (killed, "
                        f"out of memory) cannot say which task it ran; on a Dask cluster "
                        f"(lsa.parallel.dask_backend) the scheduler reruns the tasks of a dead worker "
                        f"(distributed.scheduler.allowed-failures) and retries=2 resubmits failed ones.") from exc


def _dask_backend_in_use():
    """joblib's active backend if it is joblib's Dask backend (it holds ``client`` and the
    ``submit_kwargs`` given to ``parallel_config``, such as ``retries``), else ``None``."""
    from joblib.parallel import get_active_backend
    backend, _ = get_active_backend()
    return backend if type(backend).__name__ == "DaskDistributedBackend" else None


def _run_on_dask(backend, fn: Callable, tasks: Sequence[Any], labels: Sequence[str], shared: Sequence[Any],
                 ordered: bool, in_flight: int) -> Iterator[tuple[int, Any]]:
    """:func:`run` on ``backend.client``: each shared object sent once as a task of its own,
    one future per task (``in_flight`` at a time), a task Dask gave up on (``KilledWorker``)
    named in a :class:`TaskError`; the futures not yet returned are cancelled when the loop ends."""
    from distributed import KilledWorker, as_completed
    client = backend.client
    name = getattr(fn, "__name__", "task")

    def send(*args, key: str, **kwargs):
        with warnings.catch_warnings():          # a task's data go into the graph on purpose
            warnings.filterwarnings("ignore", "Sending large graph", UserWarning)
            return client.submit(*args, key=f"lsa-{key}-{uuid4().hex}", **kwargs)

    refs = [send(_same, value, key=f"{name}-shared") for value in shared]
    pending: dict = {}                               # future -> task index
    finished = as_completed()

    def submit(k: int) -> None:
        future = send(call_task, fn, labels[k], k, tasks[k], *refs, key=name, **backend.submit_kwargs)
        pending[future] = k
        finished.add(future)

    sent = min(in_flight, len(tasks))
    for k in range(sent):
        submit(k)
    ready: dict = {}                                 # finished ahead of task `want`
    want = 0
    try:
        for future in finished:
            k = pending.pop(future)
            try:
                result = future.result()
            except LsaError:
                raise
            except KilledWorker as exc:              # with the tasks Dask gave up on at the same moment
                given_up = sorted([k] + [j for f, j in pending.items() if f.status == "error"])
                these = "this task" if len(given_up) == 1 else f"these {len(given_up)} tasks"
                it = "it" if len(given_up) == 1 else "them"
                raise TaskError(f"{'; '.join(labels[j] for j in given_up)}: Dask gave up on {these} after the "
                                f"workers running {it} died {exc.allowed_failures + 1} time(s) (killed, out of "
                                f"memory or a crash in compiled code; distributed.scheduler.allowed-failures = "
                                f"{exc.allowed_failures}; a task queued on a dying worker counts too; last "
                                f"worker {exc.last_worker.address})") from exc
            except Exception as exc:
                raise TaskError(f"{labels[k]}: {type(exc).__name__}: {exc}") from exc
            if sent < len(tasks):
                submit(sent)
                sent += 1
            if not ordered:
                yield result
                continue
            ready[k] = result
            while want in ready:
                yield ready.pop(want)
                want += 1
    finally:
        if pending:
            client.cancel(list(pending))


def _same(value: Any) -> Any:
    """The task that holds a shared object on Dask: it returns its argument."""
    return value


def dask_backend(client=None, *, retries: int = 0, **kwargs):
    """``joblib.parallel_config(backend="dask", client=client, retries=retries, **kwargs)``: a
    context in which lsa's ``n_jobs`` loops run on a ``dask.distributed`` cluster (pass
    ``n_jobs=None`` or ``-1``). ``client``: a ``distributed.Client`` (default: the current
    one); ``retries``: how often Dask resubmits a task that raised (the tasks of a worker that
    died are rerun by the scheduler, ``distributed.scheduler.allowed-failures`` times). Needs
    ``pip install "lsa[dask]"``."""
    try:
        import distributed  # noqa: F401
    except ImportError as exc:                  # pragma: no cover - the extra is installed in CI
        raise LsaError('the Dask backend needs dask.distributed: pip install "lsa[dask]"') from exc
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise LsaError(f"retries must be a non-negative integer; got {retries!r}")
    import joblib
    return joblib.parallel_config(backend="dask", client=client, retries=retries, **kwargs)
