"""Numbers in reports: one formatter for the HTML and Markdown tables and the plot labels.

The rule
--------
A number is printed with fixed decimals, at least ``digits`` of them, and more when needed so that
it shows at least two significant digits: ``decimals(v) = max(digits, 1 - floor(log10 |v|))``
(0.0047 → 4 decimals, "0.0047"; 3.13 → ``digits``). In a table with a ``std_error`` column the
decimals of each row are chosen from its standard error, and the estimate and confidence limits
of that row are printed with the same decimals: an estimate is reported to the precision of its
standard error, which is shown with at least two significant ("effective") digits, the
precision Ehrenberg (1977, "Rudiments of numeracy", JRSS A 140(3), 277-297) recommends. So a
standard error is never shown as 0.00 (a standard error that is exactly zero prints as "0", and
tables flag it "SE 0") and an estimate never with fewer decimals than its SE.
p-values are printed with 3 decimals ("<0.001" below), degrees of freedom with 1 ("∞" when
infinite); a missing value is an empty cell. Group labels (the columns before ``term``, or the
first column) that hold whole numbers print without decimals. A column named ``*_se`` is a
standard error of its own: two significant digits, and "0" below 1e-10 (rounding noise).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = ["decimals_for", "format_number", "format_table", "MAX_DECIMALS"]

#: decimals are never more than this (a value below 1e-11 prints as 0.000000000000)
MAX_DECIMALS = 12
#: columns printed with the decimals of the row's standard error
SE_COLUMN = "std_error"
WITH_SE = ("estimate", "std_error", "conf_low", "conf_high")


def decimals_for(value: float, digits: int = 2, significant: int = 2) -> int:
    """Decimals that print ``value`` with at least ``significant`` significant digits and at least
    ``digits`` decimals: ``max(digits, significant - 1 - floor(log10 |value|))``, capped at
    :data:`MAX_DECIMALS`; ``digits`` for 0 and non-finite values."""
    try:
        v = abs(float(value))
    except (TypeError, ValueError):
        return digits
    if v == 0 or not math.isfinite(v):
        return digits
    return int(min(max(digits, significant - 1 - math.floor(math.log10(v))), MAX_DECIMALS))


def format_number(value, decimals: int) -> str:
    """``value`` with fixed ``decimals`` and thousands separators; "" for missing, "∞"/"-∞"."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return ""
    v = float(value)
    if math.isinf(v):
        return "∞" if v > 0 else "-∞"
    return f"{v:,.{decimals}f}"


def _p_value(v) -> str:
    if pd.isna(v):
        return ""
    return "<0.001" if v < 0.001 else f"{v:.3f}"


def _df(v) -> str:
    if pd.isna(v):
        return ""
    return "∞" if np.isinf(v) else f"{v:.1f}"


def _two_significant(v) -> str:
    return "" if pd.isna(v) else f"{v:.2g}"


def format_table(df: pd.DataFrame, digits: int = 2) -> pd.DataFrame:
    """The table with every float column as strings, by the rule of the module docstring
    (``digits``: the least number of decimals of estimates and other numbers)."""
    out = df.copy()
    row_decimals = None
    if SE_COLUMN in out.columns and pd.api.types.is_float_dtype(out[SE_COLUMN]):
        row_decimals = [decimals_for(se, digits) if pd.notna(se) and se != 0 else None for se in out[SE_COLUMN]]
    labels = list(out.columns[:list(out.columns).index("term")]) if "term" in out.columns else list(out.columns[:1])
    for col in out.columns:
        s = out[col]
        if not pd.api.types.is_float_dtype(s):
            continue
        if col in labels and np.all(np.mod(s.dropna().to_numpy(), 1) == 0):
            out[col] = s.map(lambda v: format_number(v, 0))    # group labels 7.0, 8.0 print as 7, 8
            continue
        if col in ("p_value", "p"):
            out[col] = s.map(_p_value)
        elif col in ("difference", "tolerance"):
            out[col] = s.map(_two_significant)
        elif col == "df":
            out[col] = s.map(_df)
        elif str(col).endswith("_se"):                # a standard error of its own (exhibit tables)
            out[col] = s.map(lambda v: "0" if v == 0 or abs(v) < 1e-10 else format_number(v, decimals_for(v, digits)))
        elif col in WITH_SE and row_decimals is not None:
            out[col] = [format_number(v, d if d is not None else decimals_for(v, digits))
                        for v, d in zip(s, row_decimals)]
            if col == SE_COLUMN:                   # an exact zero is "0", never "0.00" (see lsa.report.rules)
                out[col] = ["0" if v == 0 else f for v, f in zip(s, out[col])]
        else:
            out[col] = s.map(lambda v: format_number(v, decimals_for(v, digits)))
    return out.astype(str)
