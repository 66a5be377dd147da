"""Designs over several countries: the replicate weights an analysis group needs, and the check
that a grouping column (``over=``, a country) separates independent samples.

With replicates nested within country (:meth:`lsa.Replicates.within`,
:meth:`lsa.Replicates.by_country`), country c's replicates perturb only its rows, so for a group
of rows that lies in a set S of countries the other countries' replicates give θ_r = θ exactly
and add nothing to V = Σ_r c_r (θ_r − θ)². :func:`group_weights` therefore hands an estimator only
the replicate columns of the countries in the design's domain, with their factors c_r, and the
df Σ_{c ∈ S} df_c of the countries in the group: a country's estimate, SE and df in
``by="CNT"`` are those of its own single-country design, and an analysis of one country's
domain of a pooled file (``design.subset(...)``) costs what the national analysis costs.

:func:`check_constant_within_zones` is the condition under which groups are independent
samples under the replicate scheme: every replicate perturbs rows of one group only. Then the
replicate variance of a difference between groups is the sum of their variances
(SE = sqrt(SE_a² + SE_b²)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .design import SurveyDesign
from .errors import DesignError
from .io_memory import check_memory
from .replicates import assemble
from .validation import check_columns_exist, check_name

__all__ = ["GroupRows", "GroupWeights", "RowWeights", "as_slice", "group_weights", "check_constant_within_zones"]


@dataclass(frozen=True, eq=False)
class GroupWeights:
    """The weights of one analysis group.

    matrix : n × (1 + R_S) full then replicate weights, zero outside the domain and the group.
    factors : (R_S,) variance factor of each replicate column.
    df : design df of the group (Σ over its countries when nested; ``design.df`` otherwise).
    """

    matrix: np.ndarray
    factors: np.ndarray
    df: float


def group_weights(design: SurveyDesign, mask: np.ndarray | None = None) -> GroupWeights:
    """Weights, factors and df for the rows in the domain and ``mask``.

    Not nested: ``design.weight_matrix(mask)``, every replicate, ``design.df``. Nested within
    country: the replicates of the countries that have rows in the design's domain (the same
    columns for every group of one analysis, so groups can be contrasted replicate by
    replicate), and the df of the countries that have rows in the group.
    """
    rep = design.replicates
    if rep is None or not rep.nested:
        return GroupWeights(design.weight_matrix(mask), design.replicate_factors(), design.df)
    keep = design.domain if mask is None else design.domain & np.asarray(mask, dtype=bool)
    blocks = [b for b in design.replicate_blocks() if design.domain[b.rows].any()]
    _check_room(design.n, 1 + sum(b.weights.shape[1] for b in blocks), len(blocks), rep.country,
                f"weights of every row for a statistic without a per-country path, over {len(blocks)} countries")
    full = design.full_weight()
    w = np.concatenate([full[:, None], assemble(blocks, full)], axis=1) if blocks else full[:, None].copy()
    w *= keep[:, None]
    factors = np.concatenate([b.factors for b in blocks]) if blocks else np.empty(0)
    return GroupWeights(w, factors, float(sum(b.df for b in blocks if keep[b.rows].any())))


@dataclass(frozen=True, eq=False)
class GroupRows:
    """The weights of one analysis group, restricted to the group's rows.

    rows : positions of the group's rows (in the domain), a slice when they are contiguous.
    matrix : (rows, 1 + R_g) full then replicate weights: with replicates nested within country,
        only the R_g replicates of the group's countries (a view of the design's per-country
        matrix when the group is a whole country); otherwise every replicate.
    columns : (R_g,) positions of those replicates among the analysis's R replicate columns
        (None: all R). On the group's rows every other replicate equals the full weight, so its
        θ_r equals θ exactly and it adds nothing to V (module docstring).
    df : design df of the group.
    """

    rows: slice | np.ndarray
    matrix: np.ndarray
    columns: np.ndarray | None
    df: float


class RowWeights:
    """The replicate columns of one analysis (those of the countries in the domain, nested; every
    one, not nested) with their ``factors`` (R,), and :meth:`group` for the rows of one group.

    The cost of a group is its rows × (1 + its countries' replicates): a ``by="CNT"`` analysis of
    C countries reads each country's block once, instead of C masked n × (1 + Σ R_c) matrices.
    """

    def __init__(self, design: SurveyDesign) -> None:
        rep = design.replicates
        self.design = design
        self.nested = rep is not None and rep.nested
        if not self.nested:
            self.factors = design.replicate_factors()
            self.offsets: dict[int, int] = {}
            return
        blocks = design.replicate_blocks()
        dom = design.domain
        active = [i for i, b in enumerate(blocks) if dom[b.rows].any()]
        sizes = [blocks[i].weights.shape[1] for i in active]
        self.offsets = dict(zip(active, np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int)))
        self.factors = np.concatenate([blocks[i].factors for i in active]) if active else np.empty(0)
        self.block_of_row = np.zeros(design.n, dtype=np.intp)
        for i, b in enumerate(blocks):
            self.block_of_row[b.rows] = i

    @property
    def n_replicates(self) -> int:
        return len(self.factors)

    def group(self, rows: np.ndarray) -> GroupRows:
        """Weights of the rows ``rows`` (sorted positions, all in the domain)."""
        d = self.design
        idx = as_slice(rows)
        if not self.nested:
            return GroupRows(idx, d.weight_rows(idx), None, d.df)
        blocks, mats = d.replicate_blocks(), d.block_matrices()
        which = self.block_of_row[idx]
        present = [int(which[0])] if (which == which[0]).all() else np.unique(which).tolist()
        cols = [np.arange(self.offsets[b], self.offsets[b] + blocks[b].weights.shape[1]) for b in present]
        df = float(sum(blocks[b].df for b in present))
        if len(present) == 1:
            b = present[0]
            if len(rows) == len(blocks[b].rows):                       # the whole country
                return GroupRows(idx, mats[b], cols[0], df)
            return GroupRows(idx, mats[b][as_slice(np.searchsorted(blocks[b].rows, rows))], cols[0], df)
        _check_room(len(rows), 1 + sum(len(c) for c in cols), len(present), d.replicates.country,
                    f"weights of a group over {len(present)} countries")
        full = d.full_weight()[rows]
        out = np.repeat(full[:, None], 1 + sum(len(c) for c in cols), axis=1)
        j = 1
        for b, c in zip(present, cols):
            sel = which == b
            out[sel, j:j + len(c)] = blocks[b].weights[np.searchsorted(blocks[b].rows, rows[sel])]
            j += len(c)
        return GroupRows(idx, out, np.concatenate(cols), df)


def _check_room(n_rows: int, n_columns: int, n_countries: int, country: str, what: str) -> None:
    """Before building rows × (1 + Σ R_c) weights over several countries: a
    :class:`~lsa.errors.NotEnoughMemoryError` with the estimate when they would not fit."""
    if n_countries > 1:
        check_memory(n_rows, 8 * n_columns, f"{what} (replicates nested within {country!r}: "
                     f"{n_columns - 1:,} replicate columns)", n_columns=n_columns,
                     peak=2.0, advice=f"Analyse by country (by={country!r}, or by=[{country!r}, ...]) and combine "
                     f"the national results (lsa.average), or restrict the design to fewer countries "
                     f"(design.subset(...)).")


def as_slice(rows: np.ndarray) -> slice | np.ndarray:
    """Sorted positions as a slice when they are contiguous (indexing then gives views)."""
    if len(rows) and rows[-1] - rows[0] + 1 == len(rows):
        return slice(int(rows[0]), int(rows[-1]) + 1)
    return rows


def check_constant_within_zones(design: SurveyDesign, column: str, argument: str = "over") -> None:
    """Error unless every replicate of ``design`` perturbs rows of one value of ``column`` only.

    That makes the groups of ``column`` independent samples under the replicate scheme (a
    country column of a design whose replicates are nested within it always passes; a pooled
    file whose zones restart in each country, with replicates built over the pooled file, does
    not). Rows with a missing ``column`` belong to no group and are ignored.
    """
    check_name(column, argument)
    check_columns_exist(design.data, [column], argument)
    if design.replicates is None:
        return
    codes = pd.factorize(design.data[column])[0]
    labels = pd.factorize(design.data[column])[1]
    full = design.full_weight()
    for block in design.replicate_blocks():
        rows = np.arange(design.n) if block.rows is None else block.rows
        c = codes[rows]
        changed = ~np.isclose(block.weights, full[rows, None], rtol=1e-12, atol=0) & (c >= 0)[:, None]
        lo = np.where(changed, c[:, None], np.iinfo(np.int64).max).min(axis=0)
        hi = np.where(changed, c[:, None], -1).max(axis=0)
        bad = np.flatnonzero(hi > lo)
        if len(bad):
            r = int(bad[0])
            vals = [getattr(labels[k], "item", lambda v=labels[k]: v)() for k in np.unique(c[changed[:, r]])][:5]
            where = "" if block.label is None else f" of {design.replicates.country} = {block.label!r}"
            zones = (f"the zones of {design.replicates.zone!r}" if design.replicates.zone
                     else "the replicate columns")
            raise DesignError(
                f"{argument}: column {column!r} is not constant within the design's strata (replicate zones): "
                f"replicate {r + 1}{where} changes the weights of rows with {column} = {vals} "
                f"({len(bad)} of {block.weights.shape[1]} replicates do so). Groups of {column!r} are not "
                f"independent samples under this design. If {zones} are numbered within each country, nest the "
                f"replicates within the country column (Replicates.within({column!r}); "
                f"SurveyDesign.from_study does so when the data hold several countries).")
