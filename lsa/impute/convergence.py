"""Convergence of the imputation chains: traces of imputed-value means/SDs and R-hat.

Every chain (one per PV × imputation) records, after each iteration, the mean and the SD of the
values it imputed for each variable (for a categorical variable: the share, and its SD, of each
non-reference level). Chains of the same PV target the same distribution, so

* :func:`rhat` computes the Gelman–Rubin potential scale reduction over the last half of the
  iterations, between the m chains of each PV (as Blimp's PSR, spec §6.2 step 4: < 1.1);
* :func:`convergence_summary` gives, per traced series, the largest R-hat over PVs and flags
  the series whose chains have not mixed;
* :func:`trace_svg` draws the traces (one panel per series and statistic, one line per chain).

With very few iterations (tests, tutorials at reduced size) R-hat is noisy; use ≥ 10 for real runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import LsaError
from ..validation import check_number

__all__ = ["Trace", "rhat", "convergence_summary", "trace_svg"]

_STATS = ("mean", "sd")


@dataclass(frozen=True)
class Trace:
    """Chain traces: ``values`` (chains, iterations + 1, series, 2) with [..., 0] the mean and
    [..., 1] the SD of the imputed values (iteration 0 = miceforest's random start);
    ``series`` names ("escs", "immig2[First-Generation]"), ``variables`` the column of each
    series, ``pv_index``/``imp_index`` per chain."""

    values: np.ndarray
    series: list[str]
    variables: list[str]
    pv_index: np.ndarray
    imp_index: np.ndarray

    @property
    def n_iterations(self) -> int:
        return self.values.shape[1] - 1

    def frame(self) -> pd.DataFrame:
        """Long table: pv, imp, iteration, series, variable, mean, sd."""
        c, t, s, _ = self.values.shape
        idx = np.indices((c, t, s)).reshape(3, -1)
        return pd.DataFrame({"pv": self.pv_index[idx[0]], "imp": self.imp_index[idx[0]], "iteration": idx[1],
                             "series": np.asarray(self.series, dtype=object)[idx[2]],
                             "variable": np.asarray(self.variables, dtype=object)[idx[2]],
                             "mean": self.values[..., 0].ravel(), "sd": self.values[..., 1].ravel()})


def _check_trace(trace) -> "Trace":
    if not isinstance(trace, Trace):
        hint = (" (completed data sets built with from_long/from_frames have no chains)" if trace is None
                else " (the .trace of an lsa.impute.Imputed)")
        raise LsaError(f"trace must be an lsa.impute.Trace{hint}; got {type(trace).__name__}.")
    return trace


def _psr(x: np.ndarray) -> float:
    """Gelman–Rubin R-hat of x (chains, draws)."""
    m, n = x.shape
    if m < 2 or n < 2:
        return np.nan
    w = x.var(axis=1, ddof=1).mean()
    b = n * x.mean(axis=1).var(ddof=1)
    if w <= 0:
        return 1.0 if b <= 0 else np.inf
    var = (n - 1) / n * w + b / n
    return float(np.sqrt(var / w))


def rhat(trace: Trace, window: float = 0.5) -> pd.DataFrame:
    """R-hat per PV, series and statistic over the last ``window`` share of the iterations
    (at least 2 iterations; iteration 0 is never used). Rows: pv; columns: (series, stat)."""
    _check_trace(trace)
    check_number(window, "window", low=0, high=1, low_open=True)
    t = trace.n_iterations
    n = max(2, int(np.ceil(window * t)))
    if t < 2:
        raise LsaError(f"R-hat needs at least 2 iterations per chain; the chains ran {t}.")
    start = t + 1 - n
    rows = {}
    for p in np.unique(trace.pv_index):
        sel = trace.values[trace.pv_index == p, start:]
        rows[int(p)] = {(s, st): _psr(sel[:, :, j, k]) for j, s in enumerate(trace.series)
                        for k, st in enumerate(_STATS)}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "pv"
    return out


def convergence_summary(trace: Trace, threshold: float = 1.1, window: float = 0.5) -> pd.DataFrame:
    """One row per traced series: the largest R-hat of the mean and of the SD over PVs, the
    PV where it occurs, and ``flag`` = True when it exceeds ``threshold`` (chains not mixed)."""
    check_number(threshold, "threshold", low=1)
    r = rhat(trace, window)
    rows = []
    for s, v in zip(trace.series, trace.variables):
        mean_r, sd_r = r[(s, "mean")], r[(s, "sd")]
        worst = pd.concat([mean_r, sd_r], axis=1).max(axis=1)
        rmax = float(worst.max()) if worst.notna().any() else np.nan
        rows.append({"series": s, "variable": v, "rhat_mean": float(mean_r.max()), "rhat_sd": float(sd_r.max()),
                     "rhat_max": rmax, "worst_pv": int(worst.idxmax()) if worst.notna().any() else None,
                     "flag": bool(rmax > threshold) if np.isfinite(rmax) else bool(np.isinf(rmax))})
    return pd.DataFrame(rows)


_COLOURS = ["#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#FF9DA6", "#9D755D",
            "#BAB0AC", "#EECA3B"]
_FONT = 'font-family="Helvetica, Arial, sans-serif" font-size="11"'


def trace_svg(trace: Trace, series: Sequence[str] | None = None, pv: int | None = None,
              max_chains: int = 10, width: int = 720, panel_height: int = 110) -> str:
    """Trace plot as an SVG string: a row of two panels (mean, SD of the imputed values) per
    series, one line per chain (of PV ``pv``, default the first; at most ``max_chains``)."""
    _check_trace(trace)
    if isinstance(series, str):
        series = [series]
    if series is not None and not (isinstance(series, (list, tuple)) and all(isinstance(s, str) for s in series)):
        raise LsaError(f"series must be a trace series name or a list of them; got {series!r}.")
    if pv is not None:
        check_number(pv, "pv", low=1, integer=True)
    check_number(max_chains, "max_chains", low=1, integer=True)
    check_number(width, "width", low=100, integer=True)
    check_number(panel_height, "panel_height", low=20, integer=True)
    series = list(series) if series is not None else list(trace.series)
    unknown = [s for s in series if s not in trace.series]
    if unknown:
        raise LsaError(f"unknown trace series {unknown}; traced: {trace.series}.")
    pv = int(trace.pv_index[0]) if pv is None else int(pv)
    chains = np.flatnonzero(trace.pv_index == pv)[:max_chains]
    if len(chains) == 0:
        raise LsaError(f"no chains for PV {pv}; PVs are {sorted(set(trace.pv_index.tolist()))}.")
    top, left, gap = 30, 150, 30
    pw = (width - left - gap - 20) // 2
    height = top + len(series) * (panel_height + 14) + 24
    its = np.arange(trace.values.shape[1])
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}">', '<rect width="100%" height="100%" fill="white"/>',
             f'<text x="{left}" y="18" {_FONT} font-weight="bold">Imputation chains'
             f'{" (PV " + str(pv) + ")" if len(set(trace.pv_index.tolist())) > 1 else ""}: mean and SD of the '
             f'imputed values by iteration</text>']
    for r, s in enumerate(series):
        j = trace.series.index(s)
        y0 = top + r * (panel_height + 14)
        parts.append(f'<text x="{left - 8}" y="{y0 + panel_height / 2:.0f}" text-anchor="end" {_FONT}>'
                     f'{escape(s)}</text>')
        for k, stat in enumerate(_STATS):
            x0 = left + k * (pw + gap)
            vals = trace.values[chains, :, j, k]
            finite = vals[np.isfinite(vals)]
            lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
            pad = 0.05 * (hi - lo or abs(hi) or 1.0)
            lo, hi = lo - pad, hi + pad
            sx = lambda i: x0 + i / max(its[-1], 1) * pw
            sy = lambda v: y0 + panel_height - (v - lo) / (hi - lo) * panel_height
            parts.append(f'<rect x="{x0}" y="{y0}" width="{pw}" height="{panel_height}" fill="none" stroke="#ccc"/>')
            parts.append(f'<text x="{x0 + 4}" y="{y0 + 12}" {_FONT} fill="#555">{stat}</text>')
            parts.append(f'<text x="{x0 - 3}" y="{y0 + 9}" text-anchor="end" {_FONT} fill="#777">{hi:.3g}</text>')
            parts.append(f'<text x="{x0 - 3}" y="{y0 + panel_height}" text-anchor="end" {_FONT} fill="#777">'
                         f'{lo:.3g}</text>')
            for c in range(len(chains)):
                pts = " ".join(f"{sx(i):.1f},{sy(v):.1f}" for i, v in zip(its, vals[c]) if np.isfinite(v))
                parts.append(f'<polyline points="{pts}" fill="none" stroke="{_COLOURS[c % len(_COLOURS)]}" '
                             f'stroke-width="1.2"/>')
    yb = height - 8
    parts.append(f'<text x="{left}" y="{yb}" {_FONT} fill="#555">iterations 0–{its[-1]} (0 = random start); '
                 f'one line per imputation chain</text>')
    return "".join(parts) + "</svg>"
