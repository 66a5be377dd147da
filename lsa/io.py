"""Read the data files of the studies: single SPSS, SAS and Stata files (the readers live in
:mod:`lsa.io_readers` and are re-exported here), whole study folders merged student with school
(:func:`read_study`), and :func:`describe` of a file.

The metadata every reader leaves in ``df.attrs`` (labels, value labels, user-missing declarations
and codes, source) and the errors for unreadable files (:class:`lsa.errors.ReadError` naming the
file: missing, a folder, empty, not SPSS/Stata/SAS, truncated) are described in
:mod:`lsa.io_readers`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .errors import LsaError, ReadError, StudyError
from .io_files import (attach_files, check_files, check_one_cycle, combine_attrs, concat_frames, extra_roles,
                       link_design, shift_codes, subject_files, take_rows)
from .io_describe import FileDescription as FileDescription, describe as describe  # re-exported
from .io_fixed import find_syntax, read_fixed, syntax_columns
from .io_memory import check_memory, header_row_bytes
from .io_names import file_roles, find_files, find_literal, match_filename as match_filename  # re-exported
from .io_parquet import is_parquet, parquet_header, read_parquet, to_parquet
from .io_readers import (ColumnNotFoundError, check_n_jobs, nearest_names, read_any,
                         read_metadata, read_sas, read_spss, read_stata, resolve_columns, restore_missing)
from .io_search import codebook as codebook, search as search, variables as variables  # re-exported

__all__ = ["read_spss", "read_sas", "read_stata", "read_study", "describe", "restore_missing",
           "match_filename", "FileDescription", "ColumnNotFoundError", "link_design", "read_fixed",
           "to_parquet", "read_parquet"]


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
    roles = file_roles(info)
    stu_role = info.observation_level                    # the file role of the rows: student, teacher, respondent
    pat_stu, pat_sch = roles.get(stu_role), roles.get("school")
    suffix = info.files.get("suffix")
    suffix_unv = info.is_unverified("files.suffix")
    letters = info.files.get("grade_letter") or {}
    label = f"{info.name} {info.cycle}"

    g = info.grade
    if g is None and letters and len(letters) > 1:
        present = {gr for gr, le in letters.items()
                   if find_files(folder, pat_stu, suffix, le, label, suffix_unv)}
        if len(present) != 1:
            raise StudyError(f"{label}: give grade= ({', '.join(sorted(letters))}); the folder holds "
                             f"{'both grades' if present else 'no student files of either grade'}.")
        g = int(present.pop())
        info = study_info(study, cycle, g)
    letter = letters.get(str(g)) if g is not None else None

    if "{cnt}" in pat_stu:
        stu_files = find_files(folder, pat_stu, suffix, letter, label, suffix_unv)
    else:  # PISA: one file for all countries; fixed-width text cycles need a converted .sav
        stu_files = find_literal(folder, pat_stu)
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
    extra = {r: find_files(folder, roles[r], suffix, letter, label, suffix_unv) for r in extra_roles(roles_asked)}
    for r, found in extra.items():
        absent = [c.upper() for c in stu_files if c not in found]
        if absent:
            raise StudyError(f"{label}: no {r.replace('_', ' ')} file ({roles[r]!r}) for countries {absent} in "
                             f"{folder}; found it for {sorted(k.upper() for k in found)}.")
    columns, extra_cols = _split_columns(columns, extra, stu_files)
    sch_files = {}
    if pat_sch and "school" in roles_asked:
        sch_files = (find_files(folder, pat_sch, suffix, letter, label, suffix_unv) if "{cnt}" in pat_sch
                     else find_literal(folder, pat_sch))

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
    if want and "{cnt}" not in (file_roles(info).get("student") or "{cnt}"):
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
