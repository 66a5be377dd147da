"""``lsa demo``: run the bundled recipe ``recipes/demo.toml`` — a short, real analysis of the
PISA 2003 Netherlands student file (means of the four domains against the published OECD
figures, mathematics proficiency levels, the gender gap, a regression on ESCS) — and write an
HTML + Markdown report with plots, a CSV and a JSON of every estimate."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .report.numbers import format_table
from .report.runner import RunResult, run_recipe


def run_demo(out: str | Path = "lsa-demo", quiet: bool = False) -> RunResult:
    """Run the demo recipe and write its report to ``out``; prints the main table."""
    with resources.as_file(resources.files("lsa.recipes") / "demo.toml") as recipe:
        res = run_recipe(recipe, out, quiet=quiet)
    if not quiet:
        means = res.outcomes[0].table
        print("PISA 2003 Netherlands — mean performance (5 PVs, 80 Fay BRR replicates)\n")
        print(format_table(means[["term", "estimate", "std_error", "df", "n_obs"]]).to_string(index=False))
        print(f"\nReport: {res.paths['html']} (also report.md, results.csv, results.json)")
    return res
