"""``lsa demo``: a short, real analysis of the bundled PISA 2003 Netherlands student file.

Means of the four domains with replicate + plausible-value variance (compared with the
published OECD figures), mathematics proficiency levels, the gender gap and a regression on
ESCS, written as an HTML + Markdown report with plots and a CSV of every estimate.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import platform
import warnings
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__
from .design import SurveyDesign
from .errors import MissingDataWarning
from .estimators import benchmarks, gap, lm, mean
from .report import Report, bar_chart, coef_plot

# OECD (2004) Learning for Tomorrow's World, NLD: mean (SE); as cited in the extract's README.
PUBLISHED = {"MATH": (538, 3.1), "READ": (513, 2.9), "SCIE": (524, 3.1), "PROB": (520, 3.0)}
DOMAINS = {"MATH": "Mathematics", "READ": "Reading", "SCIE": "Science", "PROB": "Problem solving"}
EXTRACT = "pisa2003_nld"


def run_demo(out: str | Path = "lsa-demo", quiet: bool = False) -> dict[str, Path]:
    """Run the demo analysis and write ``report.html``, ``report.md``, ``results.csv`` to ``out``."""
    from .datasets import load

    data = load(EXTRACT)
    data["gender"] = pd.Categorical(data["ST03Q01"].map({1: "Female", 2: "Male"}), categories=["Female", "Male"])
    design = SurveyDesign.from_study("PISA", 2003, data)
    say = (lambda *a: None) if quiet else print
    say(design.describe(), "\n")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MissingDataWarning)
        means = mean(design, list(DOMAINS)).tidy()
        levels = benchmarks(design, "MATH").tidy()
        gender_gap = gap(design, "MATH", between="gender", groups=["Female", "Male"]).tidy()
        reg = lm(design, "MATH ~ ESCS + gender").tidy()
    notes = sorted({str(w.message) for w in caught})

    table = means[["variable", "estimate", "std_error", "n_obs"]].assign(
        domain=lambda t: t["variable"].map(DOMAINS),
        published=lambda t: t["variable"].map(lambda v: f"{PUBLISHED[v][0]} ({PUBLISHED[v][1]})"))
    table = table[["domain", "estimate", "std_error", "published", "n_obs"]]
    say("PISA 2003 Netherlands — mean performance (5 PVs, 80 Fay replicates)")
    say(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"), "\n")

    rep = Report("lsa demo — PISA 2003, Netherlands")
    rep.text(f"{design.n:,} students in {data['SCHOOLID'].nunique()} schools. Estimates use the final student "
             f"weight W_FSTUWT; sampling variances come from the 80 Fay BRR replicate weights (k = 0.5, "
             f"factor 1/20), averaged over the 5 plausible values, plus (1 + 1/5) times the variance between "
             f"plausible values (Rubin's rules).")
    rep.heading("Mean performance").table(table)
    rep.text("Published: OECD (2004), Learning for Tomorrow's World, as cited in the extract's README.")
    rep.heading("Mathematics proficiency levels")
    rep.plot("math_levels", bar_chart(levels["term"], levels["estimate"], levels["std_error"],
                                      title="Students at each mathematics proficiency level (%)"))
    rep.table(levels[["term", "estimate", "std_error"]])
    rep.heading("Gender gap in mathematics").table(gender_gap[["term", "estimate", "std_error", "df", "p_value"]])
    rep.heading("Regression of mathematics on ESCS and gender")
    rep.plot("regression", coef_plot(reg["term"][1:], reg["estimate"][1:], reg["conf_low"][1:], reg["conf_high"][1:],
                                     title="MATH ~ ESCS + gender (score points)"))
    rep.table(reg[["term", "estimate", "std_error", "df", "statistic", "p_value", "n_obs", "n_missing"]])
    if notes:
        rep.heading("Data notes")
        for n in notes:
            rep.text(n)
    rep.heading("Provenance").code(_provenance(design))

    out = Path(out)
    paths = rep.write(out)
    results = pd.concat([means.assign(analysis="mean"), levels.assign(analysis="benchmarks"),
                         gender_gap.assign(analysis="gap"), reg.assign(analysis="lm")], ignore_index=True)
    paths["csv"] = out / "results.csv"
    results.to_csv(paths["csv"], index=False)
    say(f"Report written to {paths['html']} and {paths['markdown']}; estimates in {paths['csv']}")
    return paths


def _provenance(design: SurveyDesign) -> str:
    from .datasets import path

    f = Path(str(path(EXTRACT)))
    digest = hashlib.sha256(f.read_bytes()).hexdigest()
    versions = {m: __import__(m).__version__ for m in ("numpy", "pandas", "scipy", "statsmodels")}
    return "\n".join([
        f"lsa {__version__}; Python {platform.python_version()}; " + "; ".join(f"{k} {v}" for k, v in versions.items()),
        f"data: {f.name} ({f.stat().st_size:,} bytes, sha256 {digest[:16]}…)",
        f"design: {design.study} {design.cycle}; {design.replicates.describe()}",
        f"run: {_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')}",
    ])
