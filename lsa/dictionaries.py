"""Study data dictionaries: weights, replicate schemes, plausible values, cut points, file names.

One YAML file per study ships in :mod:`lsa.data_dictionaries` (``pisa``, ``timss``, ``pirls``,
``piaac``, ``talis``, ``icils``, ``iccs``, ``timss_advanced``). Each has ``defaults`` and
``cycles``; a cycle's entry is deep-merged over the defaults. A fact that could not be verified
is written ``{value: ..., unverified: true}`` (or a block carries ``unverified: true``); the
loader unwraps the value and keeps the dotted path of the field in :attr:`StudyInfo.unverified`.

Replicate schemes (V = c · Σ_r (θ_r − θ)²; the evidence is in the YAML ``evidence`` lists):

* PISA: Fay BRR, k = 0.5, R = 80, c = 1/(R(1−k)²) = 1/20; ``W_FSTR1-80`` up to 2012,
  ``W_FSTURWT1-80`` from 2015. PV sampling variance averaged over the PVs.
* TIMSS/PIRLS (and TIMSS Advanced): JK2 built from ``JKZONE``/``JKREP``; up to 2011 one replicate
  per zone, c = 1, sampling variance from PV1 only; from TIMSS 2015 / PIRLS 2016 both halves,
  c = 1/2, sampling variance averaged. The number of zones is taken from the data.
* PIAAC: per country, ``VEMETHOD`` (JK2: c = 1; JK1: c = (R−1)/R) over the first ``VENREPS``
  replicates of ``SPFWT1-80`` (unused replicates equal ``SPFWT0``); JK1 and JK2 countries in
  one file each keep their own scheme and factor (:meth:`lsa.Replicates.by_country`).
* Several countries in one file (the ``ids.country`` column holds two or more values): the
  replicates are nested within country (:meth:`lsa.Replicates.within`; zones and replicate
  columns are numbered within each country), so a pooled estimate has the variance of
  independent national samples and per-country results equal single-country designs.
* TALIS: Fay BRR, k = 0.5, R = 100 (``TRWGT1-100``), c = 1/25.
* ICILS/ICCS: JK2 one half per zone from ``JKZONES``/``JKREPS``, c = 1.

PVs are pooled with Rubin's rules: θ̄ = mean over the M PVs, V = U + (1 + 1/M)·B, where U is the
mean of the per-PV sampling variances (``pv_variance="all"``) or PV1's (``"first"``).

The seams: :mod:`lsa.dictionary_yaml` reads and merges a YAML file, :mod:`lsa.dictionary_schema`
validates it, this module answers questions about a study cycle (:func:`study_info`,
:func:`studies`) and :func:`design_spec` returns the :class:`~lsa.design_spec.DesignSpec` of
study data, from which :meth:`lsa.SurveyDesign.from_study` (and ``lsa.design_from_study``)
builds the design. This module never imports :mod:`lsa.design`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Iterator, Mapping

import pandas as pd

from .design_spec import DesignSpec, build_spec, resolve_columns
from .dictionary_schema import DictionaryError
from .dictionary_yaml import STUDIES, normalize_study, parse_document
from .dictionary_yaml import read_yaml as _read_yaml
from .errors import StudyError
from .validation import check_frame

__all__ = ["studies", "study_info", "all_study_infos", "design_spec", "study_doc", "StudyInfo", "DesignSpec", "DictionaryError",
           "resolve_columns", "STUDIES"]
# ``design_from_study`` lives in lsa.design (this module never imports it); lsa.design also sets
# ``lsa.dictionaries.design_from_study`` so that the old import path keeps working, and since
# ``import lsa`` is lazy, asking for the name here loads lsa.design first (by name: no import edge).


def __getattr__(name: str):
    if name == "design_from_study":
        from importlib import import_module

        import_module("lsa.design")
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.lru_cache(maxsize=None)
def study_doc(study: str) -> dict:
    """The validated dictionary of one study: {'meta': ..., 'cycles': {cycle: (entry, flags)}, 'aliases': ...}."""
    return parse_document(study, _read_yaml(study))


_study_doc = study_doc  # the old name (tests clear its cache)


# --------------------------------------------------------------------------------------------
# StudyInfo
# --------------------------------------------------------------------------------------------
def _ro(d: Mapping) -> Mapping:
    return MappingProxyType({k: (_ro(v) if isinstance(v, dict) else tuple(v) if isinstance(v, list) else v)
                             for k, v in d.items()})


@dataclass(frozen=True)
class StudyInfo:
    """Everything the dictionary says about one study cycle (and grade).

    Attributes
    ----------
    study, name, cycle, grade : identifiers (``grade`` None for studies without grades or when not given).
    observation_level : the unit of the final weight (student, respondent, teacher).
    ids : level -> id column, top level first (country, school, class, student ...).
    weights : role -> column (``final`` is the final weight of the observation level; ``school`` ...).
    replication : the replication block (method, k, zone/rep, replicate_weights, ...).
    method : ``fay``, ``jk2``, ``jk1``, ``brr`` or ``country_specific`` (PIAAC: VEMETHOD per country).
    variance_factor : c in V = c Σ(θ_r − θ)² (None when it depends on the data, PIAAC).
    pv_roots, pv_n, pv_pattern, pv_variants : PV domains and naming; see :meth:`pv_names`.
    pv_variance : ``"all"`` (average the per-PV sampling variances) or ``"first"`` (PV1 only).
    benchmarks : domain -> {"labels", "cuts"}; ``"default"`` applies to every domain (IEA).
    files : file-name patterns, ``{cnt}`` = ISO alpha-3 (lower case), ``{suffix}`` = cycle suffix.
    merge_keys : merge name -> key columns (e.g. ``student_school``).
    unverified : dotted paths of facts marked unverified (``"<cycle>"`` = the whole cycle).
    evidence : evidence keys (see data_facts.md, section 0).
    raw : the full merged entry.
    """

    study: str
    name: str
    cycle: str
    grade: int | None
    label: str | None
    observation_level: str
    ids: Mapping[str, str]
    weights: Mapping[str, Any]
    replication: Mapping[str, Any]
    method: str
    variance_factor: float | None
    pv_roots: tuple[str, ...]
    pv_n: int | None
    pv_pattern: str | None
    pv_variants: tuple[str, ...]
    pv_variance: str | None
    pv_labels: Mapping[str, str]
    benchmarks: Mapping[str, Mapping[str, Any]]
    files: Mapping[str, Any]
    merge_keys: Mapping[str, tuple[str, ...]]
    unverified: tuple[str, ...]
    evidence: tuple[str, ...]
    raw: Mapping[str, Any] = field(repr=False)

    def pv_names(self, root: str, pattern: str | None = None) -> list[str]:
        """The PV column names of one domain, e.g. ``PV1MATH``…``PV5MATH`` or ``ASMMAT01``…``05``."""
        if not self.pv_n:
            raise StudyError(f"{self.name} {self.cycle} has no plausible values.")
        pat = pattern or self.pv_pattern
        return [pat.format(root=root, m=m) for m in range(1, self.pv_n + 1)]

    def replicate_columns(self) -> list[str]:
        """Names of shipped replicate-weight columns (empty for JK2 built from zones)."""
        rw = self.replication.get("replicate_weights")
        if not rw:
            return []
        return [f"{rw['prefix']}{r}" for r in range(int(rw["first"]), int(rw["last"]) + 1)]

    def benchmark(self, root: str) -> Mapping[str, Any] | None:
        """Cut points (lower bounds of the levels) of a domain, or the study-wide default."""
        return self.benchmarks.get(root.upper(), self.benchmarks.get("default"))

    def is_unverified(self, path: str) -> bool:
        """True when the field (dotted path, e.g. ``"files.suffix"``) or its parent block is unverified."""
        return any(u == "<cycle>" or path == u or path.startswith(u + ".") or u.startswith(path + ".")
                   for u in self.unverified)


def _cycle_key(study: str, cycle: Any) -> str:
    doc = study_doc(study)
    key = str(cycle).strip()
    if key in doc["cycles"]:
        return key
    if key.lower() in doc["aliases"]:
        return doc["aliases"][key.lower()]
    name = doc["meta"]["name"]
    known = ", ".join(list(doc["cycles"]) + [f"{a} (= {c})" for a, c in doc["aliases"].items()])
    raise StudyError(f"unknown cycle {cycle!r} for {name}. Known cycles of {name}: {known}.")


def _grade(entry: dict, grade: Any, name: str, cycle: str) -> int | None:
    grades = entry.get("grades")
    if grade is None:
        return grades[0] if grades and len(grades) == 1 else None
    m = re.fullmatch(r"\s*[gG]?(\d+)\s*", str(grade))
    g = int(m.group(1)) if m else None
    if not grades:
        raise StudyError(f"{name} {cycle} has no grade variants; got grade={grade!r}.")
    if g not in grades:
        raise StudyError(f"grade {grade!r} is not part of {name} {cycle}. Known grades: {grades}.")
    return g


def _roots(pv: dict, grade: int | None) -> tuple[str, ...]:
    roots = pv.get("roots") or []
    if isinstance(roots, dict):
        if grade is not None:
            roots = roots.get(str(grade), [])
        else:
            roots = [r for v in roots.values() for r in v]
    return tuple(dict.fromkeys(roots))


def study_info(study: str, cycle: Any, grade: Any = None) -> StudyInfo:
    """What the dictionary says about one study cycle.

    >>> info = study_info("pisa", 2003)
    >>> info.method, info.variance_factor, info.pv_names("MATH")[:2]
    ('fay', 0.05, ['PV1MATH', 'PV2MATH'])

    Raises :class:`~lsa.errors.StudyError` for an unknown study (listing the known ones), cycle
    (listing that study's cycles) or grade.
    """
    key = normalize_study(study)
    doc = study_doc(key)
    cyc = _cycle_key(key, cycle)
    entry, flags = doc["cycles"][cyc]
    name = doc["meta"]["name"]
    g = _grade(entry, grade, name, cyc)
    pv = entry.get("pv") or {}
    rep = entry["replication"]
    merges = (entry.get("files") or {}).get("merge") or {}
    return StudyInfo(
        study=key, name=name, cycle=cyc, grade=g, label=entry.get("label"),
        observation_level=entry["observation_level"],
        ids=_ro(entry["ids"]), weights=_ro(entry["weights"]), replication=_ro(rep),
        method=rep["method"], variance_factor=rep.get("variance_factor"),
        pv_roots=_roots(pv, g) if pv else (), pv_n=pv.get("n"), pv_pattern=pv.get("pattern"),
        pv_variants=tuple(pv.get("variants") or ()), pv_variance=pv.get("variance"),
        pv_labels=_ro(pv.get("labels") or {}),
        benchmarks=_ro({(str(k) if k == "default" else str(k).upper()): v
                         for k, v in (entry.get("benchmarks") or {}).items()}),
        files=_ro(entry.get("files") or {}),
        merge_keys=MappingProxyType({k: tuple(v) for k, v in merges.items() if isinstance(v, list)}),
        unverified=flags, evidence=tuple(str(x) for x in entry.get("evidence") or ()), raw=_ro(entry))


def all_study_infos() -> Iterator[StudyInfo]:
    """The :class:`StudyInfo` of every study × cycle (× grade) the dictionaries know, in display order."""
    for s in STUDIES:
        for cyc, (entry, _) in study_doc(s)["cycles"].items():
            for g in entry.get("grades") or [None]:
                yield study_info(s, cyc, g)


def studies() -> pd.DataFrame:
    """One row per study × cycle (× grade): the weights, replicate scheme and PVs the dictionary knows.

    Columns: study, name, cycle, grade, observation_level, final_weight, method, n_replicates
    (None when taken from the data), variance_factor, pv_variance, n_pv, pv_roots, benchmarks,
    cycle_unverified (the whole cycle is unverified), n_unverified, unverified.
    """
    rows = []
    for info in all_study_infos():
        r = info.replication
        n_rep = r.get("n_replicates")
        if n_rep is None and r.get("replicate_weights"):
            n_rep = len(info.replicate_columns())
        if info.method == "jk2" and r.get("zone"):
            n_rep = None  # from the zones in the data
        rows.append(dict(
            study=info.study, name=info.name, cycle=info.cycle, grade=info.grade,
            observation_level=info.observation_level, final_weight=info.weights["final"],
            method=info.method + (" (both halves)" if r.get("both_halves") else ""),
            n_replicates=n_rep, variance_factor=info.variance_factor, pv_variance=info.pv_variance,
            n_pv=info.pv_n, pv_roots=", ".join(info.pv_roots), benchmarks=", ".join(info.benchmarks),
            cycle_unverified="<cycle>" in info.unverified, n_unverified=len(info.unverified),
            unverified=", ".join(info.unverified)))
    df = pd.DataFrame(rows)
    df["grade"] = df["grade"].astype("Int64")
    df["n_replicates"] = df["n_replicates"].astype("Int64")
    df["n_pv"] = df["n_pv"].astype("Int64")
    return df


# --------------------------------------------------------------------------------------------
# the design specification of study data
# --------------------------------------------------------------------------------------------
def design_spec(study: str, cycle: Any, data: pd.DataFrame, grade: Any = None, **overrides: Any) -> DesignSpec:
    """The :class:`~lsa.design_spec.DesignSpec` of study data from the dictionary.

    Column names are matched case-insensitively (``W_FSTUWT`` or ``w_fstuwt``) and the actual
    names of ``data`` are used. Every PV domain of the cycle (and grade) whose PV columns are all
    present becomes a PV set named by its root (``MATH``, ``ASMMAT``, ``PVLIT``); IEA names are
    also tried without zero padding (``ASMMAT1``…``5``). Ids: the school and class id columns
    that are present. Weights: the final weight at the observation level plus the school weight
    when both it and the school id are present.

    Parameters
    ----------
    study, cycle, grade : as in :func:`study_info` (grade is optional; it restricts the PV roots).
    data : the study data (one country or several).
    **overrides : ``ids``, ``weights``, ``pvs``, ``replicates``, ``strata``, ``conditional_weights``,
        ``pv_variance`` or ``benchmarks`` replace what the dictionary gives (an overridden item is not checked
        against the data here).

    Raises
    ------
    StudyError : unknown study/cycle/grade, or data missing needed columns (listing what is
        missing and what was found).
    """
    check_frame(data)                                       # a DataFrame with unique column names
    info = study_info(study, cycle, grade)
    others = {cyc: study_info(info.study, cyc).replicate_columns()[:1] for cyc in study_doc(info.study)["cycles"]}
    return build_spec(info, data, others, **overrides)
