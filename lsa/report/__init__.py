"""Reports: HTML + Markdown rendering and SVG plots."""

from .plots import bar_chart, coef_plot, pv_spread
from .render import Report, format_table, markdown_table

__all__ = ["Report", "bar_chart", "coef_plot", "pv_spread", "format_table", "markdown_table"]
