"""One validation layer for every entry point of lsa.

Every function here raises an :mod:`lsa.errors` exception whose message names the argument or
column, the value received and what is allowed. Entry points (designs, estimators, mixed models,
``mix_pv``, cluster-robust fits, GEE, imputation, readers and the CLI) call these checks instead of
letting numpy, pandas, patsy or pyreadstat fail later with a message the user cannot act on.

The rule for non-finite values
------------------------------
``NaN`` (and ``None``/``pd.NA``) is a missing value: rows with it are excluded from an analysis
and counted (``n_missing``, :class:`~lsa.errors.MissingDataWarning`). ``inf`` and ``-inf`` are not
missing values: they are an error naming the column and the number of such rows, because they
usually come from a transformation (``np.log(0)``, a division by zero) that the user should see
rather than have lsa quietly drop. Replace them with ``NaN`` to treat them as missing.

Weights are the one exception to "NaN is missing": a design needs a weight for every row, so a
missing (as well as an infinite or negative) full or replicate weight is an error naming the
column. :class:`lsa.SurveyDesign` checks weights, replicate-weight dtypes and plausible-value
columns once, when it is built; an analysis variable is checked the first time an estimator uses
it (:meth:`lsa.SurveyDesign.numeric`) and not again for that design.
"""

from __future__ import annotations

import functools
import numbers
import re
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from .errors import DesignError, FormulaError, LsaError

#: a categorical predictor with more levels than this (or than n/10) is refused
MAX_FACTOR_LEVELS = 100
#: the n/10 bound on factor levels never refuses this many levels or fewer
MIN_FACTOR_LIMIT = 20


def _short(values: Iterable[Any], n: int = 5) -> str:
    values = list(values)
    head = ", ".join(repr(v) for v in values[:n])
    return f"[{head}{', ...' if len(values) > n else ''}]"


def holds_numbers_as_text(values: pd.Series) -> bool:
    """True when every non-missing value of ``values`` reads as a number (text that holds
    numbers, the usual result of a CSV or spreadsheet import)."""
    values = values.dropna()
    return bool(len(values)) and bool(pd.to_numeric(values.astype(object), errors="coerce").notna().all())


def check_frame(data: Any, argument: str = "data", *, allow_empty: bool = False) -> pd.DataFrame:
    """``data`` must be a pandas DataFrame with unique column names (and rows, unless
    ``allow_empty``)."""
    if not isinstance(data, pd.DataFrame):
        raise DesignError(f"{argument} must be a pandas DataFrame; got {type(data).__name__}.")
    duplicated = [] if data.columns.is_unique else data.columns[data.columns.duplicated()].unique().tolist()
    if duplicated:
        raise DesignError(f"{argument} has duplicate column names {_short(duplicated)}; every column "
                          f"needs a unique name (rename or drop the copies).")
    if not allow_empty and len(data) == 0:
        raise DesignError(f"{argument} has no rows.")
    return data


def check_columns_exist(data: pd.DataFrame, columns: Sequence[str], argument: str) -> None:
    """Every name in ``columns`` is a column of ``data``; the error lists the missing ones and
    the closest existing names. A study frame (:mod:`lsa.io_lazy`) reads them from its files first."""
    import difflib

    ensure_columns(data, columns)
    missing = [c for c in columns if c not in data.columns]
    if missing:
        hints = {c: difflib.get_close_matches(str(c), [str(x) for x in data.columns], n=3) for c in missing}
        hint = "; ".join(f"{c!r}: did you mean {h}?" for c, h in hints.items() if h)
        raise DesignError(f"{argument}: column(s) {_short(missing)} not in the data" + (f" ({hint})" if hint else "")
                          + ".")


def study_source(data: Any):
    """The column source of a study frame (:mod:`lsa.io_lazy`) or of a design on one, else None."""
    frame = data if isinstance(data, pd.DataFrame) else getattr(data, "data", None)
    # StudyFrame declares ``_lsa_source`` on its class; asking any other frame for it would go
    # through pandas' column lookup for a missing attribute (~25 µs when not in cache)
    return frame._lsa_source if isinstance(frame, pd.DataFrame) and hasattr(type(frame), "_lsa_source") else None


def ensure_columns(data: Any, names: Iterable[Any]) -> None:
    """A study frame (or a design on one) reads the names among ``names`` that it lacks and its
    files hold, all in one pass (:mod:`lsa.io_lazy`); anything else is left to the caller's own
    checks. A no-op for any other data."""
    source = study_source(data)
    if source is not None:
        frame = data if isinstance(data, pd.DataFrame) else data.data
        lacking = [n for n in dict.fromkeys(names) if isinstance(n, str) and n not in frame.columns]
        if lacking:
            source.load(frame, lacking, missing_ok=True, exact=True)


#: a name in an expression, a formula or an option's text (the candidates a study frame may hold)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


def ensure_expression_columns(data: Any, expression: str) -> None:
    """:func:`ensure_columns` for the names an expression (a pandas query, ``I(...)``) uses."""
    if study_source(data) is not None:
        ensure_columns(data, _NAME.findall(expression))


def reads_named_columns(function):
    """Decorator of a public analysis: when an argument is a study frame (or a design on one,
    :mod:`lsa.io_lazy`), every column the call's text arguments name (variables, formulas,
    ``by=``, domains) is read in one pass before the analysis starts. Other calls pass straight
    through; the checks inside the analysis read anything a name reaches otherwise."""
    @functools.wraps(function)
    def call(*args, **kwargs):
        values = (*args, *kwargs.values())
        target = next((v for v in values if study_source(v) is not None), None)
        if target is not None:
            ensure_columns(target, _text_names(values))
        return function(*args, **kwargs)

    return call


def _text_names(values: Iterable[Any], depth: int = 2) -> list[str]:
    out: list[str] = []
    for v in values:
        if isinstance(v, str):
            out += _NAME.findall(v)
        elif depth and isinstance(v, (list, tuple, dict)):
            out += _text_names(v.values() if isinstance(v, dict) else v, depth - 1)
    return out


def has_column(data: pd.DataFrame, name: Any) -> bool:
    """``name`` is a column of ``data``; a study frame (:mod:`lsa.io_lazy`) reads it from its files first."""
    ensure_columns(data, [name])
    return name in data.columns


def check_finite(values: np.ndarray, column: str, argument: str = "data") -> None:
    """Error if ``values`` (numeric, NaN allowed as missing) hold ``inf`` or ``-inf``."""
    arr = np.asarray(values, dtype=float)
    bad = np.isinf(arr)
    if bad.any():
        n = int(bad.sum())
        rows = np.flatnonzero(bad.reshape(len(arr), -1).any(axis=1))[:5].tolist()
        raise DesignError(f"{argument}: column {column!r} has {n} infinite value(s) (inf/-inf; first rows "
                          f"{rows}); they often come from log(0) or a division by zero. Replace them with NaN "
                          f"to treat them as missing, or fix the transformation.")


def numeric_column(data: pd.DataFrame, column: str, argument: str = "data") -> np.ndarray:
    """The column as float (NaN for missing), refusing text, text that holds numbers, and
    non-finite values, each with a message naming the column."""
    s = data[column]
    if isinstance(s, pd.DataFrame):
        raise DesignError(f"{argument}: column name {column!r} appears more than once in the data.")
    if pd.api.types.is_bool_dtype(s):
        return s.to_numpy(dtype=float, na_value=np.nan)
    if isinstance(s.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(s):
        values = s.dropna()
        if isinstance(s.dtype, pd.CategoricalDtype) and pd.api.types.is_numeric_dtype(s.cat.categories):
            raise DesignError(f"{argument}: column {column!r} is a Categorical with numeric categories (e.g. "
                              f"{_short(values.iloc[:3].tolist(), 3)}); a numeric variable is needed here: convert "
                              f"it with df[{column!r}] = df[{column!r}].astype(float) (or use lsa.percentages to "
                              f"tabulate it).")
        if holds_numbers_as_text(values):
            raise DesignError(f"{argument}: column {column!r} holds numbers stored as text (e.g. "
                              f"{_short(values.iloc[:3].tolist(), 3)}); convert it first, e.g. "
                              f"df[{column!r}] = pd.to_numeric(df[{column!r}]).")
        raise DesignError(f"{argument}: column {column!r} is not numeric (e.g. {_short(values.iloc[:3].tolist(), 3)}); "
                          f"a numeric variable is needed here (for a categorical one use lsa.percentages, or "
                          f"a factor on the right-hand side of a formula).")
    out = s.to_numpy(dtype=float, na_value=np.nan)
    check_finite(out, column, argument)
    return out


def factor_level_limit(n_rows: int) -> float:
    """The most levels a categorical variable may have on ``n_rows`` rows:
    min(:data:`MAX_FACTOR_LEVELS`, max(n/10, :data:`MIN_FACTOR_LIMIT`)). The one rule for
    formulas, expressions such as ``C(g)`` and imputation models."""
    return min(MAX_FACTOR_LEVELS, max(n_rows / 10, MIN_FACTOR_LIMIT))


def check_factor_levels(series: pd.Series, column: str, n_rows: int, argument: str = "formula") -> None:
    """A categorical predictor with more than :data:`MAX_FACTOR_LEVELS` levels, or more than
    n/10, is refused: it is almost always an id or a number stored as text.

    On small data the n/10 bound never goes below :data:`MIN_FACTOR_LIMIT` levels, so that a
    teaching example with 60 rows may still use a 5-level factor or 20 cluster dummies."""
    levels = series.nunique(dropna=True)
    limit = factor_level_limit(n_rows)
    if levels > limit:
        hint = (f" It holds numbers stored as text: convert it with pd.to_numeric(df[{column!r}])."
                if holds_numbers_as_text(series) else " If it is an id, leave it out of the fixed part.")
        raise FormulaError(f"{argument}: categorical variable {column!r} has {levels} levels for {n_rows} rows "
                           f"(at most {int(limit)} allowed: {MAX_FACTOR_LEVELS} or n/10).{hint}")


def check_no_random_effects(formula: str, function: str) -> None:
    """lme4 random-effect terms ``(… | group)`` belong to :func:`lsa.mixed`; elsewhere they would be
    evaluated as a bitwise OR."""
    if isinstance(formula, str) and "|" in formula:
        raise FormulaError(f"{function}: the formula {formula!r} has a random-effect term '( ... | group)'; "
                           f"{function} fits single-level models. Use lsa.mixed (or lsa.mix_pv) for "
                           f"multilevel models.")


def check_formula(formula: Any, argument: str = "formula") -> str:
    """A formula is a string with a response and predictors separated by ``~``."""
    if not isinstance(formula, str):
        raise FormulaError(f"{argument} must be a string such as 'y ~ x1 + x2'; got {type(formula).__name__}.")
    if "~" not in formula:
        raise FormulaError(f"{argument} needs a response and predictors separated by '~'; got {formula!r}.")
    return formula


def check_choice(value: Any, allowed: Sequence[Any], argument: str) -> Any:
    """``value`` is one of ``allowed``."""
    try:
        ok = value in allowed
    except TypeError:
        ok = False
    if not ok:
        raise LsaError(f"{argument} must be one of {list(allowed)}; got {value!r}.")
    return value


def check_number(value: Any, argument: str, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False, integer: bool = False) -> float:
    """A real (or integer) number within the bounds; strings and booleans are refused."""
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind) or not np.isfinite(value):
        what = "an integer" if integer else "a finite number"
        raise LsaError(f"{argument} must be {what}; got {value!r} ({type(value).__name__}).")
    below = low is not None and (value <= low if low_open else value < low)
    above = high is not None and (value >= high if high_open else value > high)
    if below or above:
        lo = "" if low is None else f"{'>' if low_open else '>='} {low:g}"
        hi = "" if high is None else f"{'<' if high_open else '<='} {high:g}"
        raise LsaError(f"{argument} must be {' and '.join(x for x in (lo, hi) if x)}; got {value!r}.")
    return value


def check_numbers(values: Any, argument: str, *, low: float | None = None, high: float | None = None,
                  low_open: bool = False, high_open: bool = False) -> list[float]:
    """A number or a sequence of numbers, each within the bounds (a string is refused, not split)."""
    if isinstance(values, (str, bytes)) or values is None:
        raise LsaError(f"{argument} must be a number or a list of numbers; got {values!r}.")
    seq = list(values) if isinstance(values, Iterable) else [values]
    if not seq:
        raise LsaError(f"{argument} must hold at least one number; got an empty {type(values).__name__}.")
    return [check_number(v, f"{argument}[{i}]" if len(seq) > 1 else argument, low=low, high=high,
                         low_open=low_open, high_open=high_open) for i, v in enumerate(seq)]


def check_names(value: Any, argument: str, *, allow_none: bool = False, allow_empty: bool = False) -> list[str]:
    """A column name or a list of column names (strings); ``allow_empty``: also an empty list."""
    if value is None and allow_none:
        return []
    seq = [value] if isinstance(value, str) else value
    if (not isinstance(seq, (list, tuple)) or not (seq or allow_empty)
            or not all(isinstance(v, str) for v in seq)):
        raise LsaError(f"{argument} must be a column name or a list of column names; got {value!r}.")
    return list(seq)


def check_name(value: Any, argument: str) -> str:
    """A single column or plausible-value set name (a string)."""
    if not isinstance(value, str):
        raise LsaError(f"{argument} must be one column or plausible-value set name (a string); got {value!r} "
                       f"({type(value).__name__}).")
    return value


def check_numeric_dtypes(data: pd.DataFrame, columns: Sequence[str], argument: str) -> None:
    """Every column in ``columns`` has a numeric (or boolean) dtype. Looks at dtypes only, so it
    costs nothing per row; the first offender is reported as :func:`numeric_column` would."""
    dtypes = data.dtypes                                  # one Series for all columns: no per-column copies
    for col in columns:
        dtype = dtypes[col]
        if isinstance(dtype, pd.CategoricalDtype) or not (pd.api.types.is_numeric_dtype(dtype)
                                                          or pd.api.types.is_bool_dtype(dtype)):
            numeric_column(data, col, argument)        # raises with the text / not-numeric message


def check_categories(series: pd.Series, column: str, argument: str = "variable",
                     limit: int = MAX_FACTOR_LEVELS) -> int:
    """A variable tabulated by category (percentages) has at most ``limit`` distinct values; more
    is almost always a continuous variable or a number stored as text, and would allocate one
    column per value. Returns the number of categories."""
    levels = int(series.nunique(dropna=True))
    if levels > limit:
        if pd.api.types.is_numeric_dtype(series) and not isinstance(series.dtype, pd.CategoricalDtype):
            hint = " It looks continuous: use lsa.mean, lsa.quantiles or lsa.benchmarks instead."
        elif holds_numbers_as_text(series):
            hint = f" It holds numbers stored as text: convert it with pd.to_numeric(df[{column!r}])."
        else:
            hint = " If it is an id or free text, recode it into fewer categories first."
        raise DesignError(f"{argument}: column {column!r} has {levels} distinct values; at most {limit} "
                          f"categories are tabulated.{hint}")
    return levels


def check_progress(progress: Any) -> bool | None:
    """``progress=``: True, False or None (:mod:`lsa.progress`)."""
    if progress is not None and not isinstance(progress, (bool, np.bool_)):
        raise LsaError(f"progress must be True, False or None; got {progress!r}.")
    return None if progress is None else bool(progress)


def check_n_jobs(n_jobs: Any, argument: str = "n_jobs") -> int | None:
    """joblib's worker count: ``None`` (the enclosing ``joblib.parallel_config``'s, else 1), a
    positive integer, or a negative one (all cores but ``|n_jobs| − 1``); 0 is refused."""
    if n_jobs is None:
        return None
    check_number(n_jobs, argument, integer=True)
    if n_jobs == 0:
        raise LsaError(f"{argument} must be a positive number of workers (or negative, joblib's 'all cores but "
                       f"|{argument}| − 1', or None for the enclosing joblib.parallel_config); got 0.")
    return int(n_jobs)
