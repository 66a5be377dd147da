"""Read the data files of the studies: single SPSS, SAS and Stata files (the readers live in
:mod:`lsa.io_readers` and are re-exported here), whole study folders merged student with school
(:func:`read_study`), and :func:`describe` of a file.

The metadata every reader leaves in ``df.attrs`` (labels, value labels, user-missing declarations
and codes, source) and the errors for unreadable files (:class:`lsa.errors.ReadError` naming the
file: missing, a folder, empty, not SPSS/Stata/SAS, truncated) are described in
:mod:`lsa.io_readers`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .errors import LsaError, LsaWarning, ReadError, StudyError, warn
from .io_files import (attach_files, check_files, check_one_cycle, combine_attrs, concat_frames, extra_roles,
                       link_design, shift_codes, subject_files, take_rows)
from .io_fixed import find_syntax, fixed_width_file, read_fixed, syntax_columns
from .io_memory import check_memory, header_row_bytes
from .io_parquet import is_parquet, parquet_header, read_parquet, to_parquet
from .io_readers import (ColumnNotFoundError, check_complete, check_data_file, check_n_jobs, nearest_names, read_any,
                         read_metadata, read_sas, read_spss, read_stata, resolve_columns, restore_missing)
from .io_search import code_text, missing_text
from .io_search import codebook as codebook, search as search, variables as variables  # re-exported

__all__ = ["read_spss", "read_sas", "read_stata", "read_study", "describe", "restore_missing",
           "match_filename", "FileDescription", "ColumnNotFoundError", "link_design", "read_fixed",
           "to_parquet", "read_parquet"]


# --------------------------------------------------------------------------------------------
# file names of the studies
# --------------------------------------------------------------------------------------------
def _pattern_regex(pattern: str, suffix: str | None, letter: str | None, loose: bool = False) -> re.Pattern:
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


def _file_roles(info) -> dict[str, str]:
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
        for role, pat in _file_roles(info).items():
            if ("{suffix}" in pat and not suffix) or (g is not None and int(g) not in role_grades.get(role, [g])):
                continue
            if "{grade_letter}" in pat and not letter:
                continue
            pat = re.sub(r"\.(txt|sav)$", "", pat, flags=re.I) + r"{ext}"
            rx = _pattern_regex(pat.replace("{ext}", ""), suffix, letter)
            m = re.fullmatch(rx.pattern + r"\.(sav|zsav|txt|sas7bdat|dta)", base, re.IGNORECASE)
            if m:
                unv = info.is_unverified(f"files.{role}") or ("{suffix}" in info.files.get(role, "")
                                                             and info.is_unverified("files.suffix"))
                hits.append(dict(study=info.study, cycle=info.cycle, grade=g, role=role,
                                 country=(m.groupdict().get("cnt") or "").upper() or None,
                                 unverified=bool(unv or "<cycle>" in info.unverified)))
    return hits


def _find_files(folder: Path, pattern: str, suffix, letter, label: str, suffix_unverified: bool) -> dict[str, Path]:
    """Country (lower-case ISO) -> path of the files matching a name pattern (case-insensitive).

    When no file carries an *unverified* cycle suffix, any letter+digit suffix is accepted, with a warning.
    """
    files = sorted(p for p in folder.rglob("*") if p.is_file())

    def scan(loose: bool) -> dict[str, Path]:
        rx = _pattern_regex(pattern, suffix, letter, loose)
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


# --------------------------------------------------------------------------------------------
# whole study folders
# --------------------------------------------------------------------------------------------
def _header(path: Path):
    """pyreadstat-style header of a data file (or of a Parquet copy); None for fixed-width text."""
    if path.suffix.lower() == ".txt":
        return None
    return parquet_header(path) if is_parquet(path) else read_metadata(path)


def _meta_columns(path: Path) -> list[str]:
    if path.suffix.lower() == ".txt":  # PISA 2000-2012 fixed-width text: the names its syntax declares
        return syntax_columns(find_syntax(path))
    return list(_header(path).column_names)


def _read_any(path: Path, columns, labels, user_missing, n_jobs=1) -> pd.DataFrame:
    if path.suffix.lower() == ".txt":
        return read_fixed(path, None, columns, labels, user_missing)
    if is_parquet(path):
        return read_parquet(path, columns, labels, user_missing)
    return read_any(path, columns, labels, user_missing, n_jobs)


def _check_study_memory(info, stu_files: Mapping[str, Path], columns, merge_keys) -> None:
    """The student files' rows x selected columns against the memory available (peak 2x: parts + stack)."""
    rows = total = 0
    for spath in stu_files.values():
        meta = _header(spath)
        if meta is None or (getattr(meta, "number_rows", None) or -1) < 0:
            continue
        names = list(meta.column_names)
        cols = names if columns is None else _select([columns] if isinstance(columns, str) else list(columns),
                                                     _design_names(info, ()) + list(merge_keys), info, names)[0]
        rows += meta.number_rows
        total += meta.number_rows * header_row_bytes(cols, meta)
    if rows:
        check_memory(rows, total // rows, f"read_study: the student files of {len(stu_files)} "
                     f"{'country' if len(stu_files) == 1 else 'countries'}")


def _design_names(info, grade_roots: Iterable[str]) -> list[str]:
    r = info.replication
    names = [info.weights.get("final"), info.ids.get("country"), info.ids.get("school"), info.ids.get("class"),
             info.ids.get(info.observation_level), r.get("zone"), r.get("rep"), r.get("method_variable"),
             r.get("n_replicates_variable"), r.get("fay_variable"), r.get("variance_stratum"), r.get("variance_unit")]
    names += info.replicate_columns()
    return [n for n in names if n]


def _pv_columns(info, root: str, available_upper: Mapping[str, str]) -> list[str] | None:
    for pat in [info.pv_pattern, *info.pv_variants]:
        if not pat:
            continue
        names = info.pv_names(root, pat)
        if all(n.upper() in available_upper for n in names):
            return [available_upper[n.upper()] for n in names]
    return None


def _select(requested, design, info, available: list[str]) -> tuple[list[str], list[str]]:
    """(columns to read from this file, requested names not found in it)."""
    upper = {c.upper(): c for c in available}
    out = [upper[n.upper()] for n in design if n.upper() in upper]
    notfound = []
    for r in requested:
        if r.upper() in upper:
            out.append(upper[r.upper()])
            continue
        pv = _pv_columns(info, r.upper(), upper) if info.pv_n else None
        if pv:
            out += pv
        else:
            notfound.append(r)
    return list(dict.fromkeys(out)), notfound


def read_study(folder, study: str, cycle, countries: Sequence[str] | None = None, grade=None,
               columns: Sequence[str] | None = None, school_columns: Sequence[str] | None = None,
               labels: str = "categorical", user_missing: bool = True, files: Sequence[str] | None = None,
               allow_unmatched: bool = False, n_jobs: int = 1, subject: str | None = None) -> pd.DataFrame:
    """Read the official files of one study cycle from a folder and merge students with schools
    (and with home, achievement, student-teacher link and teacher files: ``files=``).

    Files are found by the dictionary's naming (case-insensitive, also in sub-folders): TIMSS
    ``bsg<cnt>m7.sav`` + ``bcg<cnt>m7.sav`` (grade 8, 2019), PIRLS and ePIRLS ``asg``/``acg``, ICILS ``bsg``/
    ``bcg``, ICCS ``isg``/``icg``, TALIS ``btg``/``bcg``, PIAAC ``prg<cnt>p1.sav``; PISA 2015+
    ``CY6_MS_CMB_STU_QQQ.sav`` + ``..._SCH_QQQ.sav`` (one file for all countries).

    Parameters
    ----------
    folder : the folder of the downloaded files.
    study, cycle, grade, subject : as in :func:`lsa.study_info` (grade 4 or 8 for TIMSS; TIMSS Advanced
        ``subject="math"`` (``msg`` files ...) or ``"physics"`` (``psg`` ...)); inferred when the folder holds one.
    countries : ISO alpha-3 codes (default: every country found).
    columns : student-file columns to read (default: all). The design columns the dictionary
        names (ids, weights, replicate/jackknife variables) are always added; a PV root such as
        ``"BSMMAT"`` or ``"MATH"`` stands for its PV columns. Names not in the student file are
        looked up in the school file.
    school_columns : school-file columns to add (default: all when ``columns`` is None, else only
        the merge keys and the school weight). School columns that duplicate student columns are
        dropped unless listed here (then suffixed ``_school``).
    files : the file roles to read (default ``["student", "school"]``): also ``"home"`` (TIMSS grade
        4, PIRLS ``ash``), ``"achievement"``, ``"teacher"`` (grade 4 ``atg``), ``"teacher_math"``,
        ``"teacher_science"`` (grade 8 ``btm``/``bts``). With a teacher file the rows are the
        rows of the student-teacher link file (``ast``/``bst``): one per student and teacher, each
        with the link weights (``MATWGT``...); build the design with :func:`link_design`
        (percentages of teacher variables are then percentages of students; see
        :mod:`lsa.io_files`). ``columns`` names found only in these files are read from them.
    allow_unmatched : read links whose student or teacher has no record (dropped / teacher
        columns missing, with a warning) instead of refusing them.
    n_jobs : processes reading each SPSS/Stata/SAS file in parallel (:func:`read_spss`).


    Notes
    -----
    Large files: name the ``columns`` needed (only these and the design columns are read); convert
    the files once with :func:`to_parquet` (``lsa convert``): ``.parquet`` copies named as the
    study's files are read like them (preferred to a ``.sav`` beside them); memory is checked first.

    Every student must find its school; otherwise :class:`~lsa.errors.StudyError` names the
    unmatched ids. ``df.attrs`` carries the metadata of both files (see :func:`read_spss`) plus
    ``study``, ``cycle`` and ``grade``.
    """
    from .dictionaries import study_info

    folder = Path(folder)
    if not folder.is_dir():
        raise ReadError(f"{folder}: no such folder" if not folder.exists() else
                        f"{folder} is a file, not a folder; read_study reads the folder of a study's files "
                        "(read one file with read_spss, read_stata or read_sas).")
    if not isinstance(allow_unmatched, (bool, np.bool_)):
        raise LsaError(f"allow_unmatched must be True or False; got {allow_unmatched!r}.")
    info = study_info(study, cycle, grade)
    info = subject_files(info, folder, subject)          # TIMSS Advanced: the roles of one subject's files
    roles = _file_roles(info)
    stu_role = info.observation_level                    # the file role of the rows: student, teacher, respondent
    pat_stu, pat_sch = roles.get(stu_role), roles.get("school")
    suffix = info.files.get("suffix")
    suffix_unv = info.is_unverified("files.suffix")
    letters = info.files.get("grade_letter") or {}
    label = f"{info.name} {info.cycle}"

    g = info.grade
    if g is None and letters and len(letters) > 1:
        present = {gr for gr, le in letters.items()
                   if _find_files(folder, pat_stu, suffix, le, label, suffix_unv)}
        if len(present) != 1:
            raise StudyError(f"{label}: give grade= ({', '.join(sorted(letters))}); the folder holds "
                             f"{'both grades' if present else 'no student files of either grade'}.")
        g = int(present.pop())
        info = study_info(study, cycle, g)
    letter = letters.get(str(g)) if g is not None else None

    if "{cnt}" in pat_stu:
        stu_files = _find_files(folder, pat_stu, suffix, letter, label, suffix_unv)
    else:  # PISA: one file for all countries; fixed-width text cycles need a converted .sav
        stu_files = _find_literal(folder, pat_stu)
    if not stu_files:
        near = sorted(p.name for p in folder.rglob("*") if p.is_file())[:20]
        raise StudyError(f"{label}: no student file matching {pat_stu!r} in {folder} "
                         f"(suffix {suffix!r}{', unverified' if suffix_unv else ''}). Files there: {near}.")
    want = [c.lower() for c in countries] if countries else None
    if want and "{cnt}" in pat_stu:
        absent = [c for c in want if c not in stu_files]
        if absent:
            raise StudyError(f"{label}: no files for countries {[a.upper() for a in absent]}; "
                             f"found: {sorted(k.upper() for k in stu_files)}.")
        stu_files = {c: stu_files[c] for c in want}
    roles_asked = check_files(files, info, g) if files is not None else ["student", "school"]
    check_one_cycle(folder, info, [roles[r] for r in roles_asked + ["teacher_link"] if r in roles], letter)
    extra = {r: _find_files(folder, roles[r], suffix, letter, label, suffix_unv) for r in extra_roles(roles_asked)}
    for r, found in extra.items():
        absent = [c.upper() for c in stu_files if c not in found]
        if absent:
            raise StudyError(f"{label}: no {r.replace('_', ' ')} file ({roles[r]!r}) for countries {absent} in "
                             f"{folder}; found it for {sorted(k.upper() for k in found)}.")
    columns, extra_cols = _split_columns(columns, extra, stu_files)
    sch_files = {}
    if pat_sch and "school" in roles_asked:
        sch_files = (_find_files(folder, pat_sch, suffix, letter, label, suffix_unv) if "{cnt}" in pat_sch
                     else _find_literal(folder, pat_sch))

    merge_keys = info.merge_keys.get("student_school") or info.merge_keys.get("teacher_school") or ()
    school_id = info.ids.get("school")
    check_n_jobs(n_jobs)
    _check_study_memory(info, stu_files, columns, merge_keys)
    parts, sources, offset = [], [], 0
    for cnt, spath in stu_files.items():
        part = _read_pair(info, spath, sch_files.get(cnt) if cnt else next(iter(sch_files.values()), None),
                          columns, school_columns, merge_keys, school_id, labels, user_missing, want, cnt, n_jobs)
        if extra:
            part = attach_files(part, {r: extra[r][cnt] for r in extra}, info, columns=extra_cols, labels=labels,
                                user_missing=user_missing, allow_unmatched=allow_unmatched)
        part.index = pd.RangeIndex(offset, offset + len(part))
        shift_codes(part, offset)
        offset += len(part)
        parts.append(part)
        sources.append(part.attrs.get("source"))
    out = parts[0] if len(parts) == 1 else concat_frames(parts)
    out.attrs["source"] = "; ".join(s for s in sources if s)
    out.attrs.update(study=info.study, cycle=info.cycle, grade=g)
    return out


def _split_columns(columns, extra: Mapping[str, Mapping[str, Path]], stu_files) -> tuple[Any, dict]:
    """(columns for the student/school files, role -> columns of the other files). A name goes
    to another file when that file has it and the student file does not."""
    if columns is None or not extra:
        return columns, {r: None for r in extra}
    asked = [columns] if isinstance(columns, str) else list(columns)
    first = next(iter(stu_files.values()))
    in_student = {c.upper() for c in _meta_columns(first)}
    out: dict[str, list] = {}
    rest = list(asked)
    for r, found in extra.items():
        up = {c.upper(): c for c in _meta_columns(next(iter(found.values())))}
        out[r] = [up[n.upper()] for n in asked if n.upper() in up and n.upper() not in in_student]
        rest = [n for n in rest if n.upper() not in {x.upper() for x in out[r]}]
    return rest, out


def _find_literal(folder: Path, name: str) -> dict[str, Path]:
    stem = re.sub(r"\.(txt|sav)$", "", name, flags=re.I)
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.stem.lower() == stem.lower() and p.suffix.lower() in (".parquet", ".sav", ".zsav", ".dta",
                                                                                   ".sas7bdat"):
            return {"": p}
    return fixed_width_file(folder, name)  # PISA 2000-2012: the text file, when its read-in syntax is there


def _read_pair(info, spath, cpath, columns, school_columns, merge_keys, school_id, labels, user_missing,
               want, cnt, n_jobs=1) -> pd.DataFrame:
    s_avail = _meta_columns(spath)
    c_avail = _meta_columns(cpath) if cpath is not None else []
    design = _design_names(info, ())
    if columns is None:
        s_cols, in_school = None, []
    else:
        requested = [columns] if isinstance(columns, str) else list(columns)
        s_cols, notfound = _select(requested, design + list(merge_keys), info, s_avail)
        c_up = {c.upper(): c for c in c_avail}
        in_school = [c_up[n.upper()] for n in notfound if n.upper() in c_up]
        lost = [n for n in notfound if n.upper() not in c_up]
        if lost:
            raise ColumnNotFoundError(
                f"{spath.name}{' / ' + cpath.name if cpath else ''}: columns not found: {lost}."
                f"{nearest_names(lost, s_avail + c_avail)} "
                f"Student file columns: {', '.join(s_avail[:30])}{', ...' if len(s_avail) > 30 else ''}.")
    stu = _read_any(spath, s_cols, labels, user_missing, n_jobs)
    if want and "{cnt}" not in (_file_roles(info).get("student") or "{cnt}"):
        ccol = next((c for c in stu.columns if c.upper() == str(info.ids.get("country", "")).upper()), None)
        if ccol is None:
            raise StudyError(f"{spath.name}: no country column {info.ids.get('country')!r} to select countries.")
        keep = stu[ccol].astype(str).str.strip().str.upper().isin([w.upper() for w in want])
        found = set(stu[ccol].astype(str).str.strip().str.upper())
        absent = [w.upper() for w in want if w.upper() not in found]
        if absent:
            raise StudyError(f"{spath.name}: countries {absent} not in the file; found {sorted(found)[:40]}.")
        stu = take_rows(stu, keep.to_numpy())
    if cpath is None:
        return stu
    s_up = {c.upper(): c for c in stu.columns}
    c_up = {c.upper(): c for c in c_avail}
    keys = [k for k in merge_keys if k.upper() in s_up and k.upper() in c_up]
    if not school_id or school_id.upper() not in [k.upper() for k in keys]:
        raise StudyError(f"cannot merge {spath.name} with {cpath.name}: the school id {school_id!r} must be "
                         f"in both files (merge keys {list(merge_keys)}).")
    sw = info.weights.get("school")
    explicit = [] if school_columns is None else resolve_columns(school_columns, c_avail, cpath)
    if school_columns is None and columns is None:
        c_cols = None
    else:
        extra = [c_up[sw.upper()]] if sw and sw.upper() in c_up else []
        c_cols = list(dict.fromkeys([c_up[k.upper()] for k in keys] + extra + in_school + explicit))
    sch = _read_any(cpath, c_cols, labels, user_missing, n_jobs)
    sch_keys = [next(c for c in sch.columns if c.upper() == k.upper()) for k in keys]
    stu_keys = [s_up[k.upper()] for k in keys]
    explicit_up = {e.upper() for e in explicit} | {e.upper() for e in in_school}
    rename, drop = {}, []
    for c in sch.columns:
        if c in sch_keys:
            rename[c] = stu_keys[sch_keys.index(c)]
        elif c.upper() in s_up:
            if c.upper() in explicit_up:
                rename[c] = f"{c}_school"
            else:
                drop.append(c)
    sch_meta = sch.attrs
    sch = sch.drop(columns=drop).rename(columns=rename)
    dup = sch.duplicated(stu_keys, keep=False)
    if dup.any():
        raise StudyError(f"{cpath.name}: school ids are not unique on {stu_keys}: "
                         f"{sch.loc[dup, stu_keys].drop_duplicates().head(10).to_dict('records')}.")
    sch["__school_row__"] = np.arange(len(sch))
    merged = stu.merge(sch, on=stu_keys, how="left", indicator=True, sort=False)
    unmatched = merged["_merge"].to_numpy() == "left_only"
    if unmatched.any():
        ids = merged.loc[unmatched, stu_keys].drop_duplicates()
        raise StudyError(f"{spath.name}: {int(unmatched.sum())} students in {len(ids)} schools have no record "
                         f"in {cpath.name} (merge on {stu_keys}); unmatched ids: "
                         f"{ids.head(10).to_dict('records')}{' ...' if len(ids) > 10 else ''}.")
    pos = merged.pop("__school_row__").to_numpy(dtype=np.int64)
    merged = merged.drop(columns="_merge")
    merged.index = stu.index
    combine_attrs(merged, stu.attrs, sch_meta, {v: k for k, v in rename.items()}, pos)
    return merged


# --------------------------------------------------------------------------------------------
# describe
# --------------------------------------------------------------------------------------------
@dataclass
class FileDescription:
    """What :func:`describe` found: the variables and which study file the name matches."""

    path: str
    file_type: str
    n_rows: int | None
    n_columns: int
    variables: pd.DataFrame
    matches: list[dict] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"{Path(self.path).name}: {self.file_type}, {self.n_rows if self.n_rows is not None else '?'} rows "
                 f"x {self.n_columns} variables"]
        if self.matches:
            for m in self.matches:
                gr = f" grade {m['grade']}" if m.get("grade") else ""
                cn = f", country {m['country']}" if m.get("country") else ""
                unv = " (file naming unverified)" if m.get("unverified") else ""
                lines.append(f"  matches {m['study'].upper()} {m['cycle']}{gr}, {m['role']} file{cn}{unv}")
        else:
            lines.append("  the file name matches no known study file")
        with pd.option_context("display.max_rows", 200, "display.width", 160, "display.max_colwidth", 50):
            lines.append(self.variables.to_string(index=False))
        return "\n".join(lines)


def describe(path) -> FileDescription:
    """Variables, labels, value labels and missing codes of a file, and the study file it matches.

    Reads the header, plus the last row of the first variable to check that the file holds the
    rows its header declares (a truncated file raises :class:`~lsa.errors.ReadError`; so do a
    missing, empty or non-SPSS/Stata/SAS file and an unsupported extension). ``variables`` has one
    row per variable: name, label, type, measure, n_value_labels, value_labels (first few,
    ``code=label``), missing.
    """

    path, kind = check_data_file(path)
    meta = read_metadata(path, kind, user_missing=True)
    n_rows = check_complete(path, kind, meta)
    rows = []
    vls = meta.variable_value_labels or {}
    mr = getattr(meta, "missing_ranges", None) or {}
    mu = getattr(meta, "missing_user_values", None) or {}
    for name, label in zip(meta.column_names, meta.column_labels or [None] * len(meta.column_names)):
        vl = vls.get(name) or {}
        miss = mr.get(name) or mu.get(name) or []
        miss_txt = missing_text(miss)
        shown = "; ".join(f"{code_text(k)}={v}" for k, v in vl.items())
        shown = shown if len(shown) <= 60 else shown[:57] + ".."
        rows.append(dict(name=name, label=label or "", type=(meta.readstat_variable_types or {}).get(name, ""),
                         measure=(getattr(meta, "variable_measure", None) or {}).get(name, ""),
                         n_value_labels=len(vl), value_labels=shown, missing=miss_txt))
    ftype = {"spss": "SPSS", "stata": "Stata", "sas": "SAS"}[kind]
    return FileDescription(str(path), ftype, n_rows, len(meta.column_names), pd.DataFrame(rows),
                           match_filename(path.name))
