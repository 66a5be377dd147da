"""The parallel loops of lsa, under any joblib backend (loky, threads, Dask).

Every ``n_jobs`` loop of lsa (the PV × replicate refits of :func:`lsa.mix_pv`, the chains of
:func:`lsa.impute.impute`, the fits of :func:`lsa.impute.analyze`) goes through :func:`run`,
which hands the tasks to :class:`joblib.Parallel` without naming a backend, so that the
backend is whatever ``joblib.parallel_config`` says where lsa is called:

.. code-block:: python

    from dask.distributed import Client
    import joblib, lsa

    client = Client("scheduler-address:8786")        # or LocalCluster() for one machine
    with joblib.parallel_config(backend="dask", retries=2):    # or lsa.parallel.dask_backend(client)
        res = lsa.mix_pv(formula, design, se="replicate")    # n_jobs=None: the backend's workers

**Results do not depend on the backend or on ``n_jobs``**: every task is a pure function of
its inputs (its optimiser start is fixed before the loop), and results are put back in task
order.

**How data reach the workers.** :func:`run` passes the data that all tasks share (the
replicate weight matrix, a frame) as separate arguments, the *same* object for every task, each
in a :class:`Shared` box that reports its arrays' bytes. joblib's Dask backend scatters an
argument over 1 kB to the cluster once per loop (it keys the scattered futures by the object)
and sends the workers references; the loky backend memory-maps arrays over 1 MB once. Only the
per-task part (a PV's outcome, a seed) is pickled per task.

**Errors name the task.** An exception inside a task is re-raised with the task's label (e.g.
``"country DEU, PV 3"`` or ``"PV 2, replicate 17"``) in front of its message: an lsa error keeps
its class, any other exception becomes a :class:`TaskError` chained to it. A worker that dies
(killed, out of memory) cannot report: when the backend gives up (loky's
``TerminatedWorkerError``, Dask's ``KilledWorker``) the loop raises a :class:`TaskError` listing
the tasks that had not returned. Dask's scheduler reschedules the tasks of a dead worker
(``distributed.scheduler.allowed-failures`` times), and ``retries=``
(``joblib.parallel_config(backend="dask", retries=2)`` or :func:`dask_backend`) resubmits a task
that raised.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Sequence

from lsa.errors import EstimationError, LsaError
from lsa.validation import check_n_jobs

__all__ = ["run", "call_task", "Shared", "TaskError", "dask_backend", "effective_jobs", "nbytes"]


class TaskError(EstimationError):
    """A task of a parallel (or serial) lsa loop failed; the message names the task."""


def nbytes(obj: Any, depth: int = 3) -> int:
    """Bytes of the arrays and frames in ``obj`` (through containers and attributes, ``depth``
    levels): the size Dask reads (``sys.getsizeof``) to decide to scatter an argument."""
    size = getattr(obj, "nbytes", None)
    if isinstance(size, int):
        return size
    if hasattr(obj, "memory_usage") and hasattr(obj, "columns"):
        return int(obj.memory_usage(index=True, deep=False).sum())
    if depth <= 0:
        return 0
    if isinstance(obj, dict):
        return sum(nbytes(v, depth - 1) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(nbytes(v, depth - 1) for v in obj)
    fields = getattr(obj, "__dict__", None)
    return sum(nbytes(v, depth - 1) for v in fields.values()) if isinstance(fields, dict) else 0


class Shared:
    """A box for data that all tasks of a loop share: one object, passed to every task, whose
    ``__sizeof__`` is its arrays' bytes, so that joblib's Dask backend scatters it once (it
    scatters an argument over 1 kB, once per object and loop) instead of pickling it per task."""

    def __init__(self, value: Any):
        self.value = value
        self.size = nbytes(value) + 64

    def __sizeof__(self) -> int:
        return self.size


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
        return index, fn(task, *(s.value if isinstance(s, Shared) else s for s in shared))
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
    they finish; serially when joblib would use one worker, else through
    ``joblib.Parallel(n_jobs)`` under the active backend. ``shared`` objects are passed as
    separate arguments, the same objects for all tasks (each in a :class:`Shared` box: scattered
    once by Dask)."""
    check_n_jobs(n_jobs)
    n = len(tasks)
    if effective_jobs(n_jobs, n) == 1:
        for k in range(n):
            yield call_task(fn, labels[k], k, tasks[k], *shared)
        return
    from joblib import Parallel, delayed
    par = Parallel(n_jobs=n_jobs, return_as="generator" if ordered else "generator_unordered")
    boxes = [Shared(s) for s in shared]
    pending = set(range(n))
    try:
        for k, res in par(delayed(call_task)(fn, labels[k], k, tasks[k], *boxes) for k in range(n)):
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
                        f"out of memory) cannot say which task it ran; Dask reschedules the tasks of a dead "
                        f"worker (distributed.scheduler.allowed-failures) and "
                        f"joblib.parallel_config(backend='dask', retries=2) resubmits failed ones.") from exc


def dask_backend(client=None, *, retries: int = 0, **kwargs):
    """``joblib.parallel_config(backend="dask", client=client, retries=retries, **kwargs)``: a
    context in which lsa's ``n_jobs`` loops run on a ``dask.distributed`` cluster (pass
    ``n_jobs=None`` or ``-1``). ``client``: a ``distributed.Client`` (default: the current
    one); ``retries``: how often Dask resubmits a task whose worker died. Needs
    ``pip install "lsa[dask]"``."""
    try:
        import distributed  # noqa: F401
    except ImportError as exc:                  # pragma: no cover - the extra is installed in CI
        raise LsaError('the Dask backend needs dask.distributed: pip install "lsa[dask]"') from exc
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise LsaError(f"retries must be a non-negative integer; got {retries!r}")
    import joblib
    return joblib.parallel_config(backend="dask", client=client, retries=retries, **kwargs)
