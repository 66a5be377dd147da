"""TIMSS Advanced (one file set per subject) and ePIRLS file sets in ``read_study`` (issue 15 item 1).

Synthetic files in the official layout, written with pyreadstat from the CSVs of
``tests/reference/data/timss2019_g4_links/`` (``tests/reference/make_timss2019_links.py``): the
TIMSS Advanced 2015 mathematics set ``msg/mcg/msa/mst/mtg<cnt>m3.sav`` and physics set
``psg/pcg/pst/ptg<cnt>m3.sav`` (names as EdSurvey ``readTIMSSAdv`` reads them; the suffix is
unverified), and the ePIRLS 2016 set ``asg/acg/ash/ast/atg<cnt>e1.sav`` (EdSurvey ``read_ePIRLS``).

Oracles:
* row counts and link multiplicities: the link CSV rows of the subject, counted with pandas;
* link weights: the IEA rule (a student's weight shared among its teachers of the subject: per
  student Σ MATWGT = TOTWGT), as sums, 1e-9 relative (the CSVs keep 10 significant digits);
* the teacher-weighted percentage of students: the closed form Σ w·[a] / Σ w over the link rows
  with the subject's link weight, 1e-12 relative;
* errors: the files of two subjects or two cycles in one folder, listed by name.
"""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest

import lsa
from lsa.errors import LsaError, StudyError
from lsa.io import link_design, match_filename, read_study

DATA = Path(__file__).resolve().parent / "reference" / "data" / "timss2019_g4_links"
TEACHER_LABELS = {1: "Upper secondary", 2: "Short-cycle tertiary", 3: "Bachelor", 4: "Master", 9: "Omitted or invalid"}


def _csv() -> dict[str, pd.DataFrame]:
    return {p.stem[:3]: pd.read_csv(p) for p in sorted(DATA.glob("*.csv"))}


def _write(folder: Path, name: str, df: pd.DataFrame, teacher_item: str | None = None) -> None:
    labels = {teacher_item: TEACHER_LABELS} if teacher_item else {}
    pyreadstat.write_sav(df.astype(float), str(folder / name), variable_value_labels=labels,
                         missing_ranges={teacher_item: [9]} if teacher_item else {},
                         column_labels={c: c.title() for c in df.columns})


def advanced_frames(subject: str) -> dict[str, pd.DataFrame]:
    """The subject's files (first letter m or p) as frames: students, schools, achievement, the
    links to the subject's teachers only (with their weight MATWGT or PHYWGT), the teachers."""
    raw = _csv()
    p, w, pv = ("m", "MATWGT", "MSMMAT") if subject == "math" else ("p", "PHYWGT", "PSPPHY")
    link = raw["ast"].rename(columns={"SCIWGT": "PHYWGT"})
    link = link[link[w] > 0].drop(columns=[c for c in ("MATWGT", "PHYWGT", "TCHWGT") if c != w]).reset_index(drop=True)
    teach = raw["atg"].merge(link[["IDTEACH", "IDLINK"]].drop_duplicates(), on=["IDTEACH", "IDLINK"])
    stu = raw["asg"].rename(columns=lambda c: c.replace("ASMMAT", pv).replace("ASBG", f"{p.upper()}SBG"))
    ach = stu[["IDCNTRY", "IDSCHOOL", "IDSTUD"]].assign(**{f"{p.upper()}A11001": stu["IDSTUD"] % 3})
    return {f"{p}sg": stu, f"{p}cg": raw["acg"].rename(columns={"ACBG05": f"{p.upper()}CBG05"}), f"{p}sa": ach,
            f"{p}st": link, f"{p}tg": teach.rename(columns=lambda c: c.replace("ATBG", f"{p.upper()}TBG"))}


def write_advanced(folder: Path, subject: str, cnt: str = "usa", suffix: str = "m3") -> dict[str, pd.DataFrame]:
    frames = advanced_frames(subject)
    for kind, df in frames.items():
        _write(folder, f"{kind}{cnt}{suffix}.sav", df, f"{kind[0].upper()}TBG04" if kind.endswith("tg") else None)
    return frames


@pytest.mark.parametrize("subject, weight, item", [("math", "MATWGT", "MTBG04"), ("physics", "PHYWGT", "PTBG04")])
def test_timss_advanced_subject_reads_one_row_per_link(tmp_path, subject, weight, item):
    write_advanced(tmp_path, "math")
    write_advanced(tmp_path, "physics")          # both subjects in one folder, as the IEA download has them
    p = subject[0]
    frames = advanced_frames(subject)
    link, stu = frames[f"{p}st"], frames[f"{p}sg"]
    df = read_study(tmp_path, "TIMSS Advanced", 2015, subject=subject, countries=["USA"],
                    files=["student", "school", "achievement", "teacher"], labels="codes")
    assert len(df) == len(link) == df.attrs["n_links"]
    assert df["IDSTUD"].tolist() == link["IDSTUD"].astype(float).tolist()
    assert df.attrs["link_weights"] == {"teacher": weight} and df.attrs["study"] == "timss_advanced"
    pv = "MSMMAT01" if subject == "math" else "PSPPHY01"
    assert {pv, weight, "TOTWGT"} <= set(df.columns) and item not in df.columns     # the design's columns only
    later = [f"{p.upper()}CBG05", f"{p.upper()}A11001"]                             # school and achievement files
    assert df[later].notna().any().all() and set(later) <= set(df.columns)          # read when named
    # link multiplicities: students with two teachers of the subject have two rows
    per_student = link.groupby("IDSTUD").size()
    assert df.groupby("IDSTUD").size().reindex(per_student.index).astype(int).tolist() == per_student.tolist()
    assert (per_student == 2).any() or subject == "physics"
    # the IEA rule: a student's weight is shared among its teachers of the subject (1e-9: CSV digits)
    g = df.groupby("IDSTUD").agg(w=(weight, "sum"), tot=("TOTWGT", "first"))
    np.testing.assert_allclose(g["w"], g["tot"], rtol=1e-9)
    assert df.attrs["n_students_unlinked"] == len(stu) - link["IDSTUD"].nunique()
    # percentages of students by a teacher variable: Σ w·[a] / Σ w over links with an answer (closed form)
    d = link_design(df)
    assert d.observation_level == "student_teacher" and d.weights["student_teacher"] == weight
    with pytest.warns(lsa.MissingDataWarning):
        tab = lsa.percentages(d, item).tidy().set_index("term")
    ok = df[item].notna()
    want = df[ok].groupby(item)[weight].sum() / df.loc[ok, weight].sum() * 100
    got = tab["estimate"].rename(index=lambda t: float(t))
    np.testing.assert_allclose(got.reindex(want.index), want, rtol=1e-12)


def test_timss_advanced_subject_is_inferred_or_both_are_listed(tmp_path):
    write_advanced(tmp_path, "physics")
    df = read_study(tmp_path, "TIMSS Advanced", 2015)                 # physics files only: inferred
    assert "PSPPHY01" in df.columns and len(df) == len(_csv()["asg"])
    write_advanced(tmp_path, "math")
    with pytest.raises(StudyError, match=r"TIMSS Advanced 2015: give subject= \('math', 'physics'\); the folder .* "
                                         r"holds the files of 2 subjects: math \(1 student files, e.g. msgusam3.sav\); "
                                         r"physics \(1 student files, e.g. psgusam3.sav\)"):
        read_study(tmp_path, "TIMSS Advanced", 2015)
    assert "MSMMAT01" in read_study(tmp_path, "TIMSS Advanced", 2015, subject="mathematics").columns


def test_timss_advanced_two_cycles_in_one_folder(tmp_path):
    write_advanced(tmp_path, "math")
    write_advanced(tmp_path, "math", cnt="swe", suffix="m2")
    with pytest.raises(StudyError, match=r"holds the files of 2 cycles: TIMSS Advanced 2008 \(4 files, e.g. "
                                         r"msgswem2.sav\); TIMSS Advanced 2015 \(4 files, e.g. msgusam3.sav\)"):
        read_study(tmp_path, "TIMSS Advanced", 2015, subject="math", files=["student", "school", "teacher"])


def test_epirls_folder_reads_like_pirls(tmp_path):
    raw = _csv()
    stu = raw["asg"].rename(columns=lambda c: c.replace("ASMMAT", "ASEREA"))
    files = {"asg": stu, "acg": raw["acg"], "ash": raw["ash"], "ast": raw["ast"], "atg": raw["atg"]}
    for kind, df in files.items():
        _write(tmp_path, f"{kind}usae1.sav", df, "ATBG04" if kind == "atg" else None)
    shutil.copy(tmp_path / "asgusae1.sav", tmp_path / "asgautr4.sav")    # a PIRLS 2016 file beside them
    shutil.copy(tmp_path / "acgusae1.sav", tmp_path / "acgautr4.sav")
    df = read_study(tmp_path, "ePIRLS", 2016, files=["student", "school", "teacher", "home"])
    assert len(df) == len(raw["ast"]) and df.attrs["link_weights"] == {"teacher": "TCHWGT"}
    assert set(df["IDCNTRY"]) == {840.0} and "ASEREA05" in df.columns and "ASBH02" not in df.columns
    assert df["ASBH02"].notna().any() and "ASBH02" in df.columns                  # the home file, read when named
    g = df.groupby("IDSTUD").agg(w=("TCHWGT", "sum"), tot=("TOTWGT", "first"))
    np.testing.assert_allclose(g["w"], g["tot"], rtol=1e-9)
    d = link_design(df)
    assert d.weights["student_teacher"] == "TCHWGT" and d.n == len(raw["ast"])
    m = lsa.mean(lsa.design_from_study("ePIRLS", 2016, read_study(tmp_path, "ePIRLS", 2016)), "ASEREA").tidy()
    pv = stu[[f"ASEREA0{i}" for i in range(1, 6)]].to_numpy()
    want = np.mean([np.average(pv[:, i], weights=stu["TOTWGT"]) for i in range(5)])
    np.testing.assert_allclose(m["estimate"].iloc[0], want, rtol=1e-12)       # closed form
    assert len(read_study(tmp_path, "PIRLS", 2016)) == len(stu)                # the r4 files, read apart


def test_file_names_of_timss_advanced_and_epirls():
    assert [(m["study"], m["cycle"], m["role"]) for m in match_filename("msgusam3.sav")] == [
        ("timss_advanced", "2015", "student_math")]
    assert [(m["study"], m["role"], m["unverified"]) for m in match_filename("PTGNORM2.SAV")] == [
        ("timss_advanced", "teacher_physics", True)]
    assert [(m["study"], m["cycle"], m["role"]) for m in match_filename("astusae1.sav")] == [
        ("epirls", "2016", "teacher_link")]


def test_subject_argument_is_checked(tmp_path):
    write_advanced(tmp_path, "math")
    with pytest.raises(LsaError, match=r"subject \(of TIMSS Advanced\) must be one of \['math', 'physics'\]; got 'chemistry'"):
        read_study(tmp_path, "TIMSS Advanced", 2015, subject="chemistry")
    with pytest.raises(LsaError, match=r"subject applies to studies whose files are split by subject"):
        read_study(tmp_path, "TIMSS", 2019, subject="math")
