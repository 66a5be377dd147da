"""One BLAS thread around lsa's small batched linear algebra.

The multilevel engine (per-cluster Cholesky factors and solves of q × q blocks, its forward
and backward passes), the CR2 adjustment matrices of :mod:`lsa.robust` (one small
symmetric square root per cluster) and the GEE score steps work on many small matrices. A
multithreaded BLAS (OpenBLAS's default is one thread per core) spends more time waking and
synchronising its threads than computing on such matrices: on some machines these loops are
10-20× slower with all cores than with one. :func:`single_blas_thread` (a context manager and a
decorator) sets every loaded BLAS library to one thread for the duration of the call and
restores the previous counts afterwards, through threadpoolctl (Varoquaux & Moreau's
``threadpoolctl``, the mechanism scikit-learn uses).

Cost: the controller (the scan of the loaded libraries, ~2 ms) is built once per process and
again only when SciPy's BLAS is loaded after it; each protected call then reads and sets the
thread count of each library directly (a few µs; threadpoolctl's own ``limit`` context costs
~20 µs because it re-reads every library's state). Nested protected calls only count depth.
Nothing happens when every BLAS already runs one thread (``OPENBLAS_NUM_THREADS=1``).

:func:`set_blas_limit` changes the limit (``None`` turns the protection off), e.g. for a
large single-cluster problem where a multithreaded BLAS pays off.
"""
from __future__ import annotations

import functools
import sys
import threading
from contextlib import contextmanager
from typing import Callable, Iterator, TypeVar

from lsa.errors import LsaError

__all__ = ["single_blas_thread", "set_blas_limit", "blas_limit"]

F = TypeVar("F", bound=Callable)

_state = {"limit": 1, "depth": 0, "saved": None, "libs": None, "key": None}
_lock = threading.RLock()


def set_blas_limit(limit: int | None) -> None:
    """The BLAS thread count inside lsa's small batched linear algebra: a positive integer
    (default 1) or ``None`` (no limit: the BLAS keeps its own setting)."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise LsaError(f"limit must be a positive integer or None; got {limit!r}")
    _state["limit"] = limit


def blas_limit() -> int | None:
    """The current limit (see :func:`set_blas_limit`)."""
    return _state["limit"]


def _blas_libraries() -> list:
    """The loaded BLAS libraries' controllers, cached; rebuilt when SciPy's BLAS appears."""
    key = "scipy.linalg" in sys.modules
    if _state["libs"] is None or _state["key"] != key:
        from threadpoolctl import ThreadpoolController
        _state["libs"] = list(ThreadpoolController().select(user_api="blas").lib_controllers)
        _state["key"] = key
    return _state["libs"]


@contextmanager
def _limited() -> Iterator[None]:
    limit = _state["limit"]
    if limit is None:
        yield
        return
    with _lock:
        if _state["depth"] == 0:
            libs = _blas_libraries()
            counts = [lib.get_num_threads() for lib in libs]
            saved = [(lib, n) for lib, n in zip(libs, counts) if n is not None and n > limit]
            for lib, _ in saved:
                lib.set_num_threads(limit)
            _state["saved"] = saved
        _state["depth"] += 1
    try:
        yield
    finally:
        with _lock:
            _state["depth"] -= 1
            if _state["depth"] == 0:
                for lib, n in _state["saved"] or ():
                    lib.set_num_threads(n)
                _state["saved"] = None


def single_blas_thread(fn: F | None = None):
    """Run ``fn`` (as a decorator) or a ``with`` block (called without argument) with at most
    :func:`blas_limit` BLAS threads, restoring the previous counts afterwards."""
    if fn is None:
        return _limited()

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with _limited():
            return fn(*args, **kwargs)

    return wrapper
