"""TIMSS/PIRLS file sets: home, student-teacher link and teacher files (issue 15 items 1 and 5).

Synthetic files in the official layout (names ``asgusam7.sav`` ..., IEA variable names, value
labels and user-missing codes) are written with pyreadstat from the CSVs of
``tests/reference/data/timss2019_g4_links/`` (made by ``tests/reference/make_timss2019_links.py``).

Oracles:
* the row counts and link multiplicities: the link CSV itself (counted with pandas);
* the link weights: the IEA rule (the student's weight shared among its teachers of a subject),
  checked as sums (1e-9 relative: the CSVs keep 10 significant digits);
* the teacher-weighted percentages of students: R's ``survey`` on the same CSV rows, merged in R
  (``tests/reference/survey_timss2019_links.R`` → ``survey_timss2019_links.json``), 1e-8 relative
  for estimates and SEs.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest

import lsa
from lsa.errors import LsaError, MissingDataWarning, StudyError
from lsa.io import link_design, match_filename, read_study

REF = Path(__file__).resolve().parent / "reference"
DATA = REF / "data" / "timss2019_g4_links"

LABELS = {
    "asg": ({"ASBG01": {1: "Girl", 2: "Boy", 9: "Omitted or invalid"}}, {"ASBG01": [9]}),
    "acg": ({"ACBG05": {1: "Urban", 2: "Suburban", 3: "Rural", 99: "Omitted or invalid"}}, {"ACBG05": [99]}),
    "ash": ({"ASBH02": {1: "Never", 2: "Sometimes", 3: "Often", 4: "Always", 99: "Omitted or invalid"}},
            {"ASBH02": [99]}),
    "atg": ({"ATBG04": {1: "Upper secondary", 2: "Short-cycle tertiary", 3: "Bachelor", 4: "Master",
                        9: "Omitted or invalid"}}, {"ATBG04": [9]}),
    "ast": ({}, {}),
}


def _frames() -> dict[str, pd.DataFrame]:
    return {p.stem: pd.read_csv(p) for p in sorted(DATA.glob("*.csv"))}


def _write(folder: Path, frames: dict[str, pd.DataFrame], cnt: str = "usa", suffix: str = "m7") -> None:
    for stem, df in frames.items():
        vl, miss = LABELS[stem[:3]]
        vl = {**vl, "IDCNTRY": {840: "United States", 40: "Austria"}}
        pyreadstat.write_sav(df.astype(float), str(folder / f"{stem[:3]}{cnt}{suffix}.sav"),
                             variable_value_labels=vl, missing_ranges=miss,
                             column_labels={c: c.title() for c in df.columns})


@pytest.fixture()
def folder(tmp_path):
    _write(tmp_path, _frames())
    return tmp_path


def test_timss_g4_folder_reads_into_one_row_per_link(folder):
    raw = _frames()
    link, stu = raw["astusam7"], raw["asgusam7"]
    df = read_study(folder, "TIMSS", 2019, countries=["USA"], files=["student", "school", "teacher", "home"])
    # one row per row of the link file, in its order, with the student's and the teacher's columns
    assert len(df) == len(link) == 265 and df.attrs["n_links"] == 265
    assert df["IDSTUD"].tolist() == link["IDSTUD"].astype(float).tolist()
    assert df["IDTEACH"].tolist() == link["IDTEACH"].astype(float).tolist()
    assert {"ASMMAT01", "MATWGT", "SCIWGT", "TCHWGT", "SCHWGT"} <= set(df.columns)   # the design's columns
    assert not {"ACBG05", "ASBH02", "ATBG04", "ASBG01"} & set(df.columns)             # the rest: when named
    df[["ACBG05", "ASBH02", "ATBG04", "ASBG01"]]                  # school, home, teacher and student files
    assert {"ACBG05", "ASBH02", "ATBG04", "ASBG01"} <= set(df.columns)
    assert df.attrs["observation"] == "student-teacher link" and df.attrs["n_students_unlinked"] == 0
    # link multiplicities: a student of class 301 has two maths teachers -> 3 rows, MATWGT = TOTWGT/2 each
    s = df[df["IDSTUD"] == 30101.0]
    assert len(s) == 3 and sorted(s["IDLINK"]) == [1.0, 1.0, 2.0]
    np.testing.assert_allclose(s.loc[s["IDLINK"] == 1, "MATWGT"].sum(), s["TOTWGT"].iloc[0], rtol=1e-12)
    # the student's weight is shared: per student, sum of MATWGT = sum of SCIWGT = sum of TCHWGT = TOTWGT
    g = df.groupby("IDSTUD")[["MATWGT", "SCIWGT", "TCHWGT", "TOTWGT"]].agg(
        {"MATWGT": "sum", "SCIWGT": "sum", "TCHWGT": "sum", "TOTWGT": "first"})
    for w in ("MATWGT", "SCIWGT", "TCHWGT"):   # 1e-9: the CSV keeps 10 significant digits (TOTWGT/3)
        np.testing.assert_allclose(g[w], g["TOTWGT"], rtol=1e-9)
    np.testing.assert_allclose(df["MATWGT"].sum(), stu["TOTWGT"].sum(), rtol=1e-12)
    # the maths teacher who also teaches science: the same IDTEACH on two links with their own rows of ATG
    t = df[(df["IDCLASS"] == 501.0)].drop_duplicates(["IDTEACH", "IDLINK"])
    assert t["IDTEACH"].nunique() == 1 and sorted(t["IDLINK"]) == [1.0, 2.0]
    # value labels and user-missing codes of every file survive, codes expanded to the link rows
    assert df.attrs["value_labels"]["ATBG04"][3.0] == "Bachelor"
    codes = df.attrs["missing_codes"]
    for col, code in (("ATBG04", 9.0), ("ACBG05", 99.0), ("ASBG01", 9.0), ("ASBH02", 99.0)):
        assert df.loc[codes[col].index, col].isna().all() and codes[col].eq(code).all()
    miss_teacher = raw["atgusam7"].set_index(["IDTEACH", "IDLINK"])["ATBG04"].eq(9)
    on_rows = miss_teacher.reindex(pd.MultiIndex.from_arrays([link["IDTEACH"], link["IDLINK"]])).to_numpy()
    assert len(codes["ATBG04"]) == int(on_rows.sum())
    # students without a home record: home columns missing, not dropped
    no_home = ~stu["IDSTUD"].isin(raw["ashusam7"]["IDSTUD"])
    assert df.loc[df["IDSTUD"].isin(stu.loc[no_home, "IDSTUD"]), "ASBH02"].isna().all() and no_home.sum() == 14


def test_teacher_weighted_percent_of_students_matches_survey(folder):
    ref = json.loads((REF / "survey_timss2019_links.json").read_text())
    df = read_study(folder, "TIMSS", 2019, files=["student", "school", "teacher", "home"], labels="codes")
    for weight, key in (("MATWGT", "math"), ("TCHWGT", "all")):
        d = link_design(df, weight=weight)
        assert d.observation_level == "student_teacher" and d.n == 265 and d.n_replicates == 12
        with pytest.warns(MissingDataWarning, match="excluded for missing values"):   # science links, code 9
            tab = lsa.percentages(d, "ATBG04").tidy().set_index("term")
        r = ref[key]
        terms = [str(float(c)) if str(float(c)) in tab.index else str(c) for c in r["category"]]
        np.testing.assert_allclose(tab.loc[terms, "estimate"], np.array(r["percent"]), rtol=1e-8)
        np.testing.assert_allclose(tab.loc[terms, "std_error"], np.array(r["se"]), rtol=1e-8)
    # the percentage of students is not the percentage of links: unweighted by the share it differs
    assert abs(ref["math"]["percent"][0] - ref["all"]["percent"][0]) > 0.5


def test_mean_score_by_teacher_variable_uses_the_link_weight(folder):
    """Mean of the student's score over maths-teacher links weighted by MATWGT = the mean over
    students of the students' scores (each student's weight split over its maths teachers)."""
    df = read_study(folder, "TIMSS", 2019, files=["student", "teacher"], columns=["ASMMAT", "ATBG01"])
    stu = _frames()["asgusam7"]
    d = link_design(df)                                               # TCHWGT: the dictionary's default
    assert d.weights["student_teacher"] == "TCHWGT"
    m = lsa.mean(link_design(df, weight="MATWGT"), "ASMMAT").tidy()
    pv = stu[[f"ASMMAT0{i}" for i in range(1, 6)]].to_numpy()
    expected = np.mean([np.average(pv[:, i], weights=stu["TOTWGT"]) for i in range(5)])
    np.testing.assert_allclose(m["estimate"].iloc[0], expected, rtol=1e-12)   # closed form
    assert "ACBG05" not in df.columns and {"ATBG01", "ASMMAT05", "MATWGT"} <= set(df.columns)


def test_grade8_math_teachers_keep_every_link(tmp_path):
    raw = _frames()
    g8 = {k.replace("a", "b", 1): v for k, v in raw.items() if k[:3] in ("asg", "acg", "ast")}
    LABELS.update({"bsg": LABELS["asg"], "bcg": LABELS["acg"], "bst": LABELS["ast"], "btm": LABELS["atg"]})
    teach = raw["atgusam7"]
    g8["btmusam7"] = teach[teach["IDLINK"] == 1].reset_index(drop=True)      # maths teachers only
    g8["bsgusam7"] = g8["bsgusam7"].rename(columns=lambda c: c.replace("ASMMAT", "BSMMAT"))
    _write(tmp_path, g8)
    df = read_study(tmp_path, "TIMSS", 2019, grade=8, files=["student", "school", "teacher_math"])
    assert len(df) == 265 and df.attrs["link_weights"] == {"teacher_math": "MATWGT"}
    sci = df["SCIWGT"] > 0                                              # science links: no BTM record
    assert df.loc[sci, "ATBG01"].isna().all() and df.loc[~sci, "ATBG01"].notna().all()
    assert df.loc[sci, "MATWGT"].eq(0).all()
    with pytest.raises(LsaError, match=r"files: \['home'\] are not file roles of TIMSS 2019 grade 8"):
        read_study(tmp_path, "TIMSS", 2019, grade=8, files=["student", "home"])


def test_link_file_with_unknown_students_or_teachers_is_refused(tmp_path):
    raw = _frames()
    stu = raw["asgusam7"]
    raw["asgusam7"] = stu[stu["IDSTUD"] != 10101].reset_index(drop=True)          # a linked student lost
    teach = raw["atgusam7"]
    raw["atgusam7"] = teach[~((teach["IDTEACH"] == 102) & (teach["IDLINK"] == 2))].reset_index(drop=True)
    _write(tmp_path, raw)
    with pytest.raises(StudyError, match=r"astusam7\.sav: 2 student-teacher links of 1 students have no record "
                                         r"in the student file.*IDSTUD': 10101.*allow_unmatched=True"):
        read_study(tmp_path, "TIMSS", 2019, files=["student", "teacher"])
    with pytest.warns(MissingDataWarning) as rec:
        df = read_study(tmp_path, "TIMSS", 2019, files=["student", "teacher"], allow_unmatched=True)
    text = " ".join(str(w.message) for w in rec)
    assert "2 student-teacher links of 1 students" in text
    n_lost = int(((raw["astusam7"]["IDTEACH"] == 102) & (raw["astusam7"]["IDSTUD"] != 10101)).sum())
    assert f"{n_lost} student-teacher links (to 1 teachers) with a positive TCHWGT" in text
    assert len(df) == 265 - 2 and df.loc[df["IDTEACH"] == 102, "ATBG01"].isna().all()


def test_two_cycles_in_one_folder(tmp_path):
    raw = _frames()
    _write(tmp_path, raw)
    _write(tmp_path, {"asgusam6": raw["asgusam7"]}, suffix="m6")
    shutil.move(tmp_path / "asgusam6.sav", tmp_path / "asgautm6.sav")
    with pytest.raises(StudyError, match=r"holds the files of 2 cycles: TIMSS 2015 \(1 files, e.g. asgautm6.sav\); "
                                         r"TIMSS 2019 \(5 files"):
        read_study(tmp_path, "TIMSS", 2019, files=["student", "school", "teacher", "home"])


def test_missing_teacher_file_and_bad_files_argument(folder):
    (folder / "atgusam7.sav").unlink()
    with pytest.raises(StudyError, match=r"no teacher file \('atg\{cnt\}\{suffix\}.sav'\) for countries \['USA'\]"):
        read_study(folder, "TIMSS", 2019, files=["student", "teacher"])
    with pytest.raises(LsaError, match=r"files must be a list of file roles"):
        read_study(folder, "TIMSS", 2019, files=[1])
    with pytest.raises(LsaError, match=r"link_design needs a frame read by lsa.io.read_study with a teacher file"):
        link_design(read_study(folder, "TIMSS", 2019))


def test_file_names_match_their_roles():
    assert [(m["role"], m["grade"]) for m in match_filename("btmusam7.sav")] == [("teacher_math", 8)]
    assert [(m["role"], m["grade"]) for m in match_filename("ATGUSAM7.SAV")] == [("teacher", 4)]
    assert [(m["study"], m["role"]) for m in match_filename("astusar5.sav")] == [("pirls", "teacher_link")]
