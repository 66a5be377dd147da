"""Multilevel fits over plausible values in every group of a pooled file (``mix_pv`` by country).

:func:`mix_pv_by` splits a design (or a DataFrame) into the rows of each group of ``by`` — the
countries of an international file, ``by="CNT"`` — and runs :func:`lsa.mix_pv` on each group's
own rows, in parallel over groups with ``n_jobs`` (:func:`lsa.parallel.run`, so it runs under
whatever backend ``joblib.parallel_config`` sets: loky processes, threads, or a Dask cluster;
a failing group is named). Each task gets its group's rows and only the columns the design and the formula use,
so the data sent to a worker are that country's block, not the pooled file (without the
replicate weights unless ``se="replicate"``: the sandwich does not read them). Within a task the
country's PVs (and, with ``se="replicate"``, its replicates) are fitted serially: the grid of
countries × PVs × replicates is spread over the workers by country.

A group's fit is the fit of its single-country design: a country is a separate sample (the
replicates of a pooled PISA file are nested within ``CNT``, :meth:`lsa.Replicates.within`), its
weights, PVs and replicate weights are its own rows'; results do not depend on ``n_jobs``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import pandas as pd

from lsa.design import SurveyDesign
from lsa.errors import DesignError
from lsa.mixed.pv_result import MixPVResult
from lsa.parallel import run
from lsa.progress import progress_bar, wants_progress
from lsa.estimators.groups import frame_positions
from lsa.validation import check_frame, check_names

__all__ = ["MixPVByResult", "mix_pv_by", "group_designs"]


@dataclass(frozen=True)
class MixPVByResult:
    """One :class:`lsa.MixPVResult` per group. ``tidy()`` and ``glance()`` stack the groups'
    tables with the ``by`` columns first; ``results[labels]`` (``labels`` a tuple of the group's
    ``by`` values) or ``result["C01"]`` for one group."""

    by: tuple[str, ...]
    results: dict

    def _stack(self, method: str) -> pd.DataFrame:
        parts = []
        for labels, res in self.results.items():
            t = getattr(res, method)()
            for k, (col, value) in enumerate(zip(self.by, labels)):
                t.insert(k, col, value)
            parts.append(t)
        return pd.concat(parts, ignore_index=True)

    def tidy(self) -> pd.DataFrame:
        """The groups' :meth:`lsa.MixPVResult.tidy` tables, the ``by`` columns first."""
        return self._stack("tidy")

    def glance(self) -> pd.DataFrame:
        """The groups' :meth:`lsa.MixPVResult.glance` rows, the ``by`` columns first."""
        return self._stack("glance")

    def __getitem__(self, labels) -> MixPVResult:
        key = labels if isinstance(labels, tuple) else (labels,)
        if key not in self.results:
            raise DesignError(f"no group {labels!r}; groups are {list(self.results)[:8]}"
                              + (" ..." if len(self.results) > 8 else "") + ".")
        return self.results[key]

    def __len__(self) -> int:
        return len(self.results)

    def summary(self) -> str:
        return "\n\n".join(f"{dict(zip(self.by, k))}\n{r.summary()}" for k, r in self.results.items())


def group_designs(data: SurveyDesign | pd.DataFrame, by: str | Sequence[str], formula: str = "",
                  extra: Sequence[str] = (), replicates: bool = True) -> list[tuple[tuple, Callable[[], Any]]]:
    """(labels, a function making the group's own rows) per group of ``by`` present in the domain,
    in level order: a :class:`SurveyDesign` of the group's rows (its domain, the columns the design
    and ``formula`` use, and ``extra``; without the replicate weights unless ``replicates``) or
    the DataFrame's rows. Made on demand, so that only the groups being fitted are copied."""
    frame = data.data if isinstance(data, SurveyDesign) else check_frame(data)
    domain = data.domain if isinstance(data, SurveyDesign) else None
    positions = frame_positions(frame, by, domain)
    keep = _columns(data, frame, formula, [*check_names(by, "by"), *extra], replicates)
    index = frame.columns.get_indexer(keep)

    def make(rows):
        sub = frame.iloc[rows, index].reset_index(drop=True)
        if not isinstance(data, SurveyDesign):
            return sub
        return SurveyDesign(sub, data.ids, data.weights or None, data.pvs, data.replicates if replicates else None,
                            data.strata, conditional_weights=data.conditional_weights, pv_variance=data.pv_variance,
                            study=data.study, cycle=data.cycle, fpc=data.fpc, lonely_psu=data.lonely_psu)

    return [(tuple(labels.values()), (lambda rows=rows: make(rows))) for labels, rows in positions]


def mix_pv_by(fit: Callable[..., MixPVResult], formula: str, data: SurveyDesign | pd.DataFrame,
              by: str | Sequence[str] = "CNT", weights: Sequence[str] | None = None, *, n_jobs: int | None = 1,
              **options: Any) -> MixPVByResult:
    """``fit`` (:func:`lsa.mix_pv`, which calls this for ``by=``) in every group of ``by``, in
    parallel over groups (module docstring). ``options`` are :func:`lsa.mix_pv`'s keyword
    arguments (``se``, ``df_method``, ``control``, ...); ``n_jobs`` workers over groups
    (``None``: the enclosing ``joblib.parallel_config``'s), each group's PVs fitted in one task.
    An error in a group names it (``CNT = 'C07': ...``). ``progress`` (in ``options``): one bar over
    the groups (default: shown for more than one group).

    >>> res = lsa.mix_pv("MATH ~ ESCS + (1|school)", design, by="CNT", n_jobs=2)   # doctest: +SKIP
    >>> res.tidy()                                                                  # doctest: +SKIP
    """
    if "by" in options:
        raise DesignError("mix_pv: give by= once.")
    cols = tuple(check_names(by, "by"))
    extra = list(weights or ())
    tasks = group_designs(data, cols, formula, extra, replicates=options.get("se") == "replicate")
    if not tasks:
        raise DesignError(f"mix_pv: by={list(cols)}: no row in the domain has a value of them.")
    show = wants_progress(options.get("progress"), len(tasks) > 1)
    options = {**options, "progress": False}                        # one bar, over the groups
    labels = [", ".join(f"{c} = {v!r}" for c, v in zip(cols, key)) for key, _ in tasks]
    fits = []
    with progress_bar(len(tasks), show, f"mix_pv by {', '.join(cols)}", unit="group") as bar:
        for _, res in run(_fit, _GroupRows(tasks), labels, n_jobs=n_jobs, shared=(fit, formula, weights, options)):
            fits.append(res)                                        # in group order, as they come
            bar.update()
    return MixPVByResult(cols, {key: res for (key, _), res in zip(tasks, fits)})


class _GroupRows:
    """The groups' data as a sequence made on access: :func:`lsa.parallel.run` reads item k
    when it dispatches task k, so only the group being sent is copied."""

    def __init__(self, tasks: list):
        self._make = [make for _, make in tasks]

    def __len__(self) -> int:
        return len(self._make)

    def __getitem__(self, k: int):
        return self._make[k]()


def _fit(data, fit, formula: str, weights, options: dict) -> MixPVResult:
    """One group's :func:`lsa.mix_pv` (its PVs serially); :func:`lsa.parallel.run` puts the
    group's label in front of an error."""
    return fit(formula, data, weights, n_jobs=1, **options)


def _columns(data, frame: pd.DataFrame, formula: str, extra: Sequence[str], replicates: bool) -> list[str]:
    """The columns a group's fit reads: the design's (replicate weights only for ``replicates``)
    and the names the formula mentions."""
    names = set(re.findall(r"[A-Za-z_.][A-Za-z0-9_.]*", formula)) | set(extra)
    if isinstance(data, SurveyDesign):
        names |= set(data.ids.values()) | set(data.weights.values())
        names |= {c for cols in data.pvs.values() for c in cols}
        if data.replicates is not None and replicates:
            names |= set(data.replicates.needed_columns)
        names |= {c for c in (data.strata, data.fpc) if c}
    return [c for c in frame.columns if c in names]
