"""Design-based two-way tables: weighted counts and total, row and column percentages with
replicate SEs pooled over plausible values, and Rao–Scott tests of independence
(:mod:`lsa.estimators.rao_scott`), as ``survey::svytable`` / ``svymean`` / ``svychisq`` and RALSA's
``lsa.crosstabs``.

For the cells (i, j) of the margins ``row`` × ``col`` and every weight column w (full sample and
replicates), with N_ij = Σ w 1[row = i, col = j] over rows with both margins observed:

    count  = N_ij                    total  = 100 N_ij / N··
    row    = 100 N_ij / N_i·         column = 100 N_ij / N_·j

Each is a term of the result (``kind`` column), replicate variance per PV, Rubin's rules over PVs
(:mod:`lsa.estimators._core`). A margin may be a PV set cut into levels (``cuts=``, or the
design's benchmarks; a PV is in a level when it is ≥ the level's lower cut), evaluated PV m by
PV m; two PV sets are paired PV m with PV m.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import sparse

from ..design import SurveyDesign
from ..errors import DesignError, LsaWarning, warn
from ..results import WaldTest
from ..validation import (check_categories, check_choice, check_name, check_names, check_number, check_numbers,
                          reads_named_columns)
from . import influence
from ._core import DesignResult, DfMethod, Draws, counts, numeric_matrix, over_completed, pv_columns, run_by_groups
from .rao_scott import ORDERS, pooled_test, rao_scott

KINDS = ("count", "total", "row", "column")
#: default largest number of levels of a margin (a 20 × 20 table has 1,600 terms)
MAX_CROSSTAB_LEVELS = 20


@dataclass(frozen=True)
class CrosstabResult(DesignResult):
    """A :class:`DesignResult` of a two-way table (terms ``kind:row level:column level``; the
    columns ``kind`` and the two margins' names hold the parts) with :meth:`test`."""

    row: str = ""
    col: str = ""
    row_levels: tuple = ()
    col_levels: tuple = ()

    @classmethod
    def from_result(cls, result: DesignResult, row: str, col: str, row_levels, col_levels) -> "CrosstabResult":
        return cls(**{f.name: getattr(result, f.name) for f in fields(DesignResult)}, row=row, col=col,
                   row_levels=tuple(row_levels), col_levels=tuple(col_levels))

    def _group(self, group) -> object:
        key = tuple(group) if isinstance(group, (tuple, list)) else (group,)
        found = [g for g in self.groups if tuple(g.labels.values()) == key]
        if not found:
            raise DesignError(f"group must be the labels of one by-group, one of "
                              f"{[tuple(g.labels.values()) for g in self.groups]}; got {group!r}.")
        return found[0]

    def draw_tests(self, group=()) -> list:
        """The Rao–Scott pieces (:class:`lsa.estimators.rao_scott.RaoScott`) of each draw (PV) of
        one group; None for a draw whose table has fewer than 2 × 2 non-empty rows/columns."""
        g = self._group(group)
        idx = np.flatnonzero(np.asarray(g.extra["kind"]) == "total")
        shape = (len(self.row_levels), len(self.col_levels))
        n = float(g.n_obs[idx[0]])
        return [rao_scott(est[idx].reshape(shape) / 100, cov[np.ix_(idx, idx)] / 1e4, n, g.df_complete)
                for est, cov in zip(g.estimates, g.covariances)]

    def test(self, method: str = "first_order", group=(), pv: int | None = None) -> WaldTest:
        """Rao–Scott test of independence of the margins in one ``by`` group.

        ``method="first_order"``: χ² = X²/δ̄ on (r − 1)(c − 1) df (``svychisq(statistic="Chisq")``);
        ``"second_order"``: F = X²/tr(Δ) on (d₀, d₀ ν) df (``svychisq(statistic="F")``). ``Q`` holds
        Pearson's X² and ``delta`` the mean design effect δ̄. With PVs the draws are pooled by D2
        (:func:`lsa.estimators.rao_scott.pooled_test`); ``pv=m`` gives PV m's own test."""
        check_choice(method, ORDERS, "method")
        draws = self.draw_tests(group)
        if pv is not None:
            check_number(pv, "pv", low=1, high=len(draws), integer=True)
            draws = draws[int(pv) - 1:int(pv)]
        if any(d is None for d in draws):
            return WaldTest(np.nan, np.nan, np.nan, np.nan, f"Rao-Scott {method.replace('_', ' ')}")
        out = pooled_test(draws, method)
        return WaldTest(**{**out.__dict__, "hypotheses": (f"{self.row} independent of {self.col}",)})

    def summary(self) -> str:
        lines = [super().summary(), ""]
        for g in self.groups:
            label = f" [{', '.join(map(str, g.labels.values()))}]" if g.labels else ""
            for m in ORDERS:
                lines.append(f"{self.test(m, tuple(g.labels.values()))}{label}")
        return "\n".join(lines)


def _levels(values: list[pd.Series]) -> list:
    seen = set().union(*(set(v.dropna().unique()) for v in values))
    first = values[0]
    if isinstance(first.dtype, pd.CategoricalDtype):
        return [c for c in first.cat.categories if c in seen]
    try:
        return sorted(seen)
    except TypeError:                                     # mixed types: order as text
        return sorted(seen, key=str)


def _codes(s: pd.Series, levels: list) -> np.ndarray:
    if isinstance(s.dtype, pd.CategoricalDtype):
        return s.cat.set_categories(levels).cat.codes.to_numpy()
    return pd.Categorical(s, categories=levels).codes


def _cut_labels(cuts: np.ndarray, labels) -> list[str]:
    if labels is not None:
        return [f"Below {labels[0]}"] + [str(x) for x in labels]
    fmt = [f"{c:g}" for c in cuts]
    return [f"< {fmt[0]}"] + [f"{a}–{b}" for a, b in zip(fmt, fmt[1:])] + [f">= {fmt[-1]}"]


def _option(value, name: str, is_pv: bool):
    """``cuts``/``labels`` for one margin: a mapping by margin name, or one list for the PV set."""
    if isinstance(value, Mapping):
        return value.get(name)
    return value if is_pv else None


def _margin(design: SurveyDesign, name: str, argument: str, cuts, labels, max_levels: int
            ) -> tuple[np.ndarray, list]:
    """(codes (n, M) with −1 for missing, level labels) of one margin."""
    m, cols = pv_columns(design, [name], argument)
    columns = cols[name]
    if cuts is None and design.is_pv(name):
        spec = design.benchmarks.get(name)
        if spec is None:
            raise DesignError(f"{argument}: {name!r} is a plausible-value set; give cut points to cut it into "
                              f"levels (cuts=[...] or cuts={{{name!r}: [...]}}); the design has benchmarks for "
                              f"{list(design.benchmarks)}.")
        cuts, labels = spec["cuts"], labels or spec.get("labels") or None
    if cuts is None:
        series = [design.data[c] for c in dict.fromkeys(columns)]
        for c, s in zip(dict.fromkeys(columns), series):
            check_categories(s, c, argument, limit=max_levels)
        levels = _levels(series)
        if not levels:
            raise DesignError(f"{argument}: {name!r} has no non-missing values.")
        codes = np.stack([_codes(design.data[c], levels) for c in columns], axis=1)
        return codes.astype(int), levels
    cut = np.asarray(check_numbers(cuts, "cuts"), dtype=float)
    if np.any(np.diff(cut) <= 0):
        raise DesignError(f"cuts: cut points of {name!r} must increase; got {list(cuts)}.")
    if labels is not None and (isinstance(labels, str) or len(labels) != len(cut)):
        raise DesignError(f"labels: give one label per cut point of {name!r} ({len(cut)} cuts); got {labels!r}.")
    if len(cut) + 1 > max_levels:
        raise DesignError(f"cuts: {len(cut)} cut points give {len(cut) + 1} levels of {name!r}; at most "
                          f"max_levels={max_levels} levels are tabulated.")
    y = numeric_matrix(design, columns, argument)
    codes = np.where(np.isnan(y), -1, np.searchsorted(cut, np.nan_to_num(y, nan=-np.inf), side="right"))
    return codes.astype(int), _cut_labels(cut, labels)


def _cell_shares(cell: np.ndarray, w: np.ndarray, nr: int, nc: int) -> np.ndarray:
    """(1 + R, 4 nr nc): counts, total, row and column percentages of each weight column, cells
    row-major. ``cell``: row-major cell index, −1 outside the table."""
    ok = cell >= 0
    onehot = sparse.csr_matrix((np.ones(ok.sum()), (cell[ok], np.flatnonzero(ok))), shape=(nr * nc, len(cell)))
    tab = np.asarray(onehot @ w).T.reshape(-1, nr, nc)                 # (1 + R, nr, nc)
    with np.errstate(invalid="ignore", divide="ignore"):
        parts = [tab, 100 * tab / tab.sum(axis=(1, 2), keepdims=True),
                 100 * tab / tab.sum(axis=2, keepdims=True), 100 * tab / tab.sum(axis=1, keepdims=True)]
    return np.concatenate([p.reshape(len(tab), -1) for p in parts], axis=1)


def _linearised(cell: np.ndarray, w: np.ndarray, theta: np.ndarray, nr: int, nc: int) -> np.ndarray:
    """(n, 4 nr nc) linearised values z_i = w_i ∂θ/∂w_i of the counts (w_i 1[cell ij]) and of the
    total, row and column percentages (ratios, :func:`lsa.estimators.influence.ratio` with the
    rows of the table, of row i, of column j as denominators), for a Taylor design."""
    k = nr * nc
    onehot = (cell[:, None] == np.arange(k)).astype(float)
    ok = (cell >= 0)[:, None]
    r_of, c_of = np.repeat(np.arange(nr), nc), np.tile(np.arange(nc), nr)
    in_row = ok & (cell[:, None] // nc == r_of[None, :])
    in_col = ok & (cell[:, None] % nc == c_of[None, :])
    parts = [w[:, None] * onehot]
    for j, valid in enumerate((np.repeat(ok, k, axis=1), in_row, in_col), start=1):
        parts.append(influence.ratio(onehot, valid, w, theta[j * k:(j + 1) * k], 100.0).T)
    return np.nan_to_num(np.concatenate(parts, axis=1))


@over_completed
def _table(design: SurveyDesign, row: str, col: str, by=None, *, cuts=None, labels=None,
           max_levels: int = MAX_CROSSTAB_LEVELS, df_method: DfMethod = "barnard_rubin") -> CrosstabResult:
    check_name(row, "row")
    check_name(col, "col")
    check_number(max_levels, "max_levels", low=2, integer=True)
    if row == col:
        raise DesignError(f"row and col must be two different variables; got {row!r} for both.")
    if set(check_names(by, "by", allow_none=True)) & {row, col}:
        raise DesignError(f"by must not repeat a margin of the table ({row!r}, {col!r}); got {by!r}.")
    if cuts is not None and not isinstance(cuts, Mapping) and not (design.is_pv(row) or design.is_pv(col)):
        raise DesignError(f"cuts: neither row ({row!r}) nor col ({col!r}) is a plausible-value set; give "
                          f"cuts={{column: [...]}} to cut a numeric column.")
    if cuts is not None and not isinstance(cuts, Mapping) and design.is_pv(row) and design.is_pv(col):
        raise DesignError(f"cuts: row and col are both plausible-value sets; give cuts={{{row!r}: [...], "
                          f"{col!r}: [...]}}.")
    rcodes, rlev = _margin(design, row, "row", _option(cuts, row, design.is_pv(row)),
                           _option(labels, row, design.is_pv(row)), max_levels)
    ccodes, clev = _margin(design, col, "col", _option(cuts, col, design.is_pv(col)),
                           _option(labels, col, design.is_pv(col)), max_levels)
    if rcodes.shape[1] > 1 and ccodes.shape[1] > 1 and rcodes.shape[1] != ccodes.shape[1]:
        raise DesignError(f"row and col are plausible-value sets of unequal length "
                          f"({rcodes.shape[1]} and {ccodes.shape[1]}).")
    m = max(rcodes.shape[1], ccodes.shape[1])
    rcodes, ccodes = np.broadcast_to(rcodes, (design.n, m)), np.broadcast_to(ccodes, (design.n, m))
    valid = (rcodes >= 0) & (ccodes >= 0)
    cells = np.where(valid, rcodes * len(clev) + ccodes, -1)
    nr, nc = len(rlev), len(clev)
    kinds = np.repeat(KINDS, nr * nc).tolist()
    rl, cl = np.tile(np.repeat(np.asarray(rlev, dtype=object), nc), 4), np.tile(np.tile(np.asarray(clev, dtype=object), nr), 4)
    terms = [f"{k}:{a}:{b}" for k, a, b in zip(kinds, rl, cl)]
    extra = {"kind": kinds, row: list(rl), col: list(cl)}

    def compute(w: np.ndarray) -> Draws:
        theta = np.stack([_cell_shares(cells[:, i], w, nr, nc) for i in range(m)])
        infl = (np.stack([_linearised(cells[:, i], w[:, 0], theta[i, 0], nr, nc) for i in range(m)])
                if influence.wanted(design) else None)
        used, miss = counts(valid, w[:, 0])
        k = len(terms)
        return Draws(theta, terms, np.full(k, used), np.full(k, miss), design.df, extra, infl)

    result = run_by_groups(design, by, compute, statistic=f"Crosstab of {row} by {col}", df_method=df_method)
    return CrosstabResult.from_result(result, row, col, rlev, clev)


@reads_named_columns
def crosstab(design: SurveyDesign, row: str, col: str, by: str | Sequence[str] | None = None, *,
             cuts=None, labels=None, max_levels: int = MAX_CROSSTAB_LEVELS,
             df_method: DfMethod = "barnard_rubin", pool: str = "flat") -> CrosstabResult:
    """Two-way table of ``row`` × ``col`` with counts, total/row/column percentages and SEs, and
    the Rao–Scott tests of independence (``result.test("first_order")``, ``"second_order"``).

    Each margin is a categorical column (at most ``max_levels`` levels; categories observed in the
    data, in category order) or a PV set cut into levels by ``cuts`` (one list for the PV margin,
    or ``{name: [...]}``; default: the design's benchmarks) with optional ``labels``. Rows missing
    either margin are excluded (``n_missing``). A cell with zero weighted count is reported (0 %)
    and the test is computed with that cell's design effect set to 0, as ``svychisq``
    (a warning says so). Completed designs (a list or ``lsa.impute.Imputed``) are pooled as every
    estimator (``pool=``), and the test over all their draws by D2.

    Examples
    --------
    >>> ct = lsa.crosstab(design, "st29q03", "sc14q02")                    # doctest: +SKIP
    >>> ct.test("second_order")                                            # doctest: +SKIP
    """
    result = _table(design, row, col, by, cuts=cuts, labels=labels, max_levels=max_levels,
                    df_method=df_method, pool=pool)
    if not isinstance(result, CrosstabResult):                # pooled over completed designs
        result = CrosstabResult.from_result(result, row, col, *_pooled_levels(result, row, col))
    _warn_empty(result)
    return result


def _pooled_levels(result: DesignResult, row: str, col: str) -> tuple[list, list]:
    t = result.table[result.table["kind"] == "total"]
    return list(dict.fromkeys(t[row])), list(dict.fromkeys(t[col]))


def _warn_empty(result: CrosstabResult) -> None:
    """One warning per group with zero cells or empty levels in the table of any draw."""
    shape = (len(result.row_levels), len(result.col_levels))
    for g in result.groups:
        idx = np.flatnonzero(np.asarray(g.extra["kind"]) == "total")
        tabs = np.nan_to_num(np.asarray(g.estimates)[:, idx]).reshape(-1, *shape)
        where = f" in group {g.labels}" if g.labels else ""
        empty_r = [lv for lv, any_empty in zip(result.row_levels, (tabs.sum(axis=2) == 0).any(axis=0)) if any_empty]
        empty_c = [lv for lv, any_empty in zip(result.col_levels, (tabs.sum(axis=1) == 0).any(axis=0)) if any_empty]
        zero = [f"{result.row_levels[i]}:{result.col_levels[j]}" for i, j in zip(*np.nonzero((tabs == 0).any(axis=0)))
                if result.row_levels[i] not in empty_r and result.col_levels[j] not in empty_c]
        if empty_r or empty_c:
            warn(f"crosstab: levels with no weight{where} (row {empty_r}, col {empty_c}); their row/column "
                 f"percentages are undefined and the Rao–Scott test drops them.", LsaWarning)
        if zero:
            warn(f"crosstab: cell(s) {zero} have zero weighted count{where}; the Rao–Scott test is computed "
                 f"with their design effects set to 0 (as survey::svychisq).", LsaWarning)
