"""The file sets of TIMSS and PIRLS: home (parent), achievement, student–teacher link and teacher
files merged onto the students of :func:`lsa.io.read_study`, and the design of the merged rows.
ePIRLS has the PIRLS layout; TIMSS Advanced has one set per subject (:func:`subject_files`:
``msg``/``mst``/``mtg`` mathematics with ``MATWGT``, ``psg``/``pst``/``ptg`` physics with ``PHYWGT``).

**The student–teacher link.** IEA ships teacher questionnaires as their own files (TIMSS grade 4
and PIRLS ``atg``, TIMSS grade 8 ``btm`` mathematics and ``bts`` science teachers) and a link
file (``ast``/``bst``) with one row per student and teacher: a student taught by two mathematics
teachers has two rows. Teachers are not a probability sample; teacher data are analysed as
attributes of the students, and IEA reports them "as percent of students" (the TIMSS and PIRLS
User Guides for the International Database; EdSurvey ``readTIMSS`` and intsvy
``timssg8.select.merge`` merge the same way). The merged frame therefore has **one row per row
of the link file** — its observation is the student–teacher link — with

* the student's columns (and the school's) repeated on each of the student's links,
* the link file's own columns, among them the teacher weights ``TCHWGT``, ``MATWGT``, ``SCIWGT``,
* the teacher's columns (missing on links to a teacher of the other subject).

The link weight of a subject is the student's weight shared among the student's teachers of that
subject: for a student i with k_i mathematics teachers, ``MATWGT = TOTWGT_i / k_i`` on each of the
k_i links and 0 on links to other teachers, so that Σ_links MATWGT = Σ_students TOTWGT over the
students who have a mathematics teacher. A weighted share of links is then a share of students:

    p(teacher answer = a) = Σ_links MATWGT·[a] / Σ_links MATWGT

is "the percentage of students whose mathematics teachers answered a" (a student with two teachers
counts half for each). :func:`link_design` builds the design with that weight (the dictionary's
``files.link_weights``), replicates from the student's jackknife zone (the same zones and halves
as the student's, so a link is replicated with its student).

Merge keys (dictionary ``files.merge``): link ↔ students on ``IDCNTRY, IDSTUD``; link ↔ teachers
on ``IDCNTRY, IDTEACH, IDLINK`` (or ``IDCNTRY, IDTEALIN`` when a file lacks those). Home and
achievement files are one row per student (``IDCNTRY, IDSTUD``).

**Unmatched records.** Link rows whose student is not in the student file, and links carrying a
positive subject weight whose teacher is not in the teacher file, are counted and named; the merge
is refused (:class:`~lsa.errors.StudyError`) unless ``allow_unmatched=True``, which drops the
links without a student and keeps links without a teacher record (teacher columns missing), with a
:class:`~lsa.errors.MissingDataWarning`. Students without any link are not rows of the result;
their number is in ``df.attrs["n_students_unlinked"]``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from .errors import LsaError, MissingDataWarning, StudyError, warn
from .io_readers import SharedMapping, read_any, read_metadata
from .validation import check_choice

__all__ = ["TEACHER_ROLES", "STUDENT_ROLES", "check_files", "extra_roles", "attach_files", "link_design",
           "check_one_cycle", "subject_files", "take_rows", "combine_attrs", "shift_codes", "concat_frames"]

#: file roles with one row per student, merged 1:1 on the student keys
STUDENT_ROLES = ("home", "achievement")
#: file roles of teacher questionnaires, merged through the student-teacher link file
TEACHER_ROLES = ("teacher", "teacher_math", "teacher_science")
_META = ("labels", "value_labels", "missing_declared")


# --------------------------------------------------------------------------------------------
# which files
# --------------------------------------------------------------------------------------------
def _roles_for_grade(info, grade) -> list[str]:
    grades = info.files.get("role_grades") or {}
    out = []
    for role, pat in info.files.items():
        if not isinstance(pat, str) or role in ("suffix", "format") or role.startswith("teacher_link"):
            continue
        allowed = grades.get(role)
        if allowed is None or grade is None or int(grade) in [int(g) for g in allowed]:
            out.append(role)
    return out


def check_files(files: Any, info, grade) -> list[str]:
    """The file roles asked for (``files=``), checked against the dictionary's roles of the grade.

    ``"student"`` is always read; the link file comes with any teacher role. Returns the roles in
    the order given, without duplicates.
    """
    allowed = _roles_for_grade(info, grade)
    seq = [files] if isinstance(files, str) else files
    if not isinstance(seq, (list, tuple)) or not seq or not all(isinstance(f, str) for f in seq):
        raise LsaError(f"files must be a list of file roles of {info.name} {info.cycle}"
                       f"{f' grade {grade}' if grade else ''} from {allowed}; got {files!r}.")
    bad = [f for f in seq if f.lower() not in allowed]
    if bad:
        raise LsaError(f"files: {bad} are not file roles of {info.name} {info.cycle}"
                       f"{f' grade {grade}' if grade else ''}; allowed: {allowed}.")
    roles = list(dict.fromkeys(f.lower() for f in seq))
    if any(r in TEACHER_ROLES for r in roles) and not info.files.get("teacher_link"):
        raise LsaError(f"files: {info.name} {info.cycle} has no student-teacher link file in its dictionary.")
    return roles


def extra_roles(roles: Sequence[str]) -> list[str]:
    """The roles beyond student and school, with the link file before the teacher files."""
    out = [r for r in roles if r in STUDENT_ROLES or r not in ("student", "school") and r not in TEACHER_ROLES]
    teachers = [r for r in roles if r in TEACHER_ROLES]
    return out + (["teacher_link"] + teachers if teachers else [])


def _name_regex(pat: str, letter: str | None) -> str:
    """A dictionary file-name pattern as a regular expression: any country, any letter+digit cycle
    suffix (group ``suffix``), any data-file extension."""
    rx = pat.replace("{grade_letter}", letter or "[ab]").replace("{cnt}", "[a-z0-9]{3}")
    rx = re.escape(rx).replace(re.escape("[a-z0-9]{3}"), "[a-z0-9]{3}").replace(re.escape("[ab]"), "[ab]")
    rx = rx.replace(re.escape("{suffix}"), "(?P<suffix>[a-z]\\d)")
    return re.sub(r"\\\.sav$", r"\\.(sav|zsav|dta|sas7bdat|parquet)", rx)


def subject_files(info, folder: Path, subject: Any):
    """The file set of one subject of a study whose files are split by subject (the dictionary's
    ``files.subjects``; TIMSS Advanced: roles ``student_math`` ``msg...``, ``student_physics``
    ``psg...``): ``info`` with the roles of ``subject`` under their plain names (``student``,
    ``school``, ``achievement``, ``teacher_link``, ``teacher``; ``link_weights`` ``{"teacher":
    "MATWGT"}``), the other subject's roles left out. ``subject=None`` is inferred when the folder
    holds the student files of one subject only; with both, a :class:`StudyError` lists them (a
    folder may hold both subjects: ``subject=`` picks one). Studies without subject file sets take
    ``subject=None`` only.
    """
    from dataclasses import replace

    subjects = list(info.files.get("subjects") or ())
    if not subjects:
        if subject is not None:
            raise LsaError(f"subject applies to studies whose files are split by subject (TIMSS Advanced); "
                           f"{info.name} has one file set, so leave subject=None; got {subject!r}.")
        return info
    aliases = {"mathematics": "math", "maths": "math"}
    if subject is None:
        names = sorted(p.name for p in folder.rglob("*") if p.is_file())
        seen = {s: [n for n in names if re.fullmatch(_name_regex(info.files[f"student_{s}"], None), n, re.I)]
                for s in subjects}
        seen = {s: v for s, v in seen.items() if v}
        if len(seen) != 1:
            listed = "; ".join(f"{s} ({len(v)} student files, e.g. {v[0]})" for s, v in seen.items())
            patterns = ", ".join(info.files[f"student_{s}"] for s in subjects)
            raise StudyError(f"{info.name} {info.cycle}: give subject= ({', '.join(map(repr, subjects))}); the folder "
                             f"{folder} holds " + (f"the files of {len(seen)} subjects: {listed}." if seen else
                                                   f"no student file of any subject ({patterns})."))
        subject = next(iter(seen))
    key = aliases.get(subject.strip().lower(), subject.strip().lower()) if isinstance(subject, str) else subject
    check_choice(key, subjects, f"subject (of {info.name})")
    ends = tuple(f"_{s}" for s in subjects)

    def of_subject(mapping):   # role_<key> -> role; the other subjects' roles left out
        return {k.removesuffix(f"_{key}"): v for k, v in mapping.items() if not k.endswith(ends) or k.endswith(f"_{key}")}

    files = of_subject(info.files) | {"link_weights": of_subject(info.files.get("link_weights") or {})}
    return replace(info, files=files)


def check_one_cycle(folder: Path, info, patterns: Sequence[str], letter: str | None) -> None:
    """Refuse a folder holding the files of two cycles of the study (e.g. ``bsgautm6`` and
    ``bsgautm7``): a :class:`StudyError` listing both cycles and a file of each."""
    from .dictionaries import study_doc, study_info

    by_suffix: dict[str, str] = {}
    for cyc in study_doc(info.study)["cycles"]:
        s = study_info(info.study, cyc).files.get("suffix")
        if s:
            by_suffix.setdefault(str(s).lower(), cyc)
    if len(by_suffix) < 2:
        return
    seen: dict[str, list[str]] = {}
    names = sorted(p.name for p in folder.rglob("*") if p.is_file())
    for pat in patterns:
        if "{suffix}" not in pat:
            continue
        rx = _name_regex(pat, letter)
        for n in names:
            m = re.fullmatch(rx, n, re.IGNORECASE)
            if m and m.group("suffix").lower() in by_suffix:
                seen.setdefault(by_suffix[m.group("suffix").lower()], []).append(n)
    if len(seen) > 1:
        listed = "; ".join(f"{info.name} {cyc} ({len(v)} files, e.g. {v[0]})" for cyc, v in sorted(seen.items()))
        raise StudyError(f"{folder} holds the files of {len(seen)} cycles: {listed}. Put each cycle's "
                         "files in a folder of its own and read that folder.")


# --------------------------------------------------------------------------------------------
# merging
# --------------------------------------------------------------------------------------------
def _resolve(keys: Sequence[str], *frames: pd.DataFrame) -> list[list[str]] | None:
    """Each frame's actual names of ``keys`` (case-insensitive), or None when one lacks a key."""
    out = []
    for f in frames:
        up = {c.upper(): c for c in f.columns}
        if not all(k.upper() in up for k in keys):
            return None
        out.append([up[k.upper()] for k in keys])
    return out


def _positions(left: pd.DataFrame, lkeys: list[str], right: pd.DataFrame, rkeys: list[str]) -> np.ndarray:
    """Row position in ``right`` of each row of ``left`` (−1 when none); keys unique in ``right``."""
    lk = left[lkeys].set_axis([f"k{i}" for i in range(len(lkeys))], axis=1).astype(object)
    rk = right[rkeys].set_axis([f"k{i}" for i in range(len(rkeys))], axis=1).astype(object)
    rk["__pos__"] = np.arange(len(right))
    m = lk.merge(rk, on=list(lk.columns), how="left", sort=False)
    return m["__pos__"].fillna(-1).to_numpy(dtype=np.int64)


def _check_unique(frame: pd.DataFrame, keys: list[str], path: Path, what: str) -> None:
    dup = frame.duplicated(keys, keep=False)
    if dup.any():
        raise StudyError(f"{path.name}: {what} ids are not unique on {keys}: "
                         f"{frame.loc[dup, keys].drop_duplicates().head(5).to_dict('records')}.")


def _unmatched(n: int, what: str, path: Path, other: str, ids: pd.DataFrame, allow: bool, action: str) -> None:
    if not n:
        return
    msg = (f"{path.name}: {n} {what} have no record in {other}; e.g. {ids.head(5).to_dict('records')}"
           f"{' ...' if len(ids) > 5 else ''}.")
    if not allow:
        raise StudyError(msg + " Pass allow_unmatched=True to read them anyway (" + action + ").")
    warn(msg + f" {action[0].upper() + action[1:]} (allow_unmatched=True).", MissingDataWarning)


def expand_codes(codes: Mapping[str, pd.Series], pos: np.ndarray, columns, rename=None) -> dict[str, pd.Series]:
    """Missing codes of a source frame carried to target rows: target row i takes the code of
    source row ``pos[i]`` (−1: none)."""
    rename = rename or {}
    out = {}
    for c, s in (codes or {}).items():
        c2 = rename.get(c, c)
        if c2 not in columns:
            continue
        rows = np.flatnonzero(np.isin(pos, s.index.to_numpy()))
        out[c2] = pd.Series(s.reindex(pos[rows]).to_numpy(), index=rows, name=c2)
    return out


def _new_columns(frame: pd.DataFrame, other: pd.DataFrame, keys: list[str], role: str) -> dict[str, str]:
    """Columns of ``other`` to add: name -> name in the result (a clash with a column already read
    is dropped when it is an id (``ID*``) or a weight/jackknife column, else suffixed ``_<role>``)."""
    have = {c.upper() for c in frame.columns}
    out = {}
    for c in other.columns:
        if c in keys:
            continue
        if c.upper() not in have:
            out[c] = c
        elif not re.match(r"^(ID|JK|TOTWGT|HOUWGT|SENWGT|SCHWGT|WGT)", c.upper()):
            out[c] = f"{c}_{role.replace('teacher_', '')}"
    return out


def _add(frame: pd.DataFrame, other: pd.DataFrame, pos: np.ndarray, cols: dict[str, str],
         meta: dict, codes: dict) -> pd.DataFrame:
    part = other[list(cols)].reset_index(drop=True).reindex(pos).reset_index(drop=True)
    part.columns = [cols[c] for c in part.columns]
    for key in _META:
        for c, v in (other.attrs.get(key) or {}).items():
            if c in cols:
                meta[key].setdefault(cols[c], v)
    codes.update({c: s for c, s in expand_codes(other.attrs.get("missing_codes"), pos, set(cols.values()),
                                                cols).items() if c not in codes})
    return pd.concat([frame, part], axis=1)


def attach_files(students: pd.DataFrame, paths: Mapping[str, Path], info, *, columns: Mapping[str, Any],
                 labels: str, user_missing: bool, allow_unmatched: bool) -> pd.DataFrame:
    """Merge the home/achievement files (1:1) and the link + teacher files onto ``students``.

    ``paths``: role -> file of one country (roles of :func:`extra_roles`). ``columns``: role ->
    columns to read (None: all). Returns the students (one row each) when no teacher file is
    asked for, else one row per link (module docstring)."""
    mk = info.merge_keys
    frame = students.reset_index(drop=True)
    meta = {k: dict(students.attrs.get(k) or {}) for k in _META}
    codes = dict(students.attrs.get("missing_codes") or {})
    sources = [students.attrs.get("source")]
    for role in [r for r in paths if r in STUDENT_ROLES or r not in TEACHER_ROLES and r != "teacher_link"]:
        path, cols = paths[role], columns.get(role)
        skeys = mk.get("student_files") or mk["student_link"]
        if cols is not None:
            up = {c.upper(): c for c in read_metadata(path).column_names}
            cols = list(dict.fromkeys([up[k.upper()] for k in skeys if k.upper() in up] + list(cols)))
        other = read_any(path, cols, labels, user_missing)
        keys = _resolve(skeys, frame, other)
        if keys is None:
            raise StudyError(f"cannot merge {path.name}: the student keys {list(mk.get('student_files'))} must be "
                             f"in it and in the student file.")
        _check_unique(other, keys[1], path, "student")
        back = _positions(other, keys[1], frame, keys[0])
        _unmatched(int((back < 0).sum()), f"{role} records", path, "the student file",
                   other.loc[back < 0, keys[1]], allow_unmatched, "they are left out")
        pos = _positions(frame, keys[0], other, keys[1])
        frame = _add(frame, other, pos, _new_columns(frame, other, keys[1], role), meta, codes)
        frame.attrs = {}
        sources.append(f"{path}")
    if "teacher_link" in paths:
        frame, codes = _link(frame, paths, info, columns, labels, user_missing, allow_unmatched, meta, codes, sources)
    out_attrs = {**{k: SharedMapping(v) for k, v in meta.items()}, "missing_codes": SharedMapping(codes),
                 "source": "; ".join(s for s in sources if s)}
    out_attrs.update(frame.attrs)
    frame.attrs = out_attrs
    return frame


def _link(frame, paths, info, columns, labels, user_missing, allow_unmatched, meta, codes, sources):
    mk = info.merge_keys
    lpath = paths["teacher_link"]
    link = read_any(lpath, None, labels, user_missing)
    sources.append(str(lpath))
    skeys = _resolve(mk["student_link"], link, frame)
    if skeys is None:
        raise StudyError(f"cannot merge {lpath.name}: the keys {list(mk['student_link'])} must be in the link "
                         f"file and the student file; link columns: {list(link.columns)[:20]}.")
    spos = _positions(link, skeys[0], frame, skeys[1])
    lost = spos < 0
    _unmatched(int(lost.sum()), f"student-teacher links of {link.loc[lost, skeys[0]].drop_duplicates().shape[0]} "
               "students", lpath, "the student file", link.loc[lost, skeys[0]].drop_duplicates(),
               allow_unmatched, "those links are left out")
    keep = np.flatnonzero(~lost)
    link_codes = expand_codes(link.attrs.get("missing_codes"), keep, set(link.columns))
    link = link.iloc[keep].reset_index(drop=True)
    spos = spos[keep]
    n_unlinked = int(len(frame) - len(np.unique(spos)))
    out = frame.reindex(spos).reset_index(drop=True)
    new_codes = expand_codes(codes, spos, set(out.columns))
    lcols = _new_columns(out, link, skeys[0], "link")
    out = pd.concat([out, link[list(lcols)].rename(columns=lcols)], axis=1)
    for key in _META:
        for c, v in (link.attrs.get(key) or {}).items():
            if c in lcols:
                meta[key].setdefault(lcols[c], v)
    new_codes.update({lcols[c]: s for c, s in link_codes.items() if c in lcols})
    weights = {}
    for role in [r for r in paths if r in TEACHER_ROLES]:
        out, w = _teacher(out, link, role, paths[role], info, columns.get(role), labels, user_missing,
                          allow_unmatched, meta, new_codes)
        sources.append(str(paths[role]))
        if w:
            weights[role] = w
    out.attrs = {"observation": "student-teacher link", "link_weights": weights, "n_links": len(out),
                 "n_students_unlinked": n_unlinked}
    return out, new_codes


def _teacher(out, link, role, path, info, cols, labels, user_missing, allow_unmatched, meta, codes):
    mk = info.merge_keys
    tmeta = read_metadata(path)
    tavail = list(tmeta.column_names)
    probe = pd.DataFrame(columns=tavail)
    keys = _resolve(mk["link_teacher"], link, probe) or _resolve(mk.get("teacher_link") or (), link, probe)
    if keys is None:
        raise StudyError(f"cannot merge {path.name} with the link file: the teacher keys {list(mk['link_teacher'])} "
                         f"(or {list(mk.get('teacher_link') or ())}) must be in both; teacher file columns: "
                         f"{tavail[:20]}.")
    read_cols = None if cols is None else list(dict.fromkeys(keys[1] + list(cols)))
    teach = read_any(path, read_cols, labels, user_missing)
    _check_unique(teach, keys[1], path, "teacher")
    tpos = _positions(link, keys[0], teach, keys[1])
    wname = (info.files.get("link_weights") or {}).get(role)
    wcol = next((c for c in link.columns if wname and c.upper() == wname.upper()), None)
    needs = np.ones(len(link), bool) if wcol is None else pd.to_numeric(link[wcol], errors="coerce").fillna(0).gt(0)
    lost = np.asarray(needs) & (tpos < 0)
    ids = link.loc[lost, keys[0]].drop_duplicates()
    _unmatched(int(lost.sum()), f"student-teacher links (to {len(ids)} teachers) with a positive {wname or 'weight'}",
               path, f"the {role.replace('_', ' ')} file", ids, allow_unmatched, "their teacher columns are left missing")
    tcols = _new_columns(out, teach, keys[1], role)
    out = _add(out, teach, tpos, tcols, meta, codes)
    return out, wcol


# --------------------------------------------------------------------------------------------
# the design of the links
# --------------------------------------------------------------------------------------------
def link_design(data: pd.DataFrame, weight: str | None = None, **overrides: Any):
    """The survey design of a frame read with teacher files: the observation is the
    student–teacher link (level ``"student_teacher"``) and its weight the link weight of the
    teacher file read (``MATWGT`` for TIMSS mathematics teachers, ``SCIWGT`` science, ``TCHWGT``
    TIMSS grade 4 and PIRLS teachers; the dictionary's ``files.link_weights``).

    Percentages of a teacher variable are then percentages of students (module docstring):
    ``lsa.percentages(link_design(df), "ATBG01")``. ``weight`` names the link weight when several
    teacher files were read; ``overrides`` go to :func:`lsa.design_from_study`.
    """
    from .design import design_from_study
    from .validation import check_frame

    check_frame(data)
    study, cycle, grade = (data.attrs.get(k) for k in ("study", "cycle", "grade"))
    lw = data.attrs.get("link_weights") or {}
    if not study or not lw:
        raise LsaError("link_design needs a frame read by lsa.io.read_study with a teacher file in files= "
                       "(its attrs name the study and the link weights); for other data use "
                       "lsa.design_from_study(study, cycle, data, weights={'student_teacher': <link weight>}).")
    choices = sorted(set(lw.values()))
    if weight is None:
        if len(choices) > 1:
            raise LsaError(f"link_design: the frame has teacher files with different link weights {choices}; "
                           "give weight= (e.g. the mathematics teachers' weight).")
        weight = choices[0]
    if weight not in data.columns:
        raise LsaError(f"link_design: weight must be a link weight column of the data {choices}; got {weight!r}"
                       f"{' (it is not among the columns)' if weight in choices else ''}.")
    overrides.setdefault("weights", {"student_teacher": weight})
    return design_from_study(study, cycle, data, grade, **overrides)


# --------------------------------------------------------------------------------------------
# frame metadata (rows selected, shifted and stacked)
# --------------------------------------------------------------------------------------------
def take_rows(df: pd.DataFrame, keep: np.ndarray) -> pd.DataFrame:
    """The rows of ``keep`` (boolean), renumbered, with their missing codes."""
    attrs = df.attrs
    out = df.loc[keep].reset_index(drop=True)
    old = np.flatnonzero(keep)
    codes = {}
    for c, s in (attrs.get("missing_codes") or {}).items():
        new = pd.Series(np.arange(len(old)), index=old)
        s = s[s.index.isin(old)]
        codes[c] = pd.Series(s.to_numpy(), index=new.loc[s.index].to_numpy(), name=s.name)
    out.attrs = {**attrs, "missing_codes": SharedMapping(codes)}
    return out


def combine_attrs(merged, sattrs, cattrs, back: Mapping[str, str], school_pos: np.ndarray) -> None:
    """Union of the student and school metadata; school missing codes expanded to student rows."""
    def rekey(d):
        inv = {v: k for k, v in back.items()}
        return {inv.get(k, k): v for k, v in (d or {}).items() if inv.get(k, k) in merged.columns}

    codes = dict(sattrs.get("missing_codes") or {})
    for c, s in rekey(cattrs.get("missing_codes")).items():
        if c in codes:
            continue
        rows = np.flatnonzero(np.isin(school_pos, s.index.to_numpy()))
        codes[c] = pd.Series(s.reindex(school_pos[rows]).to_numpy(), index=merged.index[rows], name=c)
    out = {}
    for key in _META:
        d = dict(rekey(cattrs.get(key)))
        d.update(sattrs.get(key) or {})
        out[key] = SharedMapping(d)
    merged.attrs = {**out, "missing_codes": SharedMapping(codes),
                    "source": f"{sattrs.get('source')}; {cattrs.get('source')}"}


def shift_codes(df: pd.DataFrame, offset: int) -> None:
    """Renumber the missing codes' rows by ``offset`` (a country stacked below others)."""
    if not offset:
        return
    codes = {c: pd.Series(s.to_numpy(), index=s.index + offset, name=s.name)
             for c, s in (df.attrs.get("missing_codes") or {}).items()}
    df.attrs = {**df.attrs, "missing_codes": SharedMapping(codes)}


def concat_frames(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Countries stacked, categorical columns re-categorised, metadata merged."""
    attrs = [p.attrs for p in parts]
    for p in parts:
        p.attrs = {}
    out = pd.concat(parts, axis=0, sort=False)
    for c in out.columns:
        if out[c].dtype == object and any(isinstance(p[c].dtype, pd.CategoricalDtype) for p in parts if c in p):
            cats = list(dict.fromkeys(x for p in parts if c in p and isinstance(p[c].dtype, pd.CategoricalDtype)
                                      for x in p[c].cat.categories))
            if set(out[c].dropna().unique()) <= set(cats):
                out[c] = pd.Categorical(out[c], categories=cats)
    merged: dict[str, Any] = {}
    for key in (*_META, "missing_codes"):
        d: dict = {}
        for a in attrs:
            for k, v in (a.get(key) or {}).items():
                if key == "missing_codes" and k in d:
                    d[k] = pd.concat([d[k], v])
                else:
                    d.setdefault(k, v)
        merged[key] = SharedMapping(d)
    first = attrs[0] if attrs else {}
    if "link_weights" in first:
        merged.update(observation=first.get("observation"), link_weights=first["link_weights"],
                      n_links=sum(a.get("n_links", 0) for a in attrs),
                      n_students_unlinked=sum(a.get("n_students_unlinked", 0) for a in attrs))
    out.attrs = merged
    return out
