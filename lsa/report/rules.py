"""Reporting rules: when a cell of a table is too thin to report, as the study's own tables mark it.

Each study dictionary (``lsa/data_dictionaries/<study>.yaml``) has a top-level ``reporting``
block::

    reporting:
      unit: students             # what min_observations counts (students, teachers, adults)
      mark: c                    # footnote mark of a cell with too few students or schools
      min_observations: 30       # rows with data in the cell
      min_schools: 5             # schools with a row of positive weight in the cell
      coverage: null             # or [{below: 0.85, mark: r}, ...]: share of the cell with data
      source: "..."              # where the rule is written

A value may be written ``{value: ..., unverified: true}`` (or the block carries
``unverified: true``) when no primary source was read; the rule is applied all the same and its
footnote says it is unverified.

The flags of one row of a ``tidy()`` table (:func:`cell_flags`, vectorised over rows):

* ``"few <unit>"``: ``n_obs < min_observations``;
* ``"few schools"``: ``n_schools < min_schools``;
* ``"coverage <mark>"``: ``n_obs / (n_obs + n_missing)`` below a coverage threshold (the
  lowest threshold crossed gives the mark; unweighted share);
* ``"SE 0"``: a standard error, or its sampling part (the replicate variance, before the
  variance between PVs is added), of zero (≤ 1e-12·max(1, |θ|)). It means that no replicate
  moved the estimate (a cell of one student or one school, a percentage of 0 or 100): the zero is
  not a measure of precision. This rule holds for every design, with or without a study.

Several flags are joined by ``"; "``; a row without flags has ``""``. A design built without a
study (``SurveyDesign(...)`` by hand) has no minimum sample: only ``"SE 0"`` is flagged.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..dictionaries import study_doc
from ..dictionary_schema import DictionaryError
from ..dictionary_yaml import normalize_study, unwrap
from ..errors import StudyError

__all__ = ["ReportingRules", "NO_RULES", "reporting_rules", "rules_for_design", "cell_flags", "count_schools",
           "school_codes", "footnotes", "mark_of", "marks", "SE_ZERO", "SE_ZERO_MARK"]

SE_ZERO = "SE 0"
#: the footnote mark of a zero standard error in rendered tables
SE_ZERO_MARK = "‡"


@dataclass(frozen=True)
class ReportingRules:
    """The reporting rule of one study (see the module docstring). ``None`` = no minimum."""

    study: str | None = None
    unit: str = "students"
    mark: str = "c"
    min_observations: int | None = None
    min_schools: int | None = None
    coverage: tuple[tuple[float, str], ...] = ()
    source: str = ""
    unverified: tuple[str, ...] = field(default=())

    def describe(self) -> str:
        """One sentence for footnotes and reports."""
        if self.study is None:
            return "no minimum sample (the design names no study); standard errors of 0 are flagged."
        parts = []
        if self.min_observations:
            parts.append(f"at least {self.min_observations} {self.unit}")
        if self.min_schools:
            parts.append(f"at least {self.min_schools} schools")
        rule = " and ".join(parts) if parts else "no minimum sample"
        mark = f" (unverified: {', '.join(self.unverified)})" if self.unverified else ""
        return f"{self.study.upper()} reporting rule: {rule} per cell{mark}. Source: {self.source or 'none'}."


NO_RULES = ReportingRules()


def _int_or_none(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DictionaryError(f"{where} must be a positive integer or null; got {value!r}.")
    return value


@functools.lru_cache(maxsize=None)
def reporting_rules(study: str | None) -> ReportingRules:
    """The rule of ``study`` (a name such as ``"PISA"``) from its dictionary; :data:`NO_RULES`
    for ``None``. A study whose dictionary has no ``reporting`` block has no minimum."""
    if study is None:
        return NO_RULES
    key = normalize_study(study)
    raw = study_doc(key)["meta"].get("reporting")
    if raw is None:
        return ReportingRules(study=key, source="the study dictionary has no reporting rule")
    where = f"{key}.yaml: reporting"
    if not isinstance(raw, dict):
        raise DictionaryError(f"{where} must be a mapping; got {type(raw).__name__}.")
    flags: list[str] = []
    block = unwrap(raw, "reporting", flags)
    coverage = []
    for i, c in enumerate(block.get("coverage") or []):
        if not (isinstance(c, dict) and isinstance(c.get("below"), (int, float)) and 0 < c["below"] <= 1
                and isinstance(c.get("mark"), str)):
            raise DictionaryError(f"{where}.coverage[{i}] needs below (a share in (0, 1]) and mark; got {c!r}.")
        coverage.append((float(c["below"]), c["mark"]))
    return ReportingRules(study=key, unit=str(block.get("unit", "students")), mark=str(block.get("mark", "c")),
                          min_observations=_int_or_none(block.get("min_observations"), f"{where}.min_observations"),
                          min_schools=_int_or_none(block.get("min_schools"), f"{where}.min_schools"),
                          coverage=tuple(sorted(coverage, reverse=True)), source=str(block.get("source", "")),
                          unverified=tuple(f.removeprefix("reporting.") for f in flags))


def rules_for_design(design) -> ReportingRules:
    """The rule of the design's study (:data:`NO_RULES` when it has none or an unknown one)."""
    study = getattr(design, "study", None)
    try:
        return reporting_rules(study) if isinstance(study, str) else NO_RULES
    except StudyError:
        return NO_RULES


def school_codes(design) -> np.ndarray | None:
    """Integer codes of the design's school (top sampling) level, one per row; None without ids.

    The level named ``school`` when there is one, else the top level that is not the country."""
    ids = design.ids
    if not ids:
        return None
    level = "school" if "school" in ids else next((lv for lv in ids if lv != "country"), None)
    if level is None:
        return None
    codes, _ = pd.factorize(design.data[ids[level]], use_na_sentinel=True)
    return codes


def count_schools(codes: np.ndarray | None, weight: np.ndarray) -> float:
    """Distinct schools with a row of positive ``weight`` (NaN without school ids)."""
    if codes is None:
        return np.nan
    inside = codes[(weight > 0) & (codes >= 0)]
    return float(np.count_nonzero(np.bincount(inside))) if inside.size else 0.0


def cell_flags(table: pd.DataFrame, rules: ReportingRules = NO_RULES, sampling_se=None) -> np.ndarray:
    """The ``flag`` of every row of a tidy table (object array of strings), vectorised.

    Uses the columns ``estimate`` and ``std_error`` and, when present, ``n_obs``, ``n_missing``,
    ``n_schools``; ``sampling_se`` (one per row) is the replicate part of the SE where known."""
    n = len(table)
    parts: list[np.ndarray] = []

    def col(name):
        return table[name].to_numpy(dtype=float, na_value=np.nan) if name in table.columns else np.full(n, np.nan)

    n_obs, n_missing, n_schools = col("n_obs"), col("n_missing"), col("n_schools")
    if rules.min_observations:
        parts.append(np.where(n_obs < rules.min_observations, f"few {rules.unit}", ""))
    if rules.min_schools:
        parts.append(np.where(n_schools < rules.min_schools, "few schools", ""))
    if rules.coverage:
        with np.errstate(invalid="ignore", divide="ignore"):
            share = n_obs / (n_obs + np.nan_to_num(n_missing))
        mark = np.full(n, "", dtype=object)
        for below, m in rules.coverage:                        # descending: the lowest crossed wins
            mark = np.where(share < below, f"coverage {m}", mark)
        parts.append(mark)
    se, est = col("std_error"), col("estimate")
    tiny = 1e-12 * np.maximum(1.0, np.abs(np.nan_to_num(est)))
    zero = np.abs(se) <= tiny
    if sampling_se is not None:
        zero |= np.abs(np.asarray(sampling_se, dtype=float)) <= tiny
    parts.append(np.where(zero, SE_ZERO, ""))
    out = np.full(n, "", dtype=object)
    for p in parts:
        out = np.where(p == "", out, np.where(out == "", p, out + "; " + p))
    return out.astype(object)


def mark_of(flag: str, rules: ReportingRules = NO_RULES) -> str:
    """The footnote mark of one flag: the study's mark (PISA ``"c"``, IEA ``"~"``) for too few
    observations or schools, the coverage mark (``"coverage r"`` → ``"r"``), ``"‡"`` for a zero SE."""
    if flag.startswith("few "):
        return rules.mark
    if flag.startswith("coverage "):
        return flag.split(" ", 1)[1]
    return SE_ZERO_MARK if flag == SE_ZERO else "*"


def marks(flags, rules: ReportingRules = NO_RULES) -> list[str]:
    """The marks of each cell's flags, joined (``"few students; SE 0"`` → ``"c‡"``)."""
    out = []
    for cell in flags:
        ms = dict.fromkeys(mark_of(f.strip(), rules) for f in str(cell).split(";") if f.strip())
        out.append("".join(ms))
    return out


def footnotes(flags, rules: ReportingRules = NO_RULES) -> list[str]:
    """The footnote lines (``"mark: meaning"``) for the flags present in ``flags``, then the
    source of the study's rule when one of its flags is present."""
    present = {f.strip() for cell in flags for f in str(cell).split(";") if f.strip()}
    verified = "" if not rules.unverified else " (rule unverified)"
    notes: dict[str, str] = {}
    limits = []
    if rules.min_observations:
        limits.append(f"{rules.min_observations} {rules.unit}")
    if rules.min_schools:
        limits.append(f"{rules.min_schools} schools")
    cuts = sorted(rules.coverage)                              # ascending thresholds
    for f in sorted(present):
        m = mark_of(f, rules)
        if f.startswith("few "):
            text = f"fewer than {' or '.join(limits)} with data: too few to report reliably{verified}"
        elif f.startswith("coverage "):
            i = [mk for _, mk in cuts].index(m) if m in [mk for _, mk in cuts] else None
            lo = "" if i is None or i == 0 else f"at least {cuts[i - 1][0]:.0%} but "
            hi = "" if i is None else f"less than {cuts[i][0]:.0%} of"
            text = f"data available for {lo}{hi} the {rules.unit} of the cell{verified}"
        elif f == SE_ZERO:
            text = ("standard error of zero: no replicate moved the estimate (e.g. one school, or a "
                    "percentage of 0 or 100); it is not a measure of precision")
        else:
            text = f
        notes.setdefault(m, text)
    out = [f"{m}: {t}" for m, t in notes.items()]
    if rules.study is not None and any(not f == SE_ZERO for f in present):
        out.append(f"{rules.study.upper()} reporting rule — source: {rules.source}")
    return out
