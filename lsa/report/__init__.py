"""Reports: HTML + Markdown rendering and SVG plots."""

from .plots import bar_chart, coef_plot
from .render import Report, format_table, markdown_table

__all__ = ["Report", "bar_chart", "coef_plot", "format_table", "markdown_table"]
