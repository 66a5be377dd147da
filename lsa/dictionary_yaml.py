"""Loading a study dictionary: read ``lsa/data_dictionaries/<study>.yaml``, merge each cycle over
the defaults, unwrap the ``{value: ..., unverified: true}`` marks, validate.

A cycle's entry is deep-merged over the study's ``defaults`` (mappings recursively, anything else
replaces). A fact that could not be verified is written ``{value: ..., unverified: true}`` (or a
block carries ``unverified: true``); :func:`unwrap` keeps the value and records the dotted path
of the field, which :class:`lsa.dictionaries.StudyInfo` reports as ``unverified``.
"""

from __future__ import annotations

import copy
import re
from importlib import resources
from typing import Any

import yaml

from .dictionary_schema import DictionaryError, check_document, validate_cycle
from .errors import StudyError

__all__ = ["STUDIES", "normalize_study", "read_yaml", "deep_merge", "unwrap", "parse_document"]

#: study keys, in display order (one YAML file each)
STUDIES = ("pisa", "timss", "pirls", "piaac", "talis", "icils", "iccs", "timss_advanced", "epirls")
ALIASES = {"timssadvanced": "timss_advanced", "timss_adv": "timss_advanced", "timssadv": "timss_advanced"}


def normalize_study(study: str) -> str:
    """The study key of a name such as ``"PISA"`` or ``"TIMSS Advanced"``; :class:`StudyError` if unknown."""
    if not isinstance(study, str):
        raise StudyError(f"study must be a string such as 'pisa'; got {study!r}. Known studies: "
                         f"{', '.join(STUDIES)}.")
    key = re.sub(r"[\s\-]+", "_", study.strip().lower())
    key = ALIASES.get(key.replace("_", ""), ALIASES.get(key, key))
    if key not in STUDIES:
        raise StudyError(f"unknown study {study!r}. Known studies: {', '.join(STUDIES)}.")
    return key


def read_yaml(study: str) -> dict:
    """The raw YAML document of one study (no merging, no validation)."""
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


def deep_merge(base: Any, over: Any) -> Any:
    """Merge ``over`` into a copy of ``base`` (mappings recursively; anything else replaces)."""
    if isinstance(base, dict) and isinstance(over, dict):
        if "value" in over and "value" not in base:  # an unverified wrapper replaces a whole block
            return copy.deepcopy(over)
        out = copy.deepcopy(base)
        for k, v in over.items():
            out[k] = deep_merge(out[k], v) if k in out else copy.deepcopy(v)
        return out
    return copy.deepcopy(over)


def unwrap(obj: Any, path: str, flags: list[str]) -> Any:
    """Replace ``{value: x, unverified: true}`` by x and record the dotted paths of unverified facts."""
    if isinstance(obj, dict):
        if "value" in obj and set(obj) <= {"value", "unverified", "note", "evidence"}:
            if obj.get("unverified"):
                flags.append(path)
            return unwrap(obj["value"], path, flags)
        out = {}
        for k, v in obj.items():
            if k == "unverified":
                if v:
                    flags.append(path or "<cycle>")
                continue
            out[str(k)] = unwrap(v, f"{path}.{k}" if path else str(k), flags)
        return out
    if isinstance(obj, list):
        return [unwrap(v, f"{path}[{i}]", flags) for i, v in enumerate(obj)]
    return obj


def parse_document(study: str, doc: Any) -> dict:
    """The validated dictionary of one study from its YAML document:
    ``{"meta": top-level facts, "cycles": {cycle: (merged entry, unverified paths)}, "aliases": {alias: cycle}}``."""
    check_document(doc, study)
    where = f"{study}.yaml"
    defaults = doc.get("defaults") or {}
    cycles, aliases = {}, {}
    for cyc, entry in doc["cycles"].items():
        if entry is None:
            entry = {}
        if not isinstance(entry, dict):
            raise DictionaryError(f"{where}: cycle {cyc!r} must be a mapping.")
        flags: list[str] = []
        merged = unwrap(deep_merge(defaults, entry), "", flags)
        validate_cycle(merged, f"{where}, cycle {cyc}")
        cycles[str(cyc)] = (merged, tuple(dict.fromkeys(flags)))
        for a in merged.get("aliases", []) or []:
            aliases[str(a).lower()] = str(cyc)
    meta = {k: v for k, v in doc.items() if k not in ("cycles", "defaults")}
    return {"meta": meta, "cycles": cycles, "aliases": aliases}
