"""The results vocabulary shared by every result type of lsa (AGENTS.md, "Names").

* ``params``, ``bse``, ``cov_params()``, ``conf_int(alpha)`` — a :class:`ConfInt` with the
  columns ``conf_low``, ``conf_high`` — and ``tidy()``, whose columns are the identifying
  columns (``by`` groups, ``effect``, ``group``), then :data:`TIDY_COLUMNS` in that order, then
  extras (``n_obs``, ``riv``, ``fmi``, ...).
* One test result, :class:`WaldTest`: ``statistic``, ``df_num``, ``df_den``, ``p_value``,
  ``method``, and optional extras.
* One name per option: ``df_method``, ``alpha``, ``n_jobs``, ``progress``, ``seed``.
  A renamed option keeps working with a ``DeprecationWarning`` (:func:`renamed_option`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import LsaError, warn

__all__ = ["NOT_GIVEN", "TIDY_COLUMNS", "ConfInt", "WaldTest", "conf_int_frame", "renamed_option"]

#: the columns of every tidy table, in this order (after the identifying columns)
TIDY_COLUMNS = ("term", "estimate", "std_error", "statistic", "df", "p_value", "conf_low", "conf_high")

_CI_ALIASES = {0: "conf_low", 1: "conf_high", "lower": "conf_low", "upper": "conf_high"}


def _ci_alias(key):
    if isinstance(key, bool) or not isinstance(key, (int, np.integer, str)):
        return None
    return _CI_ALIASES.get(int(key) if isinstance(key, np.integer) else key)


class ConfInt(pd.DataFrame):
    """Confidence limits, one row per term, columns ``conf_low`` and ``conf_high``.

    The old column keys still work with a ``DeprecationWarning``: ``ci[0]`` / ``ci[1]`` (the
    columns of ``MixedResult`` and ``MixPVResult`` before) and ``ci["lower"]`` / ``ci["upper"]``
    (``DesignResult`` before) return ``ci["conf_low"]`` / ``ci["conf_high"]``."""

    @property
    def _constructor(self):
        return ConfInt

    def __getitem__(self, key):
        new = _ci_alias(key)
        if new is not None and key not in self.columns and new in self.columns:
            warn(f"conf_int()[{key!r}] is deprecated: the columns are 'conf_low' and 'conf_high'; "
                 f"use conf_int()[{new!r}].", DeprecationWarning)
            key = new
        return super().__getitem__(key)


def conf_int_frame(low, high, index=None) -> ConfInt:
    """A :class:`ConfInt` from the lower and upper limits."""
    return ConfInt({"conf_low": np.asarray(low, dtype=float), "conf_high": np.asarray(high, dtype=float)},
                   index=index)


@dataclass(frozen=True)
class WaldTest:
    """A Wald-type test of q constraints, the one test result of lsa.

    ``statistic`` (F, or χ² when ``df_den`` is infinite), ``df_num`` (q), ``df_den`` (∞ for a χ²
    reference), ``p_value``, ``method`` (``"chi2"``, ``"HTZ"``, ``"naive-F"``, ``"D1"``, ``"D2"``,
    ...). Extras where the method has them: ``riv`` (pooled tests: the average relative increase
    in variance), ``Q`` (the Wald quadratic form), ``delta`` (HTZ's scale factor),
    ``hypotheses`` (the constraints tested, by name).

    Deprecated names: ``df`` (= ``df_num``; ``MixedResult.wald_test`` before), ``df_denom``
    (= ``df_den``; the cluster-robust test before), ``test`` (= ``method``).
    """

    statistic: float
    df_num: float
    df_den: float
    p_value: float
    method: str
    riv: float = np.nan
    Q: float = np.nan
    delta: float = np.nan
    hypotheses: tuple = ()

    @property
    def df(self):
        warn("WaldTest.df is deprecated; use df_num (and df_den for the denominator df).", DeprecationWarning)
        return self.df_num

    @property
    def df_denom(self):
        warn("WaldTest.df_denom is deprecated; use df_den.", DeprecationWarning)
        return self.df_den

    @property
    def test(self) -> str:
        warn("WaldTest.test is deprecated; use method.", DeprecationWarning)
        return self.method

    def _repr_html_(self) -> str:
        from .report.tables import result_html

        row = {"statistic": [self.statistic], "df_num": [self.df_num], "df_den": [self.df_den],
               "p_value": [self.p_value]}
        if np.isfinite(self.riv):
            row["riv"] = [self.riv]
        of = f" of {', '.join(self.hypotheses)}" if self.hypotheses else ""
        return result_html(f"Wald test ({self.method}){of}", "", pd.DataFrame(row))

    def __str__(self) -> str:
        chi2 = np.isinf(self.df_den)
        of = f" of {', '.join(self.hypotheses)}" if self.hypotheses else ""
        ref = f"{self.df_num:g}" if chi2 else f"{self.df_num:g}, {self.df_den:.2f}"
        out = (f"Wald test ({self.method}){of}: {'chi2' if chi2 else 'F'} = {self.statistic:.4f} "
               f"on ({ref}) df, p = {self.p_value:.4g}")
        return out + (f" (ARIV = {self.riv:.4f})" if np.isfinite(self.riv) else "")


def renamed_option(function: str, old: str, new: str, old_value, new_value, default=None):
    """The value of option ``new``, also given under its deprecated name ``old``.

    ``old_value`` is what the caller passed as ``old`` (``None`` = not given); it is used, with a
    ``DeprecationWarning``, when ``new_value`` is its ``default``. Both given is an
    :class:`~lsa.errors.LsaError` naming them."""
    if old_value is None:
        return new_value
    if not _same(new_value, default):
        raise LsaError(f"{function}: give {new}= only ({old}= is its deprecated name); got both "
                       f"{new}={new_value!r} and {old}={old_value!r}.")
    warn(f"{function}(): {old}= is deprecated; use {new}= (the same values).", DeprecationWarning)
    return old_value


def _same(a, b) -> bool:
    try:
        return bool(a == b) if not isinstance(a, np.ndarray) else False
    except Exception:                                        # pragma: no cover - exotic values
        return a is b


class _NotGiven:
    def __repr__(self) -> str:
        return "NOT_GIVEN"


#: default of a deprecated option whose old values include ``None``: "not passed"
NOT_GIVEN = _NotGiven()
