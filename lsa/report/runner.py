"""Run a recipe: load the data, build the design, run every analysis, compare with the published
numbers, and write report.html (one self-contained file), report.md, results.csv, results.json and
results.xlsx (one sheet per analysis, with its reporting flags and footnotes, and a sheet of the
published-vs-lsa checks).

A failing analysis is reported in the report and in the exit status; the other analyses still run.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import inspect
import json
import platform
import sys
import traceback
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from ..errors import LsaError, LsaWarning
from ..validation import ensure_expression_columns, has_column
from .plots import bar_chart, coef_plot, pv_spread
from .checks import checks_display, compare, format_checks_sheet
from .excel import Sheet, write_workbook
from .recipe import Recipe, RecipeError, check_kwargs, load_recipe
from .recipe_steps import STEP_FUNCTIONS, run_step
from .render import Report, prepare_output

DESIGN_FUNCTIONS = ("mean", "sd", "percentages", "quantiles", "benchmarks", "gap", "correlation", "lm", "logit")


@dataclass
class Outcome:
    """What one analysis produced: its tidy table, the published comparison, or an error."""

    name: str
    function: str
    table: pd.DataFrame | None = None
    checks: pd.DataFrame | None = None
    error: str | None = None
    result: Any = None
    notes: list[str] = field(default_factory=list)

    @property
    def failed_checks(self) -> int:
        return 0 if self.checks is None else int((~self.checks["ok"]).sum())


@dataclass
class RunResult:
    recipe: Recipe
    outcomes: list[Outcome] = field(default_factory=list)
    paths: dict[str, Path] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(o.error is None and o.failed_checks == 0 for o in self.outcomes)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1


# -- data and design -----------------------------------------------------------------------------
def load_data(rec: Recipe) -> tuple[pd.DataFrame, list[Path]]:
    """The recipe's data and the files they came from (for provenance)."""
    d = rec.data
    base = rec.path.parent
    if "dataset" in d:
        from ..datasets import load, path

        return load(d["dataset"]), [Path(str(path(d["dataset"])))]
    if "file" in d:
        f = (base / d["file"]).resolve()
        if not f.is_file():
            raise RecipeError(f"{rec.where('file')}: data file {f} does not exist.")
        return _read_file(f, d.get("columns")), [f]
    if "folder" in d:
        from ..io import read_study

        folder = (base / d["folder"]).resolve()
        df = read_study(folder, d["study"], d["cycle"], countries=d.get("countries"), grade=d.get("grade"),
                        columns=d.get("columns"))
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        return df, files
    raise RecipeError(f"{rec.path}: [data] needs dataset =, file = or folder =.")


def _read_file(f: Path, columns) -> pd.DataFrame:
    from .. import io

    suffix = f.suffix.lower()
    if suffix == ".sav":
        return io.read_spss(f, columns=columns)
    if suffix == ".dta":
        return io.read_stata(f, columns=columns)
    if suffix == ".sas7bdat":
        return io.read_sas(f, columns=columns)
    if suffix in (".csv", ".gz", ".txt"):
        try:
            return pd.read_csv(f, usecols=columns)
        except (ValueError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise RecipeError(f"data file {f}: cannot be read as CSV: {' '.join(str(exc).split())}.") from exc
    return io.read_any(f, columns=columns)   # .zsav, .sas7bdat, or an error naming the extension


def derive(rec: Recipe, df: pd.DataFrame) -> pd.DataFrame:
    """Apply [[derive]] entries: ``expr`` (pandas eval) or ``recode = {source, map}``."""
    out = df.copy()
    for spec in rec.derive:
        name = spec.get("name")
        if not name:
            raise RecipeError(f"{rec.where('name')}: every [[derive]] needs a name.")
        if "recode" in spec:
            src, mapping = spec["recode"]["source"], spec["recode"]["map"]
            if not has_column(out, src):               # a study frame reads it from its files
                raise RecipeError(f"{rec.where('recode')}: recode source {src!r} is not a column.")
            values = out[src].map(lambda v: mapping.get(_key(v)))
            out[name] = pd.Categorical(values, categories=list(dict.fromkeys(mapping.values())))
        elif "expr" in spec:
            ensure_expression_columns(out, spec["expr"])
            try:
                out[name] = out.eval(spec["expr"])
            except Exception as exc:
                raise RecipeError(f"{rec.where('expr')}: cannot evaluate {spec['expr']!r}: {exc}") from exc
        else:
            raise RecipeError(f"{rec.where('name')}: [[derive]] {name!r} needs expr = or recode =.")
    return out


def _key(v) -> str | None:
    if pd.isna(v):
        return None
    return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)


def build_design(rec: Recipe, df: pd.DataFrame):
    from ..design import SurveyDesign
    from ..replicates import Replicates

    spec = dict(rec.design)
    if not spec:
        return None
    if "replicates" in spec and isinstance(spec["replicates"], dict):
        r = dict(spec["replicates"])
        method = r.pop("method", None)
        if method not in REPLICATE_METHODS:
            raise RecipeError(f"{rec.where('method')}: [design.replicates] method must be one of "
                              f"{list(REPLICATE_METHODS)}; got {method!r}.")
        if "prefix" in r:
            count = r.pop("count", None)
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise RecipeError(f"{rec.where('count')}: [design.replicates] with prefix = needs count = the "
                                  f"number of replicate weights (a positive integer); got {count!r}.")
            r["columns"] = [f"{r.pop('prefix')}{i}" for i in range(1, count + 1)]
        factory = getattr(Replicates, method)
        _check_options(rec, f"Replicates.{method}", r, list(inspect.signature(factory).parameters))
        spec["replicates"] = factory(**r)
    if "study" in spec:
        if "cycle" not in spec:
            raise RecipeError(f"{rec.where('study')}: [design] with study = needs cycle = too.")
        study, cycle = spec.pop("study"), spec.pop("cycle")
        return SurveyDesign.from_study(study, cycle, df, **spec)
    _check_options(rec, "[design]", spec, list(inspect.signature(SurveyDesign).parameters)[1:])
    return SurveyDesign(df, **spec)


REPLICATE_METHODS = ("fay", "brr", "jk1", "jk2", "bootstrap", "custom")


def _check_options(rec: Recipe, what: str, given: dict, allowed: list[str]) -> None:
    bad = sorted(set(given) - set(allowed))
    if bad:
        raise RecipeError(f"{rec.where(bad[0])}: {what} has no option {bad[0]!r}; its options are {allowed}.")


# -- analyses ------------------------------------------------------------------------------------
def _function(name: str) -> tuple[Callable, str]:
    import lsa

    if name in DESIGN_FUNCTIONS:
        return getattr(lsa, name), "design"
    if name == "mixed":
        return lsa.mixed, "formula-data"
    if name == "mix_pv" and hasattr(lsa, "mix_pv"):
        return lsa.mix_pv, "formula-data"
    if name in ("clustered", "robust.clustered"):
        return lsa.robust.clustered, "formula-frame"
    if name == "exhibit":
        return lsa.report.exhibit, "design"
    if name in STEP_FUNCTIONS:
        return getattr(lsa, name, None), "step"
    known = list(DESIGN_FUNCTIONS) + ["mixed", "mix_pv", "clustered", "exhibit", *STEP_FUNCTIONS]
    raise RecipeError(f"unknown analysis function {name!r}; known: {known}.")


def run_analysis(rec: Recipe, index: int, design, df: pd.DataFrame, previous: dict[str, Outcome] | None = None
                 ) -> Outcome:
    """Run the ``index``-th analysis; ``previous`` (name -> outcome) holds the earlier analyses that
    steps such as ``average``, ``compare``, ``trend`` and ``league_table`` build on."""
    a = dict(rec.analyses[index])
    name, fname = a.pop("name"), a.pop("function")
    published = a.pop("published", [])
    a.pop("plot", None)
    out = Outcome(name, fname)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LsaWarning)
        _run_into(out, rec, index, a, published, design, df, previous or {})
    out.notes = list(dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, LsaWarning)))
    return out


def _run_into(out: Outcome, rec: Recipe, index: int, a: dict, published: list, design, df, previous) -> None:
    fname = out.function
    try:
        fn, style = _function(fname)
        if style != "step":
            params = list(inspect.signature(fn).parameters)
            allowed = set(params[1:]) if style == "design" else set(params[2:]) | {"formula"}
            check_kwargs(rec, index, fname, a, allowed)
        if style == "step":
            result = run_step(rec, index, fname, a, previous, design)
        elif style == "design":
            result = fn(design, **a)
        elif style == "formula-data":
            formula = a.pop("formula")
            result = fn(formula, design if design is not None and "weights" not in a else df, **a)
        else:
            formula = a.pop("formula")
            result = fn(formula, data=df, **a)
        out.result = result
        out.table = result if isinstance(result, pd.DataFrame) else result.tidy()
        if published:
            out.checks = compare(out.table, published)
    except (LsaError, KeyError, ValueError, TypeError) as exc:
        out.error = f"{type(exc).__name__}: {exc}"
    except Exception:  # noqa: BLE001 - a report must show any failure and go on
        out.error = traceback.format_exc(limit=3)


# -- the whole run -------------------------------------------------------------------------------
def run_recipe(path: str | Path, out: str | Path | None = None, *, quiet: bool = False) -> RunResult:
    """Run every analysis of a recipe and write the report; see the module docstring."""
    rec = load_recipe(path)
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, file=sys.stderr))
    if rec.seed is not None:
        np.random.seed(rec.seed)
    out = Path(out) if out is not None else Path(f"{rec.path.stem}-report")
    prepare_output(out)                    # a folder that cannot be written fails before the analyses
    df, files = load_data(rec)
    df = derive(rec, df)
    design = build_design(rec, df)
    res = RunResult(rec)
    for i in range(len(rec.analyses)):
        say(f"[{i + 1}/{len(rec.analyses)}] {rec.analyses[i]['name']} ...")
        res.outcomes.append(run_analysis(rec, i, design, df, {o.name: o for o in res.outcomes}))
    report = render(rec, res, design, files)
    res.paths = report.write(out)
    res.paths["csv"] = out / "results.csv"
    tables = [o.table.assign(analysis=o.name) for o in res.outcomes if o.table is not None]
    (pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()).to_csv(res.paths["csv"], index=False)
    res.paths["json"] = out / "results.json"
    res.paths["json"].write_text(json.dumps(_json(res), indent=1, default=_jsonable), encoding="utf-8")
    res.paths["excel"] = write_workbook(out / "results.xlsx", excel_sheets(res))
    format_checks_sheet(res.paths["excel"])
    return res


def excel_sheets(res: RunResult) -> list[Sheet]:
    """One sheet per analysis (its tidy table, note, flags and footnotes; a failed analysis shows
    its error), then a sheet of the published-vs-lsa checks when the recipe has any."""
    sheets = []
    for o in res.outcomes:
        note = getattr(o.result, "note", "")
        if o.error:
            sheets.append(Sheet(o.name, pd.DataFrame({"error": [o.error.strip().splitlines()[-1]]}), o.name,
                                f"FAILED ({o.function})"))
            continue
        sheets.append(Sheet(o.name, _whole_counts(o.table, None), o.name, note if isinstance(note, str) else "",
                            getattr(o.result, "rules", None), [f"Note: {n}" for n in o.notes]))
    checks = [o.checks.assign(analysis=o.name) for o in res.outcomes if o.checks is not None and len(o.checks)]
    if checks:
        sheets.append(Sheet("Published vs lsa", pd.concat(checks, ignore_index=True), "Published vs lsa"))
    return sheets


def render(rec: Recipe, res: RunResult, design, files: list[Path]) -> Report:
    rep = Report(rec.title)
    if rec.description:
        rep.text(rec.description)
    if design is not None:
        rep.code(design.describe())
    for o in res.outcomes:
        rep.heading(o.name)
        if o.error:
            rep.text(f"FAILED ({o.function}): {o.error}")
            continue
        rep.table(_display(o.table), rules=getattr(o.result, "rules", None))
        for note in o.notes:
            rep.text(f"Note: {note}")
        for name, svg in _plots(o):
            rep.plot(name, svg)
        if o.checks is not None and len(o.checks):
            rep.text("Published vs lsa" + ("" if o.failed_checks == 0 else
                                          f" — {o.failed_checks} number(s) OUTSIDE TOLERANCE or mark(s) differing"))
            rep.table(checks_display(o.checks), digits=3)
    status = "All analyses ran" + (" and every published number was reproduced." if res.ok else
                                   "; some failed or missed a published number (see above).")
    rep.heading("Summary").text(status)
    rep.heading("Provenance").code(provenance(rec, files))
    rep.heading("Recipe").code(rec.text)
    return rep


def _display(table: pd.DataFrame, missing: Any = "") -> pd.DataFrame:
    """The table as shown: no confidence limits (the SE is there), and counts (``n_*`` columns made
    float by a missing value, e.g. on an average row) as whole numbers with ``missing`` for NaN."""
    drop = [c for c in ("conf_low", "conf_high") if c in table.columns]
    out = _whole_counts(table.drop(columns=drop), missing)
    for c in [c for c in out.columns if str(c).startswith("p_") and c != "p_value"]:     # p_adjusted
        if pd.api.types.is_float_dtype(out[c]):
            out[c] = [missing if pd.isna(v) else ("<0.001" if v < 0.001 else f"{v:.3f}") for v in out[c]]
    for c in out.columns:                  # a label missing on some rows (an average's variable): blank
        if not pd.api.types.is_numeric_dtype(out[c]) and out[c].isna().any():
            out[c] = out[c].astype(object).where(out[c].notna(), missing)
    return out


def _whole_counts(table: pd.DataFrame, missing: Any) -> pd.DataFrame:
    out = table.copy()
    for c in out.columns:
        s = out[c]
        if str(c).startswith("n_") and pd.api.types.is_float_dtype(s) and np.all(np.mod(s.dropna(), 1) == 0):
            out[c] = pd.Series([missing if pd.isna(v) else int(v) for v in s], index=s.index, dtype=object)
    return out


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in text.lower()).strip("_")[:40]


def _plots(o: Outcome) -> list[tuple[str, str]]:
    t, out = o.table, []
    slug = _slug(o.name)
    if o.function == "benchmarks":
        label = t["term"].astype(str)
        for c in reversed(list(t.columns[: list(t.columns).index("term")])):     # by groups, e.g. the country
            label = t[c].astype(str) + ": " + label
        out.append((f"{slug}_levels", bar_chart(label, t["estimate"], t["std_error"], title=o.name)))
    elif o.function in ("lm", "logit", "mixed", "mix_pv", "clustered") and {"conf_low", "conf_high"} <= set(t.columns):
        fixed = t[t["effect"] == "fixed"] if "effect" in t.columns else t
        fixed = fixed[fixed["term"] != "(Intercept)"]
        if len(fixed):
            out.append((f"{slug}_coef", coef_plot(fixed["term"], fixed["estimate"], fixed["conf_low"],
                                                  fixed["conf_high"], title=o.name)))
    elif o.function == "league_table" and {"diff", "diff_se"} <= set(t.columns):
        rows = t[t["diff"].notna()]
        half = 1.96 * rows["diff_se"]
        out.append((f"{slug}_diff", coef_plot(rows.iloc[:, 0].astype(str), rows["diff"], rows["diff"] - half,
                                              rows["diff"] + half, title=f"{o.name}: difference from the average")))
    if o.function in STEP_FUNCTIONS:
        return out                           # per-PV spread: shown with the analysis the step builds on
    per_pv = getattr(o.result, "per_pv", None)
    if isinstance(per_pv, pd.DataFrame) and per_pv["pv"].nunique() > 1 and per_pv["term"].nunique() <= 12:
        label = per_pv["term"].astype(str)
        by = [c for c in per_pv.columns if c not in ("pv", "term", "estimate", "sampling_se")]
        for c in by:
            label = per_pv[c].astype(str) + ": " + label
        pooled = per_pv.assign(label=label).groupby("label", sort=False)["estimate"]
        out.append((f"{slug}_pvs", pv_spread(list(pooled.groups), [g.to_numpy() for _, g in pooled],
                                             title=f"{o.name}: estimate from each plausible value")))
    return out


def provenance(rec: Recipe, files: list[Path]) -> str:
    pkgs = ["lsa", "numpy", "pandas", "scipy", "statsmodels", "pyreadstat", "miceforest", "lightgbm"]
    versions = []
    for p in pkgs:
        try:
            versions.append(f"{p} {metadata.version(p)}")
        except metadata.PackageNotFoundError:
            pass
    lines = [f"Python {platform.python_version()}; " + "; ".join(versions)]
    for f in files[:50]:
        lines.append(f"data: {f.name} ({f.stat().st_size:,} bytes, sha256 {hashlib.sha256(f.read_bytes()).hexdigest()})")
    lines.append(f"seed: {rec.seed if rec.seed is not None else 'none (no random step)'}")
    lines.append(f"recipe: {rec.path.name} (sha256 {hashlib.sha256(rec.text.encode()).hexdigest()[:16]})")
    lines.append(f"run: {_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')}")
    return "\n".join(lines)


def _json(res: RunResult) -> dict:
    return {"title": res.recipe.title, "ok": res.ok,
            "analyses": [{"name": o.name, "function": o.function, "error": o.error,
                          "results": None if o.table is None else o.table.to_dict(orient="records"),
                          "published": None if o.checks is None else o.checks.to_dict(orient="records")}
                         for o in res.outcomes]}


def _jsonable(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    return str(v)
