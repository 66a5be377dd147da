"""R's number formatting, so that summaries print the digits WeMix prints.

WeMix's ``print.summaryWeMixResults`` prints data frames with ``digits = 4`` (R's default
``options(digits = 7)`` minus 3), the coefficient table with ``printCoefmat(digits = 4)`` and
``lnl`` with ``format(lnl, nsmall = 2)``. These functions reproduce R's ``formatReal`` (common
number of decimals for a column: the most any element needs when shown to ``digits``
significant digits, trailing zeros dropped; scientific notation when narrower) and
``printCoefmat``'s rounding, so the printed digits can be compared with R output.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

__all__ = ["format_real", "format_table", "coef_table"]


def _sig(x: float, digits: int) -> tuple[int, int, bool]:
    """(kp, nsig, negative) of x shown to ``digits`` significant digits (R's scientific())."""
    if x == 0 or not math.isfinite(x):
        return 0, 1, x < 0
    mant, exp = f"{abs(x):.{digits - 1}e}".split("e")
    d = mant.replace(".", "").rstrip("0")
    return int(exp), max(len(d), 1), x < 0


def format_real(values: Sequence[float], digits: int = 7, nsmall: int = 0,
                na: str = "NA") -> list[str]:
    """R's ``format(x, digits = digits, nsmall = nsmall)`` of a numeric vector (common width)."""
    vals = [float(v) if v is not None else math.nan for v in values]
    fin = [v for v in vals if math.isfinite(v)]
    if not fin:
        out = [na if math.isnan(v) else ("Inf" if v > 0 else "-Inf") for v in vals]
    else:
        info = [_sig(v, digits) for v in fin]
        neg = any(n for _, _, n in info)
        rgt = max(max(ns - kp - 1, 0) for kp, ns, _ in info)
        left = max(n + max(kp + 1, 1) for kp, _, n in info)   # sign counted per element
        mxns = max(ns for _, ns, _ in info)
        width_f = left + (rgt > 0) + rgt
        exps = [kp for kp, _, _ in info]
        ew = 5 if max(exps) >= 100 or min(exps) <= -99 else 4
        width_e = neg + (mxns + 1 if mxns > 1 else mxns) + ew
        if width_f <= width_e:
            rgt = max(rgt, nsmall)
            fmt = lambda v: f"{v:.{rgt}f}"  # noqa: E731
        else:
            fmt = lambda v: _sci(v, mxns - 1)  # noqa: E731
        out = []
        for v in vals:
            if math.isnan(v):
                out.append(na)
            elif math.isinf(v):
                out.append("Inf" if v > 0 else "-Inf")
            else:
                out.append(fmt(v + 0.0 if v != 0 else 0.0))
    w = max(len(s) for s in out)
    return [s.rjust(w) for s in out]


def _sci(v: float, dec: int) -> str:
    m, e = f"{v:.{dec}e}".split("e")
    ei = int(e)
    return f"{m}e{'-' if ei < 0 else '+'}{abs(ei):02d}"


def format_table(columns: dict, digits: int = 4, na: str = "") -> list[str]:
    """Lines of R's ``print(data.frame, row.names = FALSE, digits = digits, na.print = na)``:
    each column right-justified to max(header, values) and preceded by one space. Columns are
    lists of numbers (formatted together), ints or strings (``None`` prints ``na``)."""
    cols = []
    for name, vals in columns.items():
        vals = list(vals)
        if all(isinstance(v, (int, np.integer)) for v in vals):
            cells = [str(int(v)) for v in vals]
        elif all(v is None or isinstance(v, str) for v in vals):
            cells = [na if v is None else v for v in vals]
        else:
            cells = [c.strip() for c in format_real(vals, digits, na=na)]
        w = max([len(name)] + [len(c) for c in cells])
        cols.append([name.rjust(w)] + [c.rjust(w) for c in cells])
    return ["".join(" " + col[i] for col in cols) for i in range(len(cols[0]))]


def coef_table(names: Sequence[str], est, se, stat, digits: int = 4,
               headers=("Estimate", "Std. Error", "t value")) -> list[str]:
    """Lines of R's ``printCoefmat(cbind(est, se, t), digits = digits)`` (no p-values):
    estimates and SEs rounded to max(1, digits − (1 + ⌊log10 |x|⌋)) decimals (over the
    smallest non-zero |x|) and formatted together; t values rounded to max(1, min(5,
    digits − 1)) decimals."""
    est, se, stat = (np.asarray(a, float) for a in (est, se, stat))
    cs = np.r_[est, se]
    acs = np.abs(cs[np.isfinite(cs) & (cs != 0)])
    dig = max([1] + [digits - (1 + int(math.floor(math.log10(a)))) for a in
                     (acs.min(), acs.max())]) if acs.size else 1
    cs_txt = format_real(_round_half_even(cs, dig), digits)
    dig_t = max(1, min(5, digits - 1))
    t_txt = format_real(_round_half_even(stat, dig_t), digits)
    k = len(est)
    body = [[cs_txt[i], cs_txt[k + i], t_txt[i]] for i in range(k)]
    widths = [max(len(h), max(len(r[j]) for r in body)) for j, h in enumerate(headers)]
    nw = max(len(n) for n in names)
    lines = [" " * nw + "".join(" " + h.rjust(w) for h, w in zip(headers, widths))]
    for n, r in zip(names, body):
        lines.append(n.ljust(nw) + "".join(" " + c.rjust(w) for c, w in zip(r, widths)))
    return lines


def _round_half_even(x: np.ndarray, d: int) -> np.ndarray:
    """R's round(x, d) (IEC 60559: to the nearest representable, ties to even)."""
    return np.round(x, d)
