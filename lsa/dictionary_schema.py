"""Validation of a study dictionary (``lsa/data_dictionaries/<study>.yaml``) after loading.

The checks are structural: every cycle entry (the defaults deep-merged with the cycle) names an
observation level, ids, a final weight, a replication block that fits its method (Fay BRR needs
``k`` in [0, 1); JK2 from zones needs ``rep`` and ``both_halves``; shipped replicate weights need
``prefix``/``first``/``last``; every method but ``country_specific`` needs a positive variance
factor c of V = c Σ_r (θ_r − θ)²), PV patterns with ``{root}`` and ``{m}``, and ascending
benchmark cut points. A failed check raises :class:`DictionaryError` naming the file, the cycle
and the field.
"""

from __future__ import annotations

from typing import Any

from .errors import LsaError

__all__ = ["DictionaryError", "METHODS", "PV_VARIANCE", "check_document", "validate_cycle"]

#: replication methods a dictionary may name
METHODS = frozenset({"fay", "jk2", "jk1", "brr", "country_specific"})
#: ``pv.variance`` values: average the per-PV sampling variances, or take PV1's
PV_VARIANCE = frozenset({"all", "first"})


class DictionaryError(LsaError, ValueError):
    """A shipped or user-edited study dictionary (YAML) is malformed."""


def need(cond: bool, where: str, msg: str) -> None:
    """Raise :class:`DictionaryError` ``"<where>: <msg>"`` unless ``cond``."""
    if not cond:
        raise DictionaryError(f"{where}: {msg}")


def check_document(doc: Any, study: str) -> None:
    """The top level of ``<study>.yaml``: a mapping with ``study``, ``name`` and non-empty ``cycles``."""
    where = f"{study}.yaml"
    need(isinstance(doc, dict), where, f"the top level must be a mapping, got {type(doc).__name__}.")
    for key in ("study", "name", "cycles"):
        need(key in doc, where, f"required top-level key {key!r} is missing.")
    need(doc["study"] == study, where, f"'study' is {doc['study']!r}, expected {study!r}.")
    need(isinstance(doc["cycles"], dict) and bool(doc["cycles"]), where,
         "'cycles' must be a non-empty mapping of cycle -> entry.")
    need(isinstance(doc.get("defaults") or {}, dict), where, "'defaults' must be a mapping.")


def validate_cycle(e: dict, where: str) -> None:
    """One merged cycle entry (see the module docstring); ``where`` names file and cycle."""
    need(isinstance(e.get("observation_level"), str), where, "'observation_level' (e.g. student) is required.")
    need(isinstance(e.get("ids"), dict), where, "'ids' must be a mapping level -> column.")
    w = e.get("weights")
    need(isinstance(w, dict) and isinstance(w.get("final"), str), where, "'weights.final' (a column name) is required.")
    _check_replication(e.get("replication"), where)
    pv = e.get("pv")
    if pv is not None:
        _check_pv(pv, where)
    for dom, b in (e.get("benchmarks") or {}).items():
        need(isinstance(b, dict) and isinstance(b.get("cuts"), list), where, f"benchmarks.{dom} needs a 'cuts' list.")
        cuts = b["cuts"]
        need(all(isinstance(c, (int, float)) for c in cuts) and cuts == sorted(cuts), where,
             f"benchmarks.{dom}.cuts must be ascending numbers; got {cuts}.")
        if b.get("labels") is not None:
            need(len(b["labels"]) == len(cuts), where, f"benchmarks.{dom}: {len(b['labels'])} labels for {len(cuts)} cuts.")
    grades = e.get("grades")
    need(grades is None or (isinstance(grades, list) and all(isinstance(g, int) for g in grades)), where,
         "'grades' must be a list of integers.")
    alt = e.get("school_replication")
    need(alt is None or (isinstance(alt, dict) and isinstance(alt.get("weight"), str)
                         and isinstance(alt.get("replicate_weights"), dict)), where,
         "'school_replication' needs 'weight' and 'replicate_weights'.")


def _check_replication(r: Any, where: str) -> None:
    need(isinstance(r, dict), where, "'replication' must be a mapping.")
    m = r.get("method")
    need(m in METHODS, where, f"'replication.method' must be one of {sorted(METHODS)}; got {m!r}.")
    if m in ("fay", "brr", "jk1") or (m == "jk2" and "zone" not in r):
        rw = r.get("replicate_weights")
        need(isinstance(rw, dict) and {"prefix", "first", "last"} <= set(rw), where,
             "'replication.replicate_weights' needs prefix, first and last.")
    if m == "fay":
        need(isinstance(r.get("k"), (int, float)) and 0 <= r["k"] < 1, where, "'replication.k' must be in [0, 1).")
    if m == "jk2" and "zone" in r:
        need(isinstance(r.get("rep"), str), where, "'replication.rep' is required with 'zone'.")
        need(isinstance(r.get("both_halves"), bool), where, "'replication.both_halves' must be true or false.")
    if m == "country_specific":
        need(isinstance(r.get("method_variable"), str) and isinstance(r.get("n_replicates_variable"), str), where,
             "country-specific replication needs 'method_variable' and 'n_replicates_variable'.")
    else:
        need(isinstance(r.get("variance_factor"), (int, float)) and r["variance_factor"] > 0, where,
             "'replication.variance_factor' must be a positive number.")


def _check_pv(pv: Any, where: str) -> None:
    need(isinstance(pv, dict), where, "'pv' must be a mapping or null.")
    need(isinstance(pv.get("n"), int) and pv["n"] >= 2, where, "'pv.n' must be an integer >= 2.")
    for p in [pv.get("pattern")] + list(pv.get("variants") or []):
        need(isinstance(p, str) and "{m" in p and "{root}" in p, where,
             f"PV patterns need '{{root}}' and '{{m}}'; got {p!r}.")
    need(pv.get("variance") in PV_VARIANCE, where,
         f"'pv.variance' must be one of {sorted(PV_VARIANCE)}; got {pv.get('variance')!r}.")
    roots = pv.get("roots")
    need(roots is None or isinstance(roots, (list, dict)), where, "'pv.roots' must be a list or a mapping grade -> list.")
    suffix = pv.get("category_suffix")
    need(suffix is None or isinstance(suffix, str), where, "'pv.category_suffix' must be a string.")
