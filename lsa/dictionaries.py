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
  replicates of ``SPFWT1-80`` (unused replicates equal ``SPFWT0``).
* TALIS: Fay BRR, k = 0.5, R = 100 (``TRWGT1-100``), c = 1/25.
* ICILS/ICCS: JK2 one half per zone from ``JKZONES``/``JKREPS``, c = 1.

PVs are pooled with Rubin's rules: θ̄ = mean over the M PVs, V = U + (1 + 1/M)·B, where U is the
mean of the per-PV sampling variances (``pv_variance="all"``) or PV1's (``"first"``).
"""

from __future__ import annotations

import copy
import functools
import re
from dataclasses import dataclass, field
from importlib import resources
from types import MappingProxyType
from typing import Any, Mapping, Sequence

import pandas as pd
import yaml

from .errors import DesignError, LsaError, LsaWarning, StudyError, warn
from .validation import check_frame

__all__ = ["studies", "study_info", "design_from_study", "StudyInfo", "DictionaryError",
           "resolve_columns", "STUDIES"]

#: study keys, in display order (one YAML file each)
STUDIES = ("pisa", "timss", "pirls", "piaac", "talis", "icils", "iccs", "timss_advanced")
_ALIASES = {"timssadvanced": "timss_advanced", "timss_adv": "timss_advanced", "timssadv": "timss_advanced"}
_METHODS = {"fay", "jk2", "jk1", "brr", "country_specific"}
_PV_VARIANCE = {"all", "first"}
_DESIGN_ARGS = ("ids", "weights", "pvs", "replicates", "strata", "conditional_weights", "pv_variance", "benchmarks")


class DictionaryError(LsaError, ValueError):
    """A shipped or user-edited study dictionary (YAML) is malformed."""


# --------------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------------
def _norm_study(study: str) -> str:
    if not isinstance(study, str):
        raise StudyError(f"study must be a string such as 'pisa'; got {study!r}. Known studies: "
                         f"{', '.join(STUDIES)}.")
    key = re.sub(r"[\s\-]+", "_", study.strip().lower())
    key = _ALIASES.get(key.replace("_", ""), _ALIASES.get(key, key))
    if key not in STUDIES:
        raise StudyError(f"unknown study {study!r}. Known studies: {', '.join(STUDIES)}.")
    return key


def _read_yaml(study: str) -> dict:
    path = resources.files("lsa.data_dictionaries") / f"{study}.yaml"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:  # pragma: no cover - packaging error
        raise DictionaryError(f"the dictionary file {study}.yaml is missing from lsa.data_dictionaries.") from e
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise DictionaryError(f"{study}.yaml is not valid YAML: {e}") from e
    return doc


def _deep_merge(base: Any, over: Any) -> Any:
    """Merge ``over`` into a copy of ``base`` (mappings recursively; anything else replaces)."""
    if isinstance(base, dict) and isinstance(over, dict):
        if "value" in over and "value" not in base:  # an unverified wrapper replaces a whole block
            return copy.deepcopy(over)
        out = copy.deepcopy(base)
        for k, v in over.items():
            out[k] = _deep_merge(out[k], v) if k in out else copy.deepcopy(v)
        return out
    return copy.deepcopy(over)


def _unwrap(obj: Any, path: str, flags: list[str]) -> Any:
    """Replace ``{value: x, unverified: true}`` by x and record the dotted paths of unverified facts."""
    if isinstance(obj, dict):
        if "value" in obj and set(obj) <= {"value", "unverified", "note", "evidence"}:
            if obj.get("unverified"):
                flags.append(path)
            return _unwrap(obj["value"], path, flags)
        out = {}
        for k, v in obj.items():
            if k == "unverified":
                if v:
                    flags.append(path or "<cycle>")
                continue
            out[str(k)] = _unwrap(v, f"{path}.{k}" if path else str(k), flags)
        return out
    if isinstance(obj, list):
        return [_unwrap(v, f"{path}[{i}]", flags) for i, v in enumerate(obj)]
    return obj


@functools.lru_cache(maxsize=None)
def _study_doc(study: str) -> dict:
    """The validated dictionary of one study: {'meta': ..., 'cycles': {cycle: (entry, flags)}}."""
    doc = _read_yaml(study)
    where = f"{study}.yaml"
    if not isinstance(doc, dict):
        raise DictionaryError(f"{where}: the top level must be a mapping, got {type(doc).__name__}.")
    for key in ("study", "name", "cycles"):
        if key not in doc:
            raise DictionaryError(f"{where}: required top-level key {key!r} is missing.")
    if doc["study"] != study:
        raise DictionaryError(f"{where}: 'study' is {doc['study']!r}, expected {study!r}.")
    if not isinstance(doc["cycles"], dict) or not doc["cycles"]:
        raise DictionaryError(f"{where}: 'cycles' must be a non-empty mapping of cycle -> entry.")
    defaults = doc.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise DictionaryError(f"{where}: 'defaults' must be a mapping.")
    cycles, aliases = {}, {}
    for cyc, entry in doc["cycles"].items():
        if entry is None:
            entry = {}
        if not isinstance(entry, dict):
            raise DictionaryError(f"{where}: cycle {cyc!r} must be a mapping.")
        flags: list[str] = []
        merged = _unwrap(_deep_merge(defaults, entry), "", flags)
        _validate_cycle(merged, f"{where}, cycle {cyc}")
        cycles[str(cyc)] = (merged, tuple(dict.fromkeys(flags)))
        for a in merged.get("aliases", []) or []:
            aliases[str(a).lower()] = str(cyc)
    meta = {k: v for k, v in doc.items() if k not in ("cycles", "defaults")}
    return {"meta": meta, "cycles": cycles, "aliases": aliases}


def _need(cond: bool, where: str, msg: str) -> None:
    if not cond:
        raise DictionaryError(f"{where}: {msg}")


def _validate_cycle(e: dict, where: str) -> None:
    _need(isinstance(e.get("observation_level"), str), where, "'observation_level' (e.g. student) is required.")
    _need(isinstance(e.get("ids"), dict), where, "'ids' must be a mapping level -> column.")
    w = e.get("weights")
    _need(isinstance(w, dict) and isinstance(w.get("final"), str), where, "'weights.final' (a column name) is required.")
    r = e.get("replication")
    _need(isinstance(r, dict), where, "'replication' must be a mapping.")
    m = r.get("method")
    _need(m in _METHODS, where, f"'replication.method' must be one of {sorted(_METHODS)}; got {m!r}.")
    if m in ("fay", "brr", "jk1") or (m == "jk2" and "zone" not in r):
        rw = r.get("replicate_weights")
        _need(isinstance(rw, dict) and {"prefix", "first", "last"} <= set(rw), where,
              "'replication.replicate_weights' needs prefix, first and last.")
    if m == "fay":
        _need(isinstance(r.get("k"), (int, float)) and 0 <= r["k"] < 1, where, "'replication.k' must be in [0, 1).")
    if m == "jk2" and "zone" in r:
        _need(isinstance(r.get("rep"), str), where, "'replication.rep' is required with 'zone'.")
        _need(isinstance(r.get("both_halves"), bool), where, "'replication.both_halves' must be true or false.")
    if m == "country_specific":
        _need(isinstance(r.get("method_variable"), str) and isinstance(r.get("n_replicates_variable"), str), where,
              "country-specific replication needs 'method_variable' and 'n_replicates_variable'.")
    else:
        _need(isinstance(r.get("variance_factor"), (int, float)) and r["variance_factor"] > 0, where,
              "'replication.variance_factor' must be a positive number.")
    pv = e.get("pv")
    if pv is not None:
        _need(isinstance(pv, dict), where, "'pv' must be a mapping or null.")
        _need(isinstance(pv.get("n"), int) and pv["n"] >= 2, where, "'pv.n' must be an integer >= 2.")
        pats = [pv.get("pattern")] + list(pv.get("variants") or [])
        for p in pats:
            _need(isinstance(p, str) and "{m" in p and "{root}" in p, where,
                  f"PV patterns need '{{root}}' and '{{m}}'; got {p!r}.")
        _need(pv.get("variance") in _PV_VARIANCE, where,
              f"'pv.variance' must be one of {sorted(_PV_VARIANCE)}; got {pv.get('variance')!r}.")
        roots = pv.get("roots")
        _need(roots is None or isinstance(roots, (list, dict)), where, "'pv.roots' must be a list or a mapping grade -> list.")
    for dom, b in (e.get("benchmarks") or {}).items():
        _need(isinstance(b, dict) and isinstance(b.get("cuts"), list), where, f"benchmarks.{dom} needs a 'cuts' list.")
        cuts = b["cuts"]
        _need(all(isinstance(c, (int, float)) for c in cuts) and cuts == sorted(cuts), where,
              f"benchmarks.{dom}.cuts must be ascending numbers; got {cuts}.")
        if b.get("labels") is not None:
            _need(len(b["labels"]) == len(cuts), where, f"benchmarks.{dom}: {len(b['labels'])} labels for {len(cuts)} cuts.")
    grades = e.get("grades")
    _need(grades is None or (isinstance(grades, list) and all(isinstance(g, int) for g in grades)), where,
          "'grades' must be a list of integers.")


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
    doc = _study_doc(study)
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
    key = _norm_study(study)
    doc = _study_doc(key)
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


def studies() -> pd.DataFrame:
    """One row per study × cycle (× grade): the weights, replicate scheme and PVs the dictionary knows.

    Columns: study, name, cycle, grade, observation_level, final_weight, method, n_replicates
    (None when taken from the data), variance_factor, pv_variance, n_pv, pv_roots, benchmarks,
    cycle_unverified (the whole cycle is unverified), n_unverified, unverified.
    """
    rows = []
    for s in STUDIES:
        doc = _study_doc(s)
        for cyc, (entry, _) in doc["cycles"].items():
            for g in entry.get("grades") or [None]:
                info = study_info(s, cyc, g)
                r = info.replication
                n_rep = r.get("n_replicates")
                if n_rep is None and r.get("replicate_weights"):
                    n_rep = len(info.replicate_columns())
                if info.method == "jk2" and r.get("zone"):
                    n_rep = None  # from the zones in the data
                rows.append(dict(
                    study=s, name=info.name, cycle=cyc, grade=g, observation_level=info.observation_level,
                    final_weight=info.weights["final"],
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
# column matching and designs
# --------------------------------------------------------------------------------------------
class _Columns:
    """Case-insensitive lookup of the dictionary's names among the actual column names."""

    def __init__(self, columns: Sequence[Any]):
        self.columns = [str(c) for c in columns]
        self.exact = set(self.columns)
        self.upper: dict[str, list[str]] = {}
        for c in self.columns:
            self.upper.setdefault(c.upper(), []).append(c)

    def get(self, name: str | None) -> str | None:
        if name is None:
            return None
        if name in self.exact:
            return name
        hits = self.upper.get(str(name).upper(), [])
        if len(hits) > 1:
            raise StudyError(f"column {name!r} matches several columns that differ only in case: {hits}.")
        return hits[0] if hits else None

    def all(self, names: Sequence[str]) -> list[str] | None:
        found = [self.get(n) for n in names]
        return None if any(f is None for f in found) else found  # type: ignore[return-value]

    def preview(self, k: int = 25) -> str:
        more = f", ... ({len(self.columns)} in all)" if len(self.columns) > k else ""
        return ", ".join(self.columns[:k]) + more


def resolve_columns(names: Sequence[str], columns: Sequence[Any]) -> dict[str, str | None]:
    """Map dictionary names onto actual column names, case-insensitively (None = not found)."""
    cols = _Columns(columns)
    return {n: cols.get(n) for n in names}


def _span(names: Sequence[str]) -> str:
    return f"{names[0]}..{names[-1]} ({len(names)} columns)" if len(names) > 3 else ", ".join(names)


def _missing_error(info: StudyInfo, missing: list[str], cols: _Columns, hint: str = "") -> StudyError:
    return StudyError(
        f"the data lack columns that {info.name} {info.cycle} needs: {'; '.join(missing)}. "
        f"Found columns: {cols.preview()}.{(' ' + hint) if hint else ''} "
        "Pass weights=/replicates=/pvs= to design_from_study to override the dictionary.")


def _pv_sets(info: StudyInfo, cols: _Columns) -> dict[str, list[str]]:
    """Every PV domain whose columns are all present (first matching naming pattern wins)."""
    sets, partial = {}, []
    patterns = [info.pv_pattern, *info.pv_variants] if info.pv_pattern else []
    for root in info.pv_roots:
        best = None
        for pat in patterns:
            names = info.pv_names(root, pat)
            found = [cols.get(n) for n in names]
            if all(found):
                best = found
                break
            if any(found):
                partial.append(f"{root} ({sum(map(bool, found))} of {len(names)} as {pat.format(root=root, m='m')})")
        if best is not None:
            sets[root] = best
    left = [p for p in partial if p.split(" ")[0] not in sets]
    if left:
        warn(f"{info.name} {info.cycle}: incomplete plausible-value sets were left out: "
             f"{', '.join(left)}. Pass pvs= to use them.", LsaWarning)
    return sets


def _replicates(info: StudyInfo, data: pd.DataFrame, cols: _Columns, missing: list[str]):
    from .replicates import Replicates

    r = info.replication
    if info.method == "jk2" and r.get("zone"):
        zone, rep = cols.get(r["zone"]), cols.get(r["rep"])
        if zone is None or rep is None:
            missing.append(f"jackknife zone/replicate indicators {r['zone']}, {r['rep']}")
            return None
        return Replicates.jk2(zone=zone, rep=rep, both_halves=bool(r["both_halves"]),
                              factor=float(r["variance_factor"]))
    names = info.replicate_columns()
    if info.method == "country_specific":
        return _piaac_replicates(info, data, cols, names, missing)
    found = cols.all(names)
    if found is None:
        absent = [n for n in names if cols.get(n) is None]
        missing.append(f"replicate weights {_span(names)} (absent: {_span(absent)})")
        return None
    if info.method == "fay":
        return Replicates.fay(found, k=float(r["k"]), factor=float(r["variance_factor"]))
    if info.method == "jk1":
        return Replicates.jk1(found, factor=float(r["variance_factor"]))
    if info.method == "brr":
        return Replicates.custom(found, factor=float(r["variance_factor"]))
    return Replicates.jk2(found, factor=float(r["variance_factor"]))


def _piaac_replicates(info, data, cols, names, missing):
    """PIAAC: VEMETHOD per country, the first VENREPS replicates (unused ones equal SPFWT0)."""
    from .replicates import Replicates

    r = info.replication
    mcol, ncol = cols.get(r["method_variable"]), cols.get(r["n_replicates_variable"])
    if mcol is None or ncol is None:
        missing.append(f"variance-method variables {r['method_variable']}, {r['n_replicates_variable']} "
                       "(or pass replicates=Replicates.jk2([...]) yourself)")
        return None
    methods = sorted({str(m).strip().upper() for m in data[mcol].dropna().unique()})
    nreps = sorted({int(v) for v in pd.to_numeric(data[ncol], errors="coerce").dropna().unique()})
    if len(methods) != 1 or not nreps:
        raise DesignError(
            f"PIAAC data mix variance methods {methods} ({r['method_variable']}); the replicate factor "
            "differs between countries. Build one design per country (e.g. data[data.CNTRYID == ...]).")
    method, R = methods[0], max(nreps)
    if not 2 <= R <= len(names):
        raise DesignError(f"{r['n_replicates_variable']} = {R} is outside 2..{len(names)}.")
    use = names[:R]
    found = cols.all(use)
    if found is None:
        missing.append(f"replicate weights {_span(use)}")
        return None
    if method.startswith("JK2"):
        return Replicates.jk2(found, factor=1.0)
    if method.startswith("JK1"):
        if len(nreps) > 1:
            raise DesignError(f"JK1 countries with different {r['n_replicates_variable']} {nreps} need "
                              "separate designs (the factor (R-1)/R differs).")
        return Replicates.jk1(found, factor=(R - 1) / R)
    fcol = cols.get(r.get("fay_variable"))
    k = float(data[fcol].dropna().iloc[0]) if fcol is not None and data[fcol].notna().any() else 0.0
    if method in ("BRR", "FAY") or k > 0:
        return Replicates.fay(found, k=k)
    raise DesignError(f"unknown PIAAC variance method {method!r} in {r['method_variable']}; "
                      "pass replicates= explicitly.")


def _ids_unique_across_countries(info: StudyInfo, data: pd.DataFrame, cols: "_Columns", ids: dict):
    """School (and class) ids are numbered within country in most studies (IDSCHOOL, SCHOOLID):
    with several countries in the data, a combined ``<country>:<school>`` id is added (as a new
    column of a copy of the data) so that schools of different countries are different units."""
    country = next((c for c in (cols.get(info.ids.get(k)) for k in ("country", "country_alpha", "country_numeric"))
                    if c is not None), None)
    if country is None or not ids or data[country].nunique() < 2:
        return data, ids
    new = {}
    for lvl, col in ids.items():
        if (data.groupby(col, observed=True)[country].nunique() > 1).any():
            name = f"{col}_{country}"
            new[name] = data[country].astype(str) + ":" + data[col].astype(str)
            ids = {**ids, lvl: name}
    return (data.assign(**new) if new else data), ids


def design_from_study(study: str, cycle: Any, data: pd.DataFrame, grade: Any = None, **overrides):
    """Build a :class:`lsa.design.SurveyDesign` for study data from the dictionary.

    Column names are matched case-insensitively (``W_FSTUWT`` or ``w_fstuwt``) and the actual
    names of ``data`` are used in the design. Every PV domain of the cycle (and grade) whose PV
    columns are all present becomes a PV set named by its root (``MATH``, ``ASMMAT``, ``PVLIT``);
    IEA names are also tried without zero padding (``ASMMAT1``…``5``). Ids: the school and class
    id columns that are present. Weights: the final weight at the observation level plus the
    school weight when both it and the school id are present.

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
    from .design import SurveyDesign

    bad = sorted(set(overrides) - set(_DESIGN_ARGS))
    if bad:
        raise DesignError(f"design_from_study got unknown arguments {bad}; allowed overrides: {list(_DESIGN_ARGS)}.")
    check_frame(data)                                       # a DataFrame with unique column names
    info = study_info(study, cycle, grade)
    cols = _Columns(data.columns)
    missing: list[str] = []
    obs = info.observation_level

    if "weights" in overrides:
        weights = overrides.pop("weights")
    else:
        final = cols.get(info.weights["final"])
        if final is None and info.study == "talis" and cols.get(info.weights.get("school")):
            obs, final = "school", cols.get(info.weights["school"])  # principal/school file
        if final is None:
            missing.append(f"final {obs} weight {info.weights['final']}")
        weights = {obs: final}

    if "ids" in overrides:
        ids = overrides.pop("ids")
    else:
        ids = {}
        for lvl in ("school", "class"):
            c = cols.get(info.ids.get(lvl)) if lvl != obs else None
            if c is not None:
                ids[lvl] = c
        data, ids = _ids_unique_across_countries(info, data, cols, ids)
    if isinstance(weights, dict) and "school" not in weights and "school" in ids and obs != "school":
        sw = cols.get(info.weights.get("school"))
        if sw is not None:
            weights["school"] = sw

    if "replicates" in overrides:
        replicates = overrides.pop("replicates")
    else:
        rep_info = info
        if obs == "school" and info.study == "talis":
            sr = dict(info.replication)
            sr["replicate_weights"] = dict(info.raw["school_replication"]["replicate_weights"])
            rep_info = _with_replication(info, sr)
        replicates = _replicates(rep_info, data, cols, missing)

    pvs = overrides.pop("pvs") if "pvs" in overrides else _pv_sets(info, cols)
    pv_variance = overrides.pop("pv_variance", info.pv_variance or "all")
    if "benchmarks" in overrides:
        bench = overrides.pop("benchmarks")
    else:  # cut points of the PV sets present; IEA "default" applies to every score scale
        bench = {}
        for name in pvs or {}:
            b = info.benchmarks.get(str(name).upper())
            if b is None and not str(name).upper().endswith("IBM"):
                b = info.benchmarks.get("default")
            if b is not None:
                bench[name] = {"cuts": list(b["cuts"]), "labels": [str(x) for x in b.get("labels") or ()]}

    if missing:
        hint = ""
        if info.study == "pisa" and any("replicate" in m for m in missing):
            other = "W_FSTURWT1" if info.replicate_columns()[0].upper() == "W_FSTR1" else "W_FSTR1"
            if cols.get(other):
                hint = f"(The data have {other}: is the cycle right? W_FSTR = 2000-2012, W_FSTURWT = 2015+.)"
        raise _missing_error(info, missing, cols, hint)

    return SurveyDesign(data, ids=ids or None, weights=weights, pvs=pvs or None, replicates=replicates,
                        pv_variance=pv_variance, benchmarks=bench or None, study=info.study, cycle=info.cycle,
                        **overrides)


def _with_replication(info: StudyInfo, rep: dict) -> StudyInfo:
    from dataclasses import replace

    return replace(info, replication=_ro(rep))
