"""Read the data files of the studies: single SPSS, SAS and Stata files (the readers live in
:mod:`lsa.io_readers` and are re-exported here), whole study folders merged student with school
(:func:`read_study`), and :func:`describe` of a file.

The metadata every reader leaves in ``df.attrs`` (labels, value labels, user-missing declarations
and codes, source) and the errors for unreadable files (:class:`lsa.errors.ReadError` naming the
file: missing, a folder, empty, not SPSS/Stata/SAS, truncated) are described in
:mod:`lsa.io_readers`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from .errors import LsaError, ReadError, StudyError
from .io_files import (attach_files, check_files, check_one_cycle, combine_attrs, concat_frames, extra_roles,
                       link_design, shift_codes, subject_files, take_rows)
from .io_describe import FileDescription as FileDescription, describe as describe  # re-exported
from .io_fixed import find_syntax, read_fixed, syntax_columns
from .io_lazy import ColumnSource, StudyFrame, load_columns as load_columns, study_frame  # load_columns re-exported
from .io_memory import check_memory, header_row_bytes
from .io_names import file_roles, find_files, find_literal, match_filename as match_filename  # re-exported
from .io_parquet import is_parquet, parquet_header, read_parquet, to_parquet
from .io_readers import (ColumnNotFoundError, check_n_jobs, nearest_names, read_any,
                         read_metadata, read_sas, read_spss, read_stata, resolve_columns, restore_missing)
from .progress import progress_bar, wants_progress
from .validation import check_names, check_progress
from .io_search import codebook as codebook, search as search, variables as variables  # re-exported

__all__ = ["read_spss", "read_sas", "read_stata", "read_study", "describe", "restore_missing",
           "match_filename", "FileDescription", "ColumnNotFoundError", "link_design", "read_fixed",
           "to_parquet", "read_parquet", "load_columns", "StudyFrame"]


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


def _check_study_memory(info, stu_files: Mapping[str, Path], columns, base: list[str]) -> None:
    """The student files' rows x selected columns against the memory available (peak 2x: parts + stack)."""
    rows = total = 0
    for spath in stu_files.values():
        meta = _header(spath)
        if meta is None or (getattr(meta, "number_rows", None) or -1) < 0:
            continue
        names = list(meta.column_names)
        cols = names if columns is None else _select([columns] if isinstance(columns, str) else list(columns),
                                                     base, info, names)[0]
        rows += meta.number_rows
        total += meta.number_rows * header_row_bytes(cols, meta)
    if rows:
        check_memory(rows, total // rows, f"read_study: the student files of {len(stu_files)} "
                     f"{'country' if len(stu_files) == 1 else 'countries'}")


def _design_names(info) -> list[str]:
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
               columns: Sequence[str] | str | None = None, school_columns: Sequence[str] | None = None,
               labels: str = "categorical", user_missing: bool = True, files: Sequence[str] | None = None,
               allow_unmatched: bool = False, n_jobs: int = 1, subject: str | None = None,
               progress: bool | None = None) -> StudyFrame:
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
    columns : the columns to read now. Default: only what the design needs: the design columns the
        dictionary names (ids, weights, replicate/jackknife variables, the school weight) and the
        plausible values of the dictionary's domains; every other column is read when first named
        (see the notes). A list names further columns to read now (the design columns are always
        added); a PV root such as ``"BSMMAT"`` or ``"MATH"`` stands for its PV columns; names not in
        the student file are looked up in the school file. ``"all"``: every column of every file.
    school_columns : school-file columns to add (default: all with ``columns="all"``, else only the
        merge keys and the school weight). School columns that duplicate student columns are
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
    progress : a bar over the files read (:mod:`lsa.progress`); default: shown when more than one
        country's files of over 128 MB in all are read (this read and later ones).

    Returns
    -------
    A :class:`lsa.io_lazy.StudyFrame`: a DataFrame that reads a column it lacks from the same files
    the first time it is named: ``df["ESCS"]``, :func:`load_columns`, or an lsa analysis of a design
    built on it (formula terms, variables, ``by=``), all of the columns one call names in one pass
    over the files. The PISA 2022 student file has over 1,000 columns; an analysis reads the
    ~100 design columns and the dozen it names. Operations pandas resolves without ``df[...]``
    (``df.query``, ``df.groupby("CNT")["ESCS"]``) see only the columns read so far.

    Notes
    -----
    Large files: a later column costs one more pass over an SPSS file (all the columns of one call
    share it); convert the files once with :func:`to_parquet` (``lsa convert``): ``.parquet``
    copies named as the study's files are read like them (preferred to a ``.sav`` beside them) and
    read only the columns asked for. Memory is checked before every read.

    Every student must find its school; otherwise :class:`~lsa.errors.StudyError` names the
    unmatched ids. ``df.attrs`` carries the metadata of both files (see :func:`read_spss`) plus
    ``study``, ``cycle`` and ``grade``.
    """
    check_progress(progress)
    if columns is not None and not (isinstance(columns, str) and columns == "all"):
        columns = check_names(columns, "columns", allow_empty=True)
    if school_columns is not None:
        school_columns = check_names(school_columns, "school_columns", allow_empty=True)
    args = dict(folder=folder, study=study, cycle=cycle, countries=countries, grade=grade,
                school_columns=school_columns, labels=labels, user_missing=user_missing, files=files,
                allow_unmatched=allow_unmatched, n_jobs=n_jobs, subject=subject, progress=progress)
    plan = _locate(args)
    if isinstance(columns, str) and columns == "all":
        columns = None
    elif columns is None:                                  # the design: its columns and the dictionary's PVs
        columns = list(_pv_sets(plan.info, _meta_columns(next(iter(plan.stu_files.values())))))
        args["school_columns"] = school_columns if school_columns is not None else ()
    out = _read_located(plan, args, columns, _design_names(plan.info))
    keys = [k for k in _key_names(plan.info) if k in out.columns]
    source = ColumnSource(partial(_read_more, args), partial(_readable, args), keys, plan.label)
    return study_frame(out, source)


def _read_more(args: dict, names: list[str]) -> pd.DataFrame:
    """The study read again with only the key columns and ``names`` (a study frame's later columns)."""
    plan = _locate(args)
    return _read_located(plan, {**args, "school_columns": ()}, names, _key_names(plan.info))


def _readable(args: dict) -> tuple[list[str], dict[str, list[str]]]:
    """Every column name of the study's files (first country), and the PV roots they hold with
    their columns."""
    plan = _locate(args)
    first = next(iter(plan.stu_files))
    paths = [plan.stu_files[first], plan.sch_files.get(first) or next(iter(plan.sch_files.values()), None)]
    paths += [found[first] for found in plan.extra.values() if first in found]
    names = [c for p in paths if p is not None for c in _meta_columns(p)]
    return names, _pv_sets(plan.info, names)


def _key_names(info) -> list[str]:
    """The id columns that identify a row of the study read (country, school, class, the row's own id,
    teacher)."""
    ids = (info.ids.get(x) for x in ("country", "school", "class", info.observation_level, "teacher"))
    return [k for k in ids if k]


def _pv_sets(info, available: list[str]) -> dict[str, list[str]]:
    """The dictionary's PV roots whose columns are all in ``available``, with those columns."""
    found = {r: _select([r], [], info, available) for r in info.pv_roots}
    return {r: cols for r, (cols, lost) in found.items() if not lost}


@dataclass
class _Plan:
    """The files of one study read: info, grade, student/school/extra files per country."""

    info: Any
    grade: Any
    stu_files: dict
    sch_files: dict
    extra: dict
    want: list | None
    label: str


def _locate(args: dict) -> _Plan:
    from .dictionaries import study_info

    folder, study, cycle, grade = Path(args["folder"]), args["study"], args["cycle"], args["grade"]
    countries, files, allow_unmatched, subject = args["countries"], args["files"], args["allow_unmatched"], args["subject"]
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
    sch_files = {}
    if pat_sch and "school" in roles_asked:
        sch_files = (find_files(folder, pat_sch, suffix, letter, label, suffix_unv) if "{cnt}" in pat_sch
                     else find_literal(folder, pat_sch))
    return _Plan(info, g, stu_files, sch_files, extra, want, label)


def _read_located(plan: _Plan, args: dict, columns, base: list[str]) -> pd.DataFrame:
    """The located files read: ``columns`` (None: all) plus ``base``, merged and stacked over countries."""
    info, g, stu_files, sch_files, extra, want = (plan.info, plan.grade, plan.stu_files, plan.sch_files,
                                                  plan.extra, plan.want)
    school_columns, labels, user_missing = args["school_columns"], args["labels"], args["user_missing"]
    allow_unmatched, n_jobs = args["allow_unmatched"], args["n_jobs"]
    columns, extra_cols = _split_columns(columns, extra, stu_files)

    merge_keys = info.merge_keys.get("student_school") or info.merge_keys.get("teacher_school") or ()
    school_id = info.ids.get("school")
    check_n_jobs(n_jobs)
    _check_study_memory(info, stu_files, columns, base + list(merge_keys))
    parts, sources, offset = [], [], 0
    size = sum(p.stat().st_size for p in stu_files.values())
    bar = progress_bar(len(stu_files), wants_progress(args["progress"], len(stu_files) > 1 and size > 2 ** 27),
                       f"read_study {info.name} {info.cycle}", unit="file")
    for cnt, spath in stu_files.items():
        bar.set_postfix_str(cnt.upper())
        part = _read_pair(info, spath, sch_files.get(cnt) if cnt else next(iter(sch_files.values()), None),
                          columns, school_columns, merge_keys, school_id, labels, user_missing, want, cnt, n_jobs,
                          base)
        if extra:
            part = attach_files(part, {r: extra[r][cnt] for r in extra}, info, columns=extra_cols, labels=labels,
                                user_missing=user_missing, allow_unmatched=allow_unmatched)
        part.index = pd.RangeIndex(offset, offset + len(part))
        shift_codes(part, offset)
        offset += len(part)
        parts.append(part)
        sources.append(part.attrs.get("source"))
        bar.update()
    bar.close()
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
               want, cnt, n_jobs=1, design=()) -> pd.DataFrame:
    s_avail = _meta_columns(spath)
    c_avail = _meta_columns(cpath) if cpath is not None else []
    if columns is None:
        s_cols, in_school = None, []
    else:
        requested = [columns] if isinstance(columns, str) else list(columns)
        s_cols, notfound = _select(requested, list(design) + list(merge_keys), info, s_avail)
        c_up = {c.upper(): c for c in c_avail}
        in_school = [c_up[n.upper()] for n in notfound if n.upper() in c_up]
        lost = [n for n in notfound if n.upper() not in c_up]
        if lost:
            raise ColumnNotFoundError(
                f"{spath.name}{' / ' + cpath.name if cpath else ''}: columns not found: {lost}."
                f"{nearest_names(lost, s_avail + c_avail)} "
                f"Student file columns: {', '.join(s_avail[:30])}{', ...' if len(s_avail) > 30 else ''}.")
        if not s_cols:
            raise StudyError(f"{spath.name}: none of the columns {info.name} {info.cycle} identifies its rows and "
                             f"weights by ({', '.join(list(design)[:8])}) is in the file, which holds "
                             f"{', '.join(s_avail[:20])}{', ...' if len(s_avail) > 20 else ''}. Is it a {info.name} "
                             f"{info.cycle} file? read_study(..., columns='all') reads it whole.")
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
