"""Reports: HTML + Markdown rendering, SVG plots, Excel workbooks, reporting flags and the
tables of the international reports (IEA exhibit, league table)."""

from .excel import Sheet, write_workbook
from .exhibits import exhibit, league_table
from .plots import bar_chart, coef_plot, pv_spread
from .render import Report, format_table, markdown_table
from .rules import ReportingRules, reporting_rules

__all__ = ["Report", "ReportingRules", "Sheet", "bar_chart", "coef_plot", "exhibit", "format_table", "league_table",
           "markdown_table", "pv_spread", "reporting_rules", "write_workbook"]
