"""The file names of the studies: which study, cycle, grade, country and file role a name
matches (:func:`match_filename`), and the files of one role found in a folder (:func:`find_files`),
from the naming patterns of the study dictionaries (``files:`` in ``lsa/data_dictionaries``).
"""

from __future__ import annotations

import re
from pathlib import Path

from .errors import LsaWarning, warn
from .io_fixed import fixed_width_file

__all__ = ["pattern_regex", "file_roles", "match_filename", "find_files", "find_literal"]


def pattern_regex(pattern: str, suffix: str | None, letter: str | None, loose: bool = False) -> re.Pattern:
    out, pos = "", 0
    for m in re.finditer(r"\{(\w+)\}", pattern):
        out += re.escape(pattern[pos:m.start()])
        key = m.group(1)
        if key == "cnt":
            out += r"(?P<cnt>[a-z0-9]{3})"
        elif key == "suffix":
            out += r"[a-z]\d" if (loose or not suffix) else re.escape(str(suffix))
        elif key == "grade_letter":
            out += re.escape(letter) if letter else r"(?P<letter>[ab])"
        else:
            out += r"\w+"
        pos = m.end()
    out += re.escape(pattern[pos:])
    if out.endswith(r"\.sav"):  # a Parquet copy (lsa.io.to_parquet) of a study file is found as well
        out = out[:-len(r"\.sav")] + r"\.(?:sav|parquet)"
    return re.compile(out, re.IGNORECASE)


def file_roles(info) -> dict[str, str]:
    """Role -> file-name pattern (a literal name for PISA)."""
    skip = {"merge", "types", "grade_letter", "suffix", "format", "evidence", "examples", "extra_types"}
    return {k: v for k, v in info.files.items() if k not in skip and isinstance(v, str)}


def match_filename(name: str) -> list[dict]:
    """Which study/cycle/grade/country/file role a file name matches (e.g. ``bsgusam7.sav``).

    Each match is a dict with study, cycle, grade, role, country and ``unverified`` (the file
    naming or cycle suffix used for the match is not verified).
    """
    from .dictionaries import all_study_infos

    base = Path(name).name
    hits = []
    for info in all_study_infos():
        g = info.grade
        letters = info.files.get("grade_letter") or {}
        letter = letters.get(str(g)) if g is not None else None
        suffix = info.files.get("suffix")
        role_grades = info.files.get("role_grades") or {}
        for role, pat in file_roles(info).items():
            if ("{suffix}" in pat and not suffix) or (g is not None and int(g) not in role_grades.get(role, [g])):
                continue
            if "{grade_letter}" in pat and not letter:
                continue
            pat = re.sub(r"\.(txt|sav)$", "", pat, flags=re.I) + r"{ext}"
            rx = pattern_regex(pat.replace("{ext}", ""), suffix, letter)
            m = re.fullmatch(rx.pattern + r"\.(sav|zsav|txt|sas7bdat|dta)", base, re.IGNORECASE)
            if m:
                unv = info.is_unverified(f"files.{role}") or ("{suffix}" in info.files.get(role, "")
                                                             and info.is_unverified("files.suffix"))
                hits.append(dict(study=info.study, cycle=info.cycle, grade=g, role=role,
                                 country=(m.groupdict().get("cnt") or "").upper() or None,
                                 unverified=bool(unv or "<cycle>" in info.unverified)))
    return hits


def find_files(folder: Path, pattern: str, suffix, letter, label: str, suffix_unverified: bool) -> dict[str, Path]:
    """Country (lower-case ISO) -> path of the files matching a name pattern (case-insensitive).

    When no file carries an *unverified* cycle suffix, any letter+digit suffix is accepted, with a warning.
    """
    files = sorted(p for p in folder.rglob("*") if p.is_file())

    def scan(loose: bool) -> dict[str, Path]:
        rx = pattern_regex(pattern, suffix, letter, loose)
        found: dict[str, Path] = {}
        for p in files:
            m = rx.fullmatch(p.name)
            if m:
                found.setdefault((m.groupdict().get("cnt") or "").lower(), p)
        return found

    found = scan(False)
    if not found and suffix_unverified and "{suffix}" in pattern:
        found = scan(True)
        if found:
            warn(f"{label}: no file has the (unverified) cycle suffix {suffix!r}; using "
                 f"{sorted(p.name for p in found.values())[:5]} matched by the name pattern only.",
                 LsaWarning)
    return found


def find_literal(folder: Path, name: str) -> dict[str, Path]:
    stem = re.sub(r"\.(txt|sav)$", "", name, flags=re.I)
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.stem.lower() == stem.lower() and p.suffix.lower() in (".parquet", ".sav", ".zsav", ".dta",
                                                                                   ".sas7bdat"):
            return {"": p}
    return fixed_width_file(folder, name)  # PISA 2000-2012: the text file, when its read-in syntax is there
