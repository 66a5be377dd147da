"""The groups of ``by=``: which rows belong to which group, in level order.

:func:`by_groups` gives a mask per group (the n-row path of
:func:`lsa.estimators._core.run_by_groups`); :func:`group_positions` the sorted row positions in
the domain, from a single sort of the rows (the cost is n log n once, not n per group). Both
order the groups by the levels of the ``by`` columns (a Categorical's order, else sorted),
column by column; rows with a missing ``by`` value belong to no group (counted in a warning).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ..design import SurveyDesign
from ..errors import MissingDataWarning, warn
from ..validation import check_columns_exist, check_names

__all__ = ["by_groups", "frame_positions", "group_positions"]


def by_groups(design: SurveyDesign, by: str | Sequence[str] | None) -> list[tuple[dict, np.ndarray]]:
    """(labels, mask) for each group of the ``by`` columns present in the domain; rows with a
    missing ``by`` value belong to no group (counted in a warning)."""
    if by is None:
        return [({}, np.ones(design.n, dtype=bool))]
    cols = check_names(by, "by")
    check_columns_exist(design.data, cols, "by")
    frame = design.data[cols]
    na = frame.isna().any(axis=1).to_numpy()
    n_na = int((na & design.domain).sum())
    if n_na:
        warn(f"{n_na} rows in the domain have a missing value in {cols} and belong to no group.",
             MissingDataWarning)
    cats = [pd.Categorical(frame[c]) for c in cols]            # a Categorical keeps its level order
    codes = np.column_stack([cat.codes for cat in cats])
    present = design.domain & ~na
    groups = []
    for combo in np.unique(codes[present], axis=0):            # sorted by level order, column by column
        labels = {c: cat.categories[k] for c, cat, k in zip(cols, cats, combo)}
        groups.append((labels, (codes == combo).all(axis=1)))
    return groups


def group_positions(design: SurveyDesign, by: str | Sequence[str] | None) -> list[tuple[dict, np.ndarray]]:
    """(labels, sorted row positions in the domain) for each group of ``by``, in the order of
    :func:`by_groups` (level order, column by column); one sort of the rows for all groups."""
    if by is None:
        return [({}, np.flatnonzero(design.domain))]
    return frame_positions(design.data, by, design.domain)


def frame_positions(frame: pd.DataFrame, by: str | Sequence[str], domain: np.ndarray | None = None
                    ) -> list[tuple[dict, np.ndarray]]:
    """:func:`group_positions` of the rows of a DataFrame (``domain``: a mask, default every row)."""
    cols = check_names(by, "by")
    check_columns_exist(frame, cols, "by")
    domain = np.ones(len(frame), dtype=bool) if domain is None else domain
    cats = [pd.Categorical(frame[c]) for c in cols]
    key = np.zeros(len(frame), dtype=np.int64)
    na = np.zeros(len(frame), dtype=bool)
    for cat in cats:                                           # mixed radix: sorts as (col 1, col 2, ...)
        key = key * (len(cat.categories) + 1) + cat.codes
        na |= cat.codes < 0
    n_na = int((na & domain).sum())
    if n_na:
        warn(f"{n_na} rows in the domain have a missing value in {cols} and belong to no group.",
             MissingDataWarning)
    present = np.flatnonzero(domain & ~na)
    order = present[np.argsort(key[present], kind="stable")]
    values, starts = np.unique(key[order], return_index=True)
    out = []
    for v, rows in zip(values, np.split(order, starts[1:])):
        combo, labels = int(v), {}
        for c, cat in zip(reversed(cols), reversed(cats)):
            combo, k = divmod(combo, len(cat.categories) + 1)
            labels[c] = cat.categories[k]
        out.append(({c: labels[c] for c in cols}, rows))
    return out
