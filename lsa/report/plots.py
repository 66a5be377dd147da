"""Small self-contained SVG charts for reports (no plotting dependency).

Each function returns an ``<svg>`` string that an HTML report embeds inline and a Markdown
report links as a file.
"""

from __future__ import annotations

from html import escape
from typing import Sequence

import numpy as np

from .numbers import decimals_for, format_number

_FONT = 'font-family="Helvetica, Arial, sans-serif" font-size="12"'


def bar_chart(labels: Sequence[str], values: Sequence[float], errors: Sequence[float] | None = None, *,
              title: str = "", unit: str = "%", width: int = 640) -> str:
    """Horizontal bars with optional ±1.96·SE whiskers."""
    values = np.asarray(values, dtype=float)
    errors = np.zeros_like(values) if errors is None else 1.96 * np.asarray(errors, dtype=float)
    row, left, top = 26, 190, 34
    height = top + row * len(values) + 30
    vmax = float(np.nanmax(values + errors)) * 1.08 or 1.0
    scale = (width - left - 60) / vmax
    parts = [_open(width, height), _title(title)]
    for i, (lab, v, e) in enumerate(zip(labels, values, errors)):
        y = top + i * row
        parts.append(f'<text x="{left - 8}" y="{y + 15}" text-anchor="end" {_FONT}>{escape(str(lab))}</text>')
        parts.append(f'<rect x="{left}" y="{y + 3}" width="{max(v, 0) * scale:.1f}" height="{row - 8}" fill="#4C78A8"/>')
        if e > 0:
            x0, x1 = left + (v - e) * scale, left + (v + e) * scale
            parts.append(f'<line x1="{x0:.1f}" x2="{x1:.1f}" y1="{y + 12}" y2="{y + 12}" stroke="#222"/>')
        label = format_number(v, decimals_for(v, 1))
        parts.append(f'<text x="{left + (v + e) * scale + 6:.1f}" y="{y + 15}" {_FONT}>{label}{unit}</text>')
    parts.append(_axis_note(left, height, "bars: estimates; whiskers: 95% confidence intervals" if errors.any() else ""))
    return "".join(parts) + "</svg>"


def coef_plot(terms: Sequence[str], estimates: Sequence[float], low: Sequence[float], high: Sequence[float], *,
              title: str = "", width: int = 640) -> str:
    """Point estimates with confidence intervals, one row per term, with a zero line."""
    est, lo, hi = (np.asarray(a, dtype=float) for a in (estimates, low, high))
    row, left, top = 28, 190, 34
    height = top + row * len(est) + 30
    xmin, xmax = min(0.0, float(lo.min())), max(0.0, float(hi.max()))
    pad = 0.06 * (xmax - xmin or 1.0)
    xmin, xmax = xmin - pad, xmax + pad
    sx = lambda v: left + (v - xmin) / (xmax - xmin) * (width - left - 30)
    parts = [_open(width, height), _title(title),
             f'<line x1="{sx(0):.1f}" x2="{sx(0):.1f}" y1="{top}" y2="{height - 24}" stroke="#999" stroke-dasharray="4 3"/>']
    for i, (t, e, a, b) in enumerate(zip(terms, est, lo, hi)):
        y = top + i * row + 12
        parts.append(f'<text x="{left - 8}" y="{y + 4}" text-anchor="end" {_FONT}>{escape(str(t))}</text>')
        parts.append(f'<line x1="{sx(a):.1f}" x2="{sx(b):.1f}" y1="{y}" y2="{y}" stroke="#222" stroke-width="1.5"/>')
        parts.append(f'<circle cx="{sx(e):.1f}" cy="{y}" r="4" fill="#E45756"/>')
        parts.append(f'<text x="{sx(b) + 6:.1f}" y="{y + 4}" {_FONT}>{format_number(e, decimals_for(e, 2))}</text>')
    parts.append(_axis_note(left, height, "points: estimates; lines: 95% confidence intervals"))
    return "".join(parts) + "</svg>"


def pv_spread(labels: Sequence[str], values: Sequence[Sequence[float]], *, title: str = "",
              width: int = 640) -> str:
    """The estimate from each plausible value as its distance from their mean, one row per term,
    on a common scale: the between-PV spread that Rubin's rules add to the sampling variance.
    The mean is printed at the right of each row."""
    row, left, top = 28, 190, 34
    height = top + row * len(values) + 30
    devs = [np.asarray(v, dtype=float) - np.mean(v) for v in values]
    half = max(float(np.nanmax(np.abs(np.concatenate(devs)))), 1e-12) * 1.15
    sx = lambda v: left + (v + half) / (2 * half) * (width - left - 110)
    parts = [_open(width, height), _title(title),
             f'<line x1="{sx(0):.1f}" x2="{sx(0):.1f}" y1="{top}" y2="{height - 24}" stroke="#E45756"/>']
    for i, (lab, d, vals) in enumerate(zip(labels, devs, values)):
        y = top + i * row + 12
        parts.append(f'<text x="{left - 8}" y="{y + 4}" text-anchor="end" {_FONT}>{escape(str(lab))}</text>')
        parts.append(f'<line x1="{sx(d.min()):.1f}" x2="{sx(d.max()):.1f}" y1="{y}" y2="{y}" stroke="#bbb"/>')
        for v in d:
            parts.append(f'<circle cx="{sx(v):.1f}" cy="{y}" r="3.5" fill="#4C78A8" fill-opacity="0.7"/>')
        mean = format_number(float(np.mean(vals)), decimals_for(float(np.mean(vals)), 2))
        parts.append(f'<text x="{width - 100}" y="{y + 4}" {_FONT}>mean {mean}</text>')
    parts.append(_axis_note(left, height, f"dots: PV estimate minus the mean over PVs "
                                          f"(axis ±{half:.3g})"))
    return "".join(parts) + "</svg>"


def _open(width: int, height: int) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img">')


def _title(title: str) -> str:
    return f'<text x="10" y="20" font-weight="bold" {_FONT}>{escape(title)}</text>' if title else ""


def _axis_note(left: int, height: int, note: str) -> str:
    return f'<text x="{left}" y="{height - 8}" fill="#666" {_FONT}>{escape(note)}</text>' if note else ""
