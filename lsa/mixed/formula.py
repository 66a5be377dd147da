"""lme4-style formulas for linear mixed models.

``y ~ x1 + x2 + (1 | school)``, random slopes ``(1 + x1 | school)``, uncorrelated terms
``(1 | school) + (0 + x1 | school)``, three levels ``(1 | school) + (1 | school:class)`` or
``(1 | school/class)``.

The fixed part and the columns of each random term are built by :func:`lsa.formula.fixed_matrix`,
the builder shared by every model in lsa. Factors use R's treatment coding (first level is the
reference; empty levels are dropped before coding) and columns are named as R names them:
``(Intercept)``, ``st04q01Male``, ``escs:st04q01Male``.

Parsing (:func:`parse_formula`) is pure string work; :func:`model_frame` evaluates a parsed
formula against a DataFrame, drops incomplete rows and checks everything about the data
(missing groups, nesting, rank of the fixed-effect design).
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.linalg

from lsa.formula import as_factors, check_known_names, check_values, fixed_matrix, load_formula_columns, r_name
from lsa.formula_plain import float_rows, plain_matrix, plain_numeric, plain_terms
from lsa.errors import DesignError, FormulaError
from lsa.validation import check_factor_levels, factor_level_limit, numeric_column

__all__ = ["RandomTerm", "ParsedFormula", "ModelFrame", "parse_formula", "model_frame",
           "r_name"]


@dataclass(frozen=True)
class RandomTerm:
    """One ``(expr | group)`` term: ``expr`` is an R formula right-hand side (built by
    :func:`lsa.formula.fixed_matrix`), ``group`` a grouping factor, possibly an interaction
    ``a:b`` of columns."""

    expr: str
    group: str

    @property
    def group_columns(self) -> tuple[str, ...]:
        return tuple(g.strip() for g in self.group.split(":"))


@dataclass(frozen=True)
class ParsedFormula:
    """A mixed-model formula split into response, fixed right-hand side and random terms."""

    formula: str
    response: str
    fixed: str
    random: tuple[RandomTerm, ...]

    @property
    def groups(self) -> tuple[str, ...]:
        """Distinct grouping factors in order of appearance."""
        return tuple(dict.fromkeys(t.group for t in self.random))


def _split_top(text: str, sep: str) -> list[str]:
    """Split ``text`` at ``sep`` characters outside parentheses."""
    parts, depth, cur = [], 0, []
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        if depth < 0:
            raise FormulaError(f"unbalanced parentheses in formula part {text!r}")
        if ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth != 0:
        raise FormulaError(f"unbalanced parentheses in formula part {text!r}")
    parts.append("".join(cur))
    return [p.strip() for p in parts]


split_top = _split_top      # public name (used by lsa.mix_pv)


_BAR = re.compile(r"^\((.*)\|(.*)\)$", re.S)


def _expand_group(group: str) -> list[str]:
    """``a/b/c`` → ``a``, ``a:b``, ``a:b:c`` (lme4's nesting shorthand)."""
    parts = [g.strip() for g in group.split("/")]
    if any(not g for g in parts):
        raise FormulaError(f"empty grouping factor in {group!r}")
    return [":".join(parts[: k + 1]) for k in range(len(parts))]


def parse_formula(formula: str) -> ParsedFormula:
    """Split an lme4 formula into response, fixed part and random terms.

    >>> parse_formula("y ~ x + (1 + x | school/class)").random[1].group
    'school:class'
    """
    if not isinstance(formula, str) or formula.count("~") != 1:
        raise FormulaError(f"formula must be a string 'y ~ x + (1 | group)', got {formula!r}")
    return _parse(formula)


@functools.lru_cache(maxsize=256)
def _parse(formula: str) -> ParsedFormula:
    """:func:`parse_formula` of a string with one ``~``, kept for the next call with the same
    formula (a refit, a plausible value, a replicate: string work only, and the result is
    immutable)."""
    lhs, rhs = (s.strip() for s in formula.split("~"))
    if not lhs:
        raise FormulaError(f"formula {formula!r} has no response on the left of '~'")
    fixed, random = [], []
    for term in _split_top(rhs, "+"):
        m = _BAR.match(term)
        if m is None or "|" not in term:
            if term:
                fixed.append(term)
            continue
        expr, group = m.group(1).strip(), m.group(2).strip()
        if "||" in term or group.startswith("|"):
            raise FormulaError(f"'||' is not supported in {term!r}; write separate terms "
                               "(1 | g) + (0 + x | g)")
        if not expr or not group:
            raise FormulaError(f"random term {term!r} needs 'expr | group'")
        random.extend(RandomTerm(expr, g) for g in _expand_group(group))
    if not random:
        raise FormulaError(f"formula {formula!r} has no random term '(expr | group)'")
    return ParsedFormula(formula, lhs, " + ".join(fixed) if fixed else "1", tuple(random))


@dataclass(frozen=True)
class ModelFrame:
    """Model matrices of complete rows, sorted so that every group is contiguous.

    Attributes
    ----------
    y : (n,) response.  X : (n, p) fixed-effect design, ``xnames`` its R names.
    Z : tuple, per level bottom-up (level 2 first), of (n, q_l) random-effect designs;
        ``znames`` their column names, ``blocks`` the sizes of the separate terms (a
        block-diagonal covariance for ``(1|g) + (0+x|g)``).
    group_names : grouping factor of each level, bottom-up.
    codes : per level bottom-up, (n,) int group index (groups sorted by id within parent).
    group_ids : per level, the id label of every group.
    row_index : index labels of the rows used, in the sorted order.
    n_dropped : rows dropped for missing values.
    """

    y: np.ndarray
    X: np.ndarray
    xnames: tuple[str, ...]
    Z: tuple[np.ndarray, ...]
    znames: tuple[tuple[str, ...], ...]
    blocks: tuple[tuple[int, ...], ...]
    group_names: tuple[str, ...]
    codes: tuple[np.ndarray, ...]
    group_ids: tuple[np.ndarray, ...]
    row_index: np.ndarray
    order: np.ndarray
    n_dropped: int
    response: str

    @property
    def nlevels(self) -> int:
        """Number of levels including the observations (2 or 3)."""
        return len(self.Z) + 1

    @property
    def clusters(self) -> tuple[np.ndarray, ...]:
        """Per level bottom-up (level 2 first), the group label of every row used."""
        return tuple(ids[c] for ids, c in zip(self.group_ids, self.codes))

    def Z_of(self, group: str) -> np.ndarray:
        """Random-effect design (n, q) of grouping factor ``group``."""
        if group not in self.group_names:
            raise KeyError(f"{group!r} is not a grouping factor; they are {list(self.group_names)}")
        return self.Z[self.group_names.index(group)]

    def frozen(self) -> "ModelFrame":
        """The same frame with every array made read-only (shared, not copied)."""
        for a in (self.y, self.X, self.row_index, self.order, *self.Z, *self.codes,
                  *self.group_ids):
            a.flags.writeable = False
        return self


def _needed_columns(parsed: ParsedFormula, data: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Data columns used anywhere in the formula, and those used in its expressions (the fixed
    part and the random terms' left sides; :func:`lsa.formula.check_known_names`: a name that is
    neither a column nor a known function is an error naming it)."""
    load_formula_columns(data, parsed.response, parsed.fixed,
                         *(f"{t.expr} + {t.group.replace('/', ':')}" for t in parsed.random))
    used, expr = _column_use(parsed, tuple(data.columns.tolist()))   # once: iterating a text Index is slow
    return list(used), list(expr)


@functools.lru_cache(maxsize=64)
def _column_use(parsed: ParsedFormula, names: tuple) -> tuple[tuple, tuple]:
    """:func:`_needed_columns` given the data's column names (in order), kept for the next fit of
    the same formula on columns of the same names (the formula's names are parsed once)."""
    have = set(names)
    cols = set(check_known_names(parsed.fixed, names, "fixed part"))
    for t in parsed.random:
        cols.update(check_known_names(t.expr, names, f"random term ({t.expr} | {t.group})"))
    expr = set(cols)
    for t in parsed.random:
        for c in t.group_columns:
            if c not in have:
                raise FormulaError(f"grouping variable {c!r} of random term ({t.expr} | {t.group}) "
                                   f"is not a column of the data")
            cols.add(c)
    if parsed.response not in have:
        raise FormulaError(f"response {parsed.response!r} is not a column of the data")
    cols.add(parsed.response)
    return tuple(c for c in names if c in cols), tuple(c for c in names if c in expr)


def complete_rows(data, columns: list[str], n: int | None = None) -> np.ndarray:
    """Boolean mask of rows with no missing value in ``columns`` (of a DataFrame, or of a
    mapping name -> Series of ``n`` rows)."""
    keep = np.ones(len(data) if n is None else n, bool)
    for c in columns:
        col = data[c]
        kind = col.dtype.kind if isinstance(col, pd.Series) and isinstance(col.dtype, np.dtype) else None
        if kind in ("i", "u", "b"):                   # NumPy integers and booleans hold no missing value
            continue
        keep &= (~np.isnan(col.to_numpy()) if kind in ("f", "c")     # NaN: what pd.isna tests there
                 else ~pd.isna(col.array) if isinstance(col, pd.Series)  # a duplicated name: every copy
                 else col.notna().all(axis=1).to_numpy())
    return keep


def _drop_unused_levels(cat: pd.Categorical) -> pd.Categorical:
    """``cat.remove_unused_categories()``: the same levels in their order, codes and dtype. With
    text levels, the dtype of the used levels is kept for the next call (:func:`_used_levels`:
    building it, an Index of the levels validated, is most of the cost of the step)."""
    codes = np.asarray(cat.codes)
    used = np.bincount(codes[codes >= 0], minlength=len(cat.categories)) > 0
    if used.all():
        return cat
    levels = cat.categories.tolist()
    if not all(isinstance(v, str) for v in levels):
        return cat.remove_unused_categories()
    dtype = _used_levels(tuple(levels), cat.categories.dtype, cat.ordered, tuple(used.tolist()))
    remap = np.cumsum(used) - 1
    return pd.Categorical.from_codes(np.where(codes >= 0, remap[codes], -1), dtype=dtype, validate=False)


@functools.lru_cache(maxsize=128)
def _used_levels(levels: tuple[str, ...], levels_dtype, ordered: bool, used: tuple[bool, ...]) -> pd.CategoricalDtype:
    """The dtype of the ``used`` ones among text ``levels`` (their Index of ``levels_dtype``), in
    their order: the dtype ``remove_unused_categories`` gives. Keyed by the levels themselves,
    in order (two unordered dtypes with the same levels in another order are equal in pandas)."""
    return pd.CategoricalDtype(pd.Index([v for v, u in zip(levels, used) if u], dtype=levels_dtype),
                               ordered=ordered)


class _Columns:
    """The rows used (complete, in cluster order) of the columns the formula's expressions use.

    When every right-hand side is plain column names (:func:`lsa.formula_plain.plain_terms`)
    and every such column is numeric or a Categorical, they are held as arrays (``plain``:
    name -> float array, or Categorical with its unused levels dropped) and the matrices are
    built from them by :func:`lsa.formula_plain.plain_matrix`, with the checks of
    :func:`lsa.formula.fixed_matrix` (factor levels, finite values): the same values and names.
    Anything else gets the DataFrame of those rows (:meth:`frame`, built once, on demand) and
    :func:`lsa.formula.fixed_matrix` itself."""

    def __init__(self, parsed: ParsedFormula, data, cols: list[str], expr: list[str],
                 taken: np.ndarray, index: pd.Index, labels: np.ndarray):
        """``data``: the DataFrame, or a mapping name -> Series of its columns ``cols``; ``taken``
        the positions of the rows used; ``index`` the data's index (all rows); ``labels`` the
        labels of the rows used (``index.to_numpy()[taken]``)."""
        self.data, self.cols, self.expr, self.taken = data, cols, expr, taken
        self.index, self.labels = index, labels
        self._frame = None
        self.plain = None
        sides = [parsed.fixed] + [t.expr for t in parsed.random]
        if any(p is None or not (p[0] or p[1]) for p in map(plain_terms, sides)):
            return
        plain = {}
        for c in expr:
            s = data[c]
            if plain_numeric(s.dtype):
                plain[c] = float_rows(s, taken)
            elif isinstance(s.dtype, pd.CategoricalDtype):
                plain[c] = _drop_unused_levels(s.array.take(taken))
            else:
                return
        self.plain = plain

    def frame(self) -> pd.DataFrame:
        if self._frame is None:
            df = pd.DataFrame({c: self.data[c].array.take(self.taken) for c in self.cols},
                              index=self.index[self.taken], copy=False)
            self._frame = as_factors(df, self.expr)
        return self._frame

    def design(self, rhs: str, what: str) -> tuple[np.ndarray, tuple[str, ...]]:
        """Fixed-effect or random-term columns (:func:`lsa.formula.fixed_matrix`, the one builder,
        or its plain path on the arrays)."""
        if self.plain is not None:
            intercept, names = plain_terms(rhs)
            n = len(self.taken)
            for c in names:      # every level is used (dropped otherwise): count them before the check
                if isinstance(self.plain[c], pd.Categorical) and len(self.plain[c].categories) > factor_level_limit(n):
                    check_factor_levels(pd.Series(self.plain[c], copy=False), c, n, what)
            built = plain_matrix(self.plain, intercept, names, n)
            if built is not None:
                check_values(built[0], built[1], self.labels, what)
                return built
        return fixed_matrix(rhs, self.frame(), what, "lsa.mixed")


def check_rank(X: np.ndarray, names: tuple[str, ...]) -> None:
    """Raise :class:`FormulaError` naming the columns of X that are linearly dependent."""
    if X.shape[1] == 0:
        return
    # pivoted QR of a p×p square root of the column-scaled X'X: same column dependencies
    # as X at O(n p²) cost instead of a QR of the n×p matrix
    G = X.T @ X
    d0 = np.sqrt(np.maximum(np.diag(G), 1e-300))
    C = G / np.outer(d0, d0)
    ev = np.linalg.eigvalsh(C)
    if ev[0] > 1e-12 * ev[-1] and np.all(np.diag(G) > 0):
        # full rank beyond doubt, no QR needed: the pivoted QR below (F'F = C) has
        # min|r_ii| ≥ σ_min(F) and max|r_ii| ≤ σ_max(F), so min/max ≥ √(ev_min/ev_max) > 1e-6,
        # ten times its tolerance 1e-7: it would flag no column
        return
    ev, Q = np.linalg.eigh(C)
    F = np.sqrt(np.maximum(ev, 0))[:, None] * Q.T
    _, R, piv = scipy.linalg.qr(F, pivoting=True)
    if np.any(np.diag(G) == 0):
        zero = [names[i] for i in np.flatnonzero(np.diag(G) == 0)]
        raise FormulaError(f"fixed-effect design has all-zero column(s) {zero}; drop them")
    d = np.abs(np.diag(R))
    tol = d.max() * 1e-7 if d.size else 0   # √ of a 1e-14 relative eigenvalue
    bad = [names[i] for i, di in zip(piv, d) if di <= tol]
    if bad:
        raise FormulaError(f"fixed-effect design is rank deficient: column(s) {bad} are linear "
                           "combinations of the others (or constant zero); drop them")


_TEXT = pd.Series(["a"]).astype(str).dtype        # pandas' text dtype, what astype(str) gives


def _group_codes(columns, group: str) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (sorted ids) and labels of a grouping factor ``a`` or ``a:b`` (``columns``:
    column name -> values): the ids as text, sorted as text. One column is coded through its
    distinct values (their text, then sorted: the codes of coding every row's text, at the cost
    of the few ids)."""
    cols = [c.strip() for c in group.split(":")]
    if len(cols) == 1 and _TEXT == getattr(columns[cols[0]], "dtype", None):
        # already text (astype(str) is a no-op): code by first appearance, then sort the few ids
        col = columns[cols[0]]
        first, uniques = (col.factorize() if isinstance(col.dtype, pd.StringDtype)   # the array's own: no Series
                          else pd.factorize(pd.Series(col, copy=False)))
        text = np.asarray(uniques, dtype=object)
        return _in_text_order(first, text, text)
    if len(cols) == 1 and np.asarray(columns[cols[0]]).dtype.kind in "iu":
        # integer ids: distinct ids have distinct texts (str(int), as pandas writes them)
        ids, first = np.unique(np.asarray(columns[cols[0]]), return_inverse=True)
        text = np.array([str(v) for v in ids.tolist()], dtype=object)
        return _in_text_order(first, text, text.astype(str))
    if len(cols) == 1:
        first, values = pd.factorize(pd.Series(columns[cols[0]], copy=False))   # pandas 2.1 warns on a bare array
        codes, uniques = pd.factorize(pd.Series(values).astype(str), sort=True)
        return codes[first], np.asarray(uniques, dtype=object)
    key = pd.Series(columns[cols[0]]).astype(str)
    for c in cols[1:]:
        key = key + ":" + pd.Series(columns[c]).astype(str)
    codes, uniques = pd.factorize(key, sort=True)
    return codes, np.asarray(uniques, dtype=object)


def _in_text_order(first: np.ndarray, text: np.ndarray, key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row codes ``first`` (positions in ``text``, the distinct ids as text) renumbered so that
    the ids are in the (stable) order of ``key``, and the ids in that order."""
    perm = np.argsort(key, kind="stable")
    rank = np.empty(len(perm), np.intp)
    rank[perm] = np.arange(len(perm))
    return rank[first], text[perm]


def _order_levels(groups: list[str], codes: dict) -> list[str]:
    """Grouping factors bottom-up: most groups first. Equal counts cannot be separated."""
    counts = {g: codes[g].max() + 1 for g in groups}
    ordered = sorted(groups, key=lambda g: -counts[g])
    for a, b in zip(ordered, ordered[1:]):
        if counts[a] == counts[b]:
            raise DesignError(f"grouping factors {a!r} and {b!r} have the same number of groups "
                              f"({counts[a]}): their random effects cannot be identified")
    return ordered


def check_nesting(lower: np.ndarray, upper: np.ndarray, lname: str, uname: str,
                  lids: np.ndarray) -> None:
    """Every group of ``lower`` must lie in one group of ``upper``."""
    s = pd.DataFrame({"l": lower, "u": upper}).groupby("l")["u"].nunique()
    bad = s.index[s.to_numpy() > 1]
    if len(bad):
        raise DesignError(f"grouping factors are not nested: {len(bad)} group(s) of {lname!r} "
                          f"lie in more than one group of {uname!r}, e.g. {list(lids[bad[:5]])}; "
                          f"use ({uname}/{lname}) or {uname}:{lname} for ids reused across "
                          f"{uname!r}")


def _level_blocks(parsed: ParsedFormula, group: str, df: _Columns):
    mats, names, blocks = [], [], []
    for t in parsed.random:
        if t.group != group:
            continue
        Z, zn = df.design(t.expr, f"random term ({t.expr} | {t.group})")
        if Z.shape[1] == 0:
            raise FormulaError(f"random term ({t.expr} | {t.group}) has no columns")
        mats.append(Z)
        names.extend(zn)
        blocks.append(Z.shape[1])
    return np.hstack(mats), tuple(names), tuple(blocks)


def model_frame(parsed: ParsedFormula, data: pd.DataFrame,
                extra_columns: tuple[str, ...] = ()) -> ModelFrame:
    """Evaluate ``parsed`` on ``data``: complete rows, R-coded matrices, nested sorted groups.

    Rows missing any model variable or any of ``extra_columns`` (weights) are dropped and
    counted in ``n_dropped``.
    """
    for c in extra_columns:
        if c not in data.columns:
            raise DesignError(f"weight column {c!r} is not in the data")
    used, expr = _needed_columns(parsed, data)
    cols = list(dict.fromkeys(used + list(extra_columns)))
    columns = {c: data[c] for c in cols}          # each column read once (a Series per read)
    keep = complete_rows(columns, cols, len(data))
    rows = np.flatnonzero(keep)
    if len(rows) == 0:
        raise DesignError("no complete rows: every row misses a model variable or weight")
    every = len(rows) == len(data)                # no row dropped: the id columns as they are
    ids = {c: columns[c].array if every else columns[c].array.take(rows)
           for t in parsed.random for c in t.group_columns}
    raw = {g: _group_codes(ids, g) for g in parsed.groups}
    levels = _order_levels(list(raw), {g: c for g, (c, _) in raw.items()})
    for lo, up in zip(levels, levels[1:]):
        check_nesting(raw[lo][0], raw[up][0], lo, up, raw[lo][1])
    order = np.lexsort(tuple(raw[g][0] for g in levels))  # top level is the primary key
    # the complete rows in cluster order, taken once; factors only where formulas use columns
    taken = rows[order]
    labels = data.index.to_numpy()[taken]          # the labels of the rows used (no Index built)
    df = _Columns(parsed, columns, cols, expr, taken, data.index, labels)
    # text, numbers stored as text and inf are errors naming the column and the count
    y = numeric_column(columns, parsed.response, "response")[taken]
    X, xnames = df.design(parsed.fixed, "fixed part")
    check_rank(X, xnames)
    Zs, znames, blocks, codes, gids = [], [], [], [], []
    for g in levels:
        Z, zn, bl = _level_blocks(parsed, g, df)
        Zs.append(Z), znames.append(zn), blocks.append(bl)
        c = raw[g][0][order]
        new = np.concatenate(([True], c[1:] != c[:-1]))
        codes.append(np.cumsum(new) - 1)
        gids.append(raw[g][1][c[new]])
    return ModelFrame(y, X, xnames, tuple(Zs), tuple(znames), tuple(blocks), tuple(levels),
                      tuple(codes), tuple(gids), labels, taken, len(keep) - len(rows), parsed.response)
