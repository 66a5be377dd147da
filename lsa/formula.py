"""Fixed-effect model matrices as R builds them: the one builder behind every model in lsa.

Every estimator that takes a formula (``lsa.lm``/``logit``, ``lsa.mixed``/``mix_pv`` for their
fixed part and random-effect columns, ``lsa.robust.clustered``/``lpm``/``modified_poisson``/``gee``
and their diagnostics) builds its matrices here, so factor coding, names and checks cannot drift
between them. formulaic (the maintained successor of patsy) parses and evaluates the formula;
this module makes the result match R's ``model.frame`` / ``model.matrix``, so that estimates
line up with R references term by term:

* factors: pandas Categoricals keep their level order (the first level is the reference, as
  R's treatment coding); string and logical columns become factors with sorted levels (R's
  ``factor()``); levels without observations in the rows used are dropped (R drops them, and
  the parser would otherwise make all-zero columns); a logical expression such as ``I(x > 0)``
  is a factor with levels FALSE < TRUE, as in R;
* term order: as written, stably sorted by interaction order (R's ``terms()``);
* names: ``Intercept`` → ``(Intercept)``, ``sector[T.Catholic]`` → ``sectorCatholic``,
  ``C(x)[T.b]`` → ``xb``, ``female[T.True]`` → ``femaleTRUE``, interactions ``a:b``; without an
  intercept every level gets a column, ``sector[Public]`` → ``sectorPublic`` (R's names).

Checks, each an :mod:`lsa.errors` exception naming the culprit (see :mod:`lsa.validation`):
lme4 random-effect terms ``(… | g)`` outside ``lsa.mixed`` (:class:`FormulaError`; the parser
would read ``|`` as a second formula part); names that are neither a column nor a known function
(:class:`FormulaError`, one line); a factor with more than 100 levels or more than n/10 (a
column, ``C(x)`` or ``Q('x')``), checked before the matrix is allocated (:class:`FormulaError`);
``inf``/``-inf`` in the finished matrix or response, and ``NaN`` made by an expression from
complete data such as ``np.log(-1)`` (:class:`DesignError` naming the term and the count).

Expressions are evaluated with ``np`` (``numpy``), ``pd`` (``pandas``) and the functions of
:data:`NAMESPACE`, which keep patsy's meaning: ``I``, ``C``, ``Q``, the contrasts ``Treatment``,
``Sum``, ``Poly``, ``Helmert``, ``Diff``, ``center``, ``scale``/``standardize`` (patsy's
``ddof=0`` unless ``ddof=1`` is given; R's ``scale()`` is ``scale(x, ddof=1)``) and the splines
``bs``, ``cr``, ``cc`` (formulaic's; the columns of ``bs(x, df=4)`` are numbered 1–4 as R's).
"""

from __future__ import annotations

import ast
import builtins
import difflib
import functools
import re
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import pandas as pd
from formulaic import Formula, ModelSpec
from formulaic.transforms import TRANSFORMS
from formulaic.transforms.contrasts import TreatmentContrasts

from .errors import DesignError, FormulaError, LsaError
from .formula_plain import float_rows, plain_matrix, plain_numeric, plain_terms
from .validation import (MAX_FACTOR_LEVELS, check_factor_levels, check_finite, check_frame, check_no_random_effects,
                         ensure_columns, factor_level_limit, numeric_column, study_source)

_C_CALL = re.compile(r"^C\(\s*(?P<var>[^,()]+?)\s*(?:,.*)?\)$")     # C(x) or C(x, Treatment('b')) -> x


class Treatment(TreatmentContrasts):
    """patsy's ``Treatment(reference)``: treatment coding against ``reference`` (default: the
    first level), usable as ``C(x, Treatment('b'))`` or ``C(x, Treatment)``."""

    def __init__(self, reference=None):
        if reference is None:
            super().__init__()
        else:
            super().__init__(base=reference)


def I(values):      # noqa: E743 -- the name formulas use
    """Identity, as patsy's ``I()``, except that a logical result is a factor with levels
    FALSE < TRUE (patsy and R code ``I(x > 0)`` as the column ``I(x > 0)TRUE``)."""
    arr = np.asarray(values)
    if arr.dtype == bool:
        return pd.Series(pd.Categorical(arr, categories=[False, True]),
                         index=values.index if isinstance(values, pd.Series) else None)
    return values


#: the namespace formula expressions are evaluated in (besides the data): numpy, pandas and
#: patsy's functions with patsy's meaning
NAMESPACE = {"np": np, "numpy": np, "pd": pd, "pandas": pd, "I": I, "Q": TRANSFORMS["Q"], "C": TRANSFORMS["C"],
             "Treatment": Treatment, "Sum": TRANSFORMS["Sum"], "Poly": TRANSFORMS["Poly"],
             "Helmert": TRANSFORMS["Helmert"], "Diff": TRANSFORMS["Diff"], "center": TRANSFORMS["center"],
             "scale": TRANSFORMS["standardize"], "standardize": TRANSFORMS["standardize"],
             "bs": TRANSFORMS["bs"], "cr": TRANSFORMS["cr"], "cc": TRANSFORMS["cc"]}
_KNOWN = set(NAMESPACE) | set(dir(builtins))


def _split_level(part: str) -> tuple[str, str] | None:
    """``var[T.level]`` / ``var[level]`` -> ``(var, level)``, splitting at the first ``[`` outside
    parentheses (``I(x > 1)[T.True]``, levels holding brackets); None for a numeric term."""
    depth = 0
    for i, ch in enumerate(part):
        if ch in "([":
            if ch == "[" and depth == 0:
                if not part.endswith("]"):
                    return None
                level = part[i + 1:-1]
                return part[:i], level[2:] if level.startswith("T.") else level
            depth += 1
        elif ch == ")":
            depth -= 1
    return None


def r_name(name: str) -> str:
    """Translate one parser column name (formulaic's, patsy's: the same convention) into R's
    ``model.matrix`` name: ``x[T.b]`` -> ``xb``, ``C(x)[T.b]`` and ``C(x, Treatment('a'))[T.b]``
    -> ``xb``, ``I(x > 1)[T.True]`` -> ``I(x > 1)TRUE``, interactions joined by ``:``."""
    if name == "Intercept":
        return "(Intercept)"
    parts = []
    for part in name.split(":"):
        split = _split_level(part)
        if split:
            var, level = split
            level = {"True": "TRUE", "False": "FALSE"}.get(level, level)
            c_call = _C_CALL.match(var)
            parts.append(f"{c_call.group('var') if c_call else var}{level}")
        else:
            parts.append(part)
    return ":".join(parts)


def _levels(s: pd.Series) -> list:
    values = list(s.dropna().unique())
    try:
        return sorted(values)
    except TypeError:                     # mixed types (numbers and text): sort as R would, as text
        return sorted(values, key=str)


def as_factors(frame: pd.DataFrame, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """Strings and logicals as factors with sorted levels; unused levels of factors dropped
    (of ``columns`` only, if given). Returns a new frame only when something changes."""
    conv = {}
    for col in frame.columns if columns is None else columns:
        s = frame[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            codes = np.asarray(s.array.codes)
            if len(s.cat.categories) > np.count_nonzero(np.bincount(codes[codes >= 0], minlength=1)):
                conv[col] = s.cat.remove_unused_categories()
        elif pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
            conv[col] = pd.Categorical(s, categories=_levels(s))
    return frame.assign(**conv) if conv else frame


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


@functools.lru_cache(maxsize=512)
def _parsed(side: str, ordering: str) -> Formula:
    """formulaic's parse, cached: the same formula is parsed once per process, not once for
    every plausible value, replicate or refit (formulaic formulas are immutable)."""
    return Formula(side, _ordering=ordering)


def parse(side: str, what: str = "formula", written: bool = True) -> Formula:
    """``side`` (one side of a formula, or ``lhs ~ rhs``) parsed by formulaic: its terms as
    written if ``written``, else in R's order (stably sorted by interaction order, which also
    decides, as in R, which factors of an interaction are coded by contrasts). A syntax error is
    a :class:`FormulaError` in one line."""
    try:
        return _parsed(side, "none" if written else "degree")
    except Exception as exc:        # formulaic's FormulaSyntaxError and friends
        hint = (" (a method call on a call result, such as f(x).round(), must be wrapped: "
                "I(f(x).round()))" if isinstance(exc, SyntaxError) else "")
        raise FormulaError(f"cannot parse the {what} {side!r}: {_first_line(exc)}{hint}") from None


def _terms(formula: Formula) -> list:
    """The terms of a parsed formula: both sides of ``lhs ~ rhs``, or the one side given."""
    if hasattr(formula, "lhs") and hasattr(formula, "rhs"):
        return list(formula.lhs) + list(formula.rhs)
    return list(formula)


def formula_names(side: str, what: str = "formula") -> list[str]:
    """Names that the expressions of a formula (or one side of it) refer to, in order of
    appearance: variables, functions and modules (``np``), and the strings quoted in ``Q("...")``
    or in backticks.

    >>> formula_names("y ~ np.log(x) + C(g) * Q('a b')")
    ['y', 'np', 'x', 'C', 'g', 'a b', 'Q']
    """
    names: dict[str, None] = {}
    for term in _terms(parse(side, what)):
        for factor in term.factors:
            method = factor.eval_method.value
            if method == "literal":
                continue
            if method == "lookup":
                names[factor.expr] = None
                continue
            try:
                tree = ast.parse(factor.expr.strip(), mode="eval")
            except SyntaxError:
                raise FormulaError(f"cannot parse {factor.expr!r} in the {what} {side!r}.") from None
            nodes = sorted(ast.walk(tree), key=lambda n: (getattr(n, "lineno", 0), getattr(n, "col_offset", 0)))
            for node in nodes:
                if isinstance(node, ast.Name):
                    names[node.id] = None
                elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Q"
                      and node.args and isinstance(node.args[0], ast.Constant)
                      and isinstance(node.args[0].value, str)):
                    names[node.args[0].value] = None
    return list(names)


def load_formula_columns(data, *sides: str) -> None:
    """A study frame (:mod:`lsa.io_lazy`), or a design on one, reads the columns the formula
    sides name from its files, all in one pass; a no-op for any other data."""
    if study_source(data) is not None:
        ensure_columns(data, [n for side in sides if side for n in formula_names(side, "formula")])


def check_known_names(side: str, columns: Iterable[str], what: str = "formula",
                      pv_sets: Iterable[str] = ()) -> list[str]:
    """The data columns (and plausible-value sets) that ``side`` uses, in order; a name that is
    none of these nor a known function is a :class:`FormulaError` naming it, in one line, with
    the closest names."""
    pv_sets = [str(c) for c in pv_sets]
    known = [str(c) for c in columns] + pv_sets
    have = set(known)
    used = formula_names(side, what)
    for name in used:
        if name not in have and name not in _KNOWN:
            close = difflib.get_close_matches(name, known, n=3)
            kinds = ("neither a column of the data nor a plausible-value set" if pv_sets
                     else "not a column of the data")
            raise FormulaError(f"{what}: unknown variable {name!r} in {side!r}: it is {kinds}"
                               + (f" (did you mean {close}?)" if close else "") + ".")
    return [n for n in used if n in have]


def r_order(spec: ModelSpec, written: Iterable) -> list[int]:
    """Column positions of the matrix built from ``spec`` in R's order: the ``written`` terms
    (as parsed, before any reordering), stably sorted by interaction order."""
    written = list(written)
    slices = spec.term_slices
    n = len(spec.column_names)
    order = sorted(range(len(written)), key=lambda i: (written[i].degree, i))
    cols = [j for i in order if written[i] in slices
            for j in range(slices[written[i]].start, slices[written[i]].stop)]
    return cols if sorted(cols) == list(range(n)) else list(range(n))


def _categorical_count(factor, data: pd.DataFrame) -> int | None:
    """Levels that ``C(expr, …)`` or ``Q('column')`` will code, counted from the data before
    any column is built; None for any other expression (or if the argument cannot be evaluated
    here: formulaic then reports it)."""
    try:
        call = ast.parse(factor.expr.strip(), mode="eval").body
    except SyntaxError:
        return None
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.args):
        return None
    arg = call.args[0]
    if call.func.id == "Q" and isinstance(arg, ast.Constant) and arg.value in data.columns:
        s = data[arg.value]
        return s.nunique(dropna=True) if isinstance(s.dtype, pd.CategoricalDtype) else None
    if call.func.id != "C":
        return None
    try:
        levels = next((kw.value for kw in call.keywords if kw.arg == "levels"), None)
        if levels is not None:
            return len(eval(compile(ast.Expression(levels), "<formula>", "eval"), dict(NAMESPACE), data))
        values = eval(compile(ast.Expression(arg), "<formula>", "eval"), dict(NAMESPACE), data)
        return pd.Series(np.asarray(values).ravel()).nunique(dropna=True)
    except Exception:
        return None


def _check_levels(terms: list, data: pd.DataFrame, what: str) -> None:
    """Refuse a factor with implausibly many levels before its columns are allocated: a column
    through :func:`lsa.validation.check_factor_levels`, ``C(x)`` or ``Q('x')`` here."""
    n = len(data)
    limit = factor_level_limit(n)
    for factor in dict.fromkeys(f for t in terms for f in t.factors):
        method = factor.eval_method.value
        if method == "lookup" and factor.expr in data.columns:
            if isinstance(data[factor.expr].dtype, pd.CategoricalDtype):
                check_factor_levels(data[factor.expr], factor.expr, n, what)
        elif method == "python":
            count = _categorical_count(factor, data)
            if count is not None and count > limit:
                raise FormulaError(f"{what}: categorical term {factor.expr!r} has {count} levels for {n} rows "
                                   f"(at most {int(limit)} allowed: {MAX_FACTOR_LEVELS} or n/10). Use the "
                                   f"variable as a number, or group its values into fewer categories first.")


def check_values(values: np.ndarray, names: Iterable[str], index, what: str) -> None:
    """Every column of a finished model matrix (or response) is finite. ``inf``/``-inf`` is a
    :class:`DesignError` naming the term, the count and the first row labels (the non-finite
    rule of :mod:`lsa.validation`); so is ``NaN`` in rows whose variables are all present (an
    expression such as ``np.log(x)`` of a negative ``x``)."""
    values = np.asarray(values, dtype=float).reshape(len(values), -1)
    bad = ~np.isfinite(values)
    if not bad.any():
        return
    index = np.asarray(index)
    for j, name in enumerate(names):
        rows = np.flatnonzero(bad[:, j])
        if not len(rows):
            continue
        first = index[rows[:5]].tolist()
        n_inf = int(np.isinf(values[rows, j]).sum())
        if n_inf:
            raise DesignError(f"{what}: term {name!r} has {n_inf} infinite value(s) (inf/-inf; first rows {first}); "
                              f"they often come from log(0) or a division by zero. Replace them with NaN to "
                              f"treat them as missing, or fix the transformation.")
        raise DesignError(f"{what}: term {name!r} is NaN in {len(rows)} row(s) whose variables are all present "
                          f"(first rows {first}), e.g. the log or square root of a negative number. Compute "
                          f"the variable in the data first and set the rows it cannot use to NaN.")


def _build(formula: Formula, data: pd.DataFrame, rhs: str, what: str):
    """formulaic's model matrix of ``formula`` on ``data`` (rows are complete: nothing dropped,
    NaN made by an expression kept for :func:`check_values`); any failure of the parser or of
    a function of the formula (``bs(x, df=-1)``, ...) is a :class:`FormulaError` in one line."""
    try:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):   # checked later, by term
            return ModelSpec.from_spec(formula, na_action="ignore", output="numpy").get_model_matrix(
                data, context=NAMESPACE)
    except LsaError:
        raise
    except Exception as exc:
        cause = exc.__cause__ or exc
        if isinstance(cause, LsaError):
            raise cause from None
        raise FormulaError(f"cannot evaluate the {what} {rhs!r}: {_first_line(exc)}") from None


def fixed_matrix(rhs: str, frame: pd.DataFrame, what: str = "predictors",
                 function: str = "this estimator") -> tuple[np.ndarray, tuple[str, ...]]:
    """The model matrix of the right-hand side ``rhs`` on ``frame`` (complete rows), in R's
    column order with R's names, after the checks listed in the module docstring. ``what``
    says what is evaluated (for messages); ``function`` is the estimator refusing ``(… | g)``."""
    check_no_random_effects(rhs, function)
    formula = parse(rhs, what, written=False)
    if hasattr(formula, "lhs"):
        raise FormulaError(f"{what}: {rhs!r} must be one side of a formula, without '~'.")
    load_formula_columns(frame, rhs)
    check_known_names(rhs, frame.columns, what)
    plain = plain_terms(rhs)
    if plain is not None and (plain[0] or plain[1]):
        # plain column names (the common case): the matrix without formulaic (same values and names)
        data = as_factors(frame, plain[1])
        if any(isinstance(data[c].dtype, pd.CategoricalDtype) for c in plain[1]):
            _check_levels(list(formula), data, what)
        built = plain_matrix(data, *plain)
        if built is not None:
            check_values(built[0], built[1], frame.index, what)
            return built
    data = as_factors(frame)
    terms = list(formula)
    _check_levels(terms, data, what)
    m = _build(formula, data, rhs, what)
    spec = m.model_spec
    cols = r_order(spec, terms)
    names = tuple(r_name(spec.column_names[j]) for j in cols)
    x = np.asarray(m, dtype=float).reshape(len(data), -1)[:, cols]
    check_values(x, names, data.index, what)
    return x, names


def response_matrix(lhs: str, frame: pd.DataFrame, what: str = "response", factor: bool = False) -> np.ndarray:
    """The response ``lhs`` on ``frame``: a bare numeric or logical column as one float column;
    a bare text or categorical column is refused by :func:`lsa.validation.numeric_column` (text
    that holds numbers gets the conversion hint) unless ``factor`` (a binary model's two-level
    factor); an expression or a factor goes through :func:`fixed_matrix` without intercept (a
    factor gives one indicator column per level), except that a logical expression such as
    ``I(y > 500)`` is one 0/1 column (TRUE = 1), as R's ``lm``/``glm`` treat a logical response."""
    lhs = lhs.strip()
    if lhs in frame.columns:
        s = frame[lhs]
        numeric = pd.api.types.is_bool_dtype(s) or (pd.api.types.is_numeric_dtype(s)
                                                    and not isinstance(s.dtype, pd.CategoricalDtype))
        if numeric or not factor:
            y = numeric_column(frame, lhs, what)[:, None]
            check_values(y, [lhs], frame.index, what)
            return y
    x, names = fixed_matrix(f"{lhs} - 1", frame, what)
    stems = {n[:-4] if n.endswith("TRUE") else n[:-5] if n.endswith("FALSE") else None for n in names}
    if len(stems) == 1 and None not in stems:      # a logical expression such as I(y > 500): R's 0/1
        true = [j for j, n in enumerate(names) if n.endswith("TRUE")]
        return x[:, true] if true else np.zeros((len(x), 1))
    return x


@dataclass(frozen=True)
class ModelMatrices:
    """Response and fixed-effect matrix of a single-level formula on a data frame.

    Attributes
    ----------
    y : (n,) response; X : (n, p) model matrix; terms : p R-style names;
    rows : (N,) bool, the rows of the data used (complete on every variable of the formula);
    n_dropped : N − n, the rows dropped for missing values.
    """

    y: np.ndarray
    X: np.ndarray
    terms: tuple[str, ...]
    rows: np.ndarray
    n_dropped: int


def model_matrices(formula: str, data: pd.DataFrame, function: str = "this estimator") -> ModelMatrices:
    """Evaluate ``y ~ x1 + x2 + f`` (R semantics) on ``data`` for a single-level model.

    Rows missing any variable of the formula are dropped and counted (``n_dropped``; the caller
    warns). The response must be one numeric column (a factor response must be coded 0/1 first).
    """
    if not isinstance(formula, str) or "~" not in formula:
        raise FormulaError(f"{function}: formula must be a string 'y ~ x1 + x2'; got {formula!r}.")
    check_no_random_effects(formula, function)
    check_frame(data, "data")
    lhs, rhs = (s.strip() for s in formula.split("~", 1))
    if not lhs:
        raise FormulaError(f"{function}: formula {formula!r} has no response on the left of '~'.")
    load_formula_columns(data, lhs, rhs)
    names = data.columns.tolist()                  # once: iterating a text Index is slow
    cols = list(dict.fromkeys(check_known_names(lhs, names, f"response of {formula!r}")
                              + check_known_names(rhs, names, f"predictors of {formula!r}")))
    columns = {c: data[c] for c in cols}           # each column read once
    rows = np.ones(len(data), bool)
    for c in cols:
        rows &= ~pd.isna(columns[c].array)
    if not rows.any():
        raise DesignError(f"{function}: no row has data on every variable of {formula!r} ({cols}).")
    used = np.flatnonzero(rows)
    plain = plain_terms(rhs)
    if (plain is not None and (plain[0] or plain[1]) and lhs in columns
            and all(plain_numeric(columns[c].dtype) for c in (lhs,) + plain[1])):
        # numeric columns only (the common case): the values and checks of response_matrix and
        # fixed_matrix on the complete rows, from the columns' arrays (no DataFrame)
        index, what = data.index[used], f"response of {formula!r}"
        y = float_rows(columns[lhs], used)
        check_finite(y, lhs, what)
        check_values(y[:, None], [lhs], index, what)
        X, terms = plain_matrix({c: float_rows(columns[c], used) for c in plain[1]},
                                *plain, len(used))
        check_values(X, terms, index, f"predictors of {formula!r}")
        return ModelMatrices(y, X, terms, rows, int((~rows).sum()))
    # data.loc[rows, cols], taken column by column (a fraction of the cost on a small frame)
    frame = pd.DataFrame({c: columns[c].array.take(used) for c in cols}, index=data.index[used], copy=False)
    y = response_matrix(lhs, frame, f"response of {formula!r}")
    if y.shape[1] != 1:
        raise FormulaError(f"{function}: formula {formula!r} has a {y.shape[1]}-column response; give one "
                           f"numeric outcome (a factor outcome must be coded 0/1 first).")
    X, terms = fixed_matrix(rhs, frame, f"predictors of {formula!r}", function)
    return ModelMatrices(y[:, 0], X, terms, rows, int((~rows).sum()))


def constraint_matrix(constraints, terms) -> tuple[np.ndarray, tuple[str, ...]]:
    """Term names (each tested = 0) or a q x p matrix -> (C, labels)."""
    terms = list(terms)
    if isinstance(constraints, str):
        constraints = [constraints]
    arr = np.asarray(constraints)
    if arr.dtype.kind in "US" or arr.dtype == object and all(isinstance(c, str) for c in constraints):
        unknown = [c for c in constraints if c not in terms]
        if unknown:
            raise LsaError(f"constraints name unknown term(s) {unknown}; terms are {terms}")
        C = np.zeros((len(constraints), len(terms)))
        for i, c in enumerate(constraints):
            C[i, terms.index(c)] = 1.0
        return C, tuple(f"{c} = 0" for c in constraints)
    C = np.atleast_2d(np.asarray(constraints, dtype=float))
    if C.shape[1] != len(terms):
        raise LsaError(f"constraint matrix must have {len(terms)} columns; got shape {C.shape}")
    labels = tuple(
        " + ".join(f"{v:g}*{t}" for v, t in zip(row, terms) if v != 0) + " = r" for row in C
    )
    return C, labels
