"""Readers: labels, user-missing codes, column selection, study folders, describe."""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from lsa.dictionaries import design_from_study
from lsa.errors import LsaWarning, StudyError
from lsa.io import (ColumnNotFoundError, describe, match_filename, read_spss, read_stata, read_study,
                    restore_missing)

DATA = Path(__file__).parent / "data"
STU, SCH = DATA / "STU_USA_2018.sav", DATA / "SCH_USA_2018.sav"


# -- real SPSS files ---------------------------------------------------------------------------
def test_read_real_spss_labels_and_missing():
    df = read_spss(STU)
    assert df.shape == (7986, 31)
    assert isinstance(df["ITSEX"].dtype, pd.CategoricalDtype)
    assert list(df["ITSEX"].cat.categories) == ["Female", "Male"]     # 9 = "Omitted or invalid" is missing
    assert df["ITSEX"].isna().sum() == 2
    codes = df.attrs["missing_codes"]["ITSEX"]
    assert codes.tolist() == [9.0, 9.0] and df.loc[codes.index, "ITSEX"].isna().all()
    # labels only for the missing code: the column stays numeric
    assert df["BSMMAT01"].dtype == float and df["IDSCHOOL"].dtype == float and df["BSBGHER"].dtype == float
    assert df.attrs["missing_codes"]["BSBGHER"].eq(999999).all()
    assert "Don't Know" in df["BSDGEDUP"].cat.categories                # a valid labelled code stays
    assert df.attrs["labels"]["BSMMAT01"] == "1ST PLAUSIBLE VALUE MATHEMATICS"
    assert df.attrs["value_labels"]["ITSEX"][9.0] == "Omitted or invalid"
    assert df.attrs["missing_declared"]["ITSEX"] == [{"lo": 9.0, "hi": 9.0}]


def test_restore_missing_and_attrs_are_shared():
    df = read_spss(STU, columns=["ITSEX", "BSBGHER", "IDSTUD"])
    back = restore_missing(df)
    assert (back["ITSEX"] == "Omitted or invalid").sum() == 2
    assert (back["BSBGHER"] == 999999).sum() == len(df.attrs["missing_codes"]["BSBGHER"]) > 0
    sub = df[df["IDSTUD"] > 0]
    assert sub.attrs["missing_codes"] is df.attrs["missing_codes"]   # not deep-copied
    with pytest.raises(TypeError):
        df.attrs["labels"]["ITSEX"] = "x"


def test_codes_strings_and_user_missing_off():
    codes = read_spss(STU, columns=["itsex", "bsmmat01"], labels="codes")
    assert list(codes.columns) == ["ITSEX", "BSMMAT01"]               # case-insensitive, file spelling
    assert codes["ITSEX"].dtype == float and codes["ITSEX"].isna().sum() == 2
    strings = read_spss(STU, columns=["ITSEX"], labels="strings")
    assert set(strings["ITSEX"].dropna()) == {"Female", "Male"}
    raw = read_spss(STU, columns=["ITSEX"], user_missing=False, labels="codes")
    assert (raw["ITSEX"] == 9).sum() == 2 and not raw.attrs["missing_codes"]
    cat = read_spss(STU, columns=["ITSEX"], user_missing=False)       # the missing code is a category then
    assert (cat["ITSEX"] == "Omitted or invalid").sum() == 2
    with pytest.raises(ColumnNotFoundError, match="NOPE"):
        read_spss(STU, columns=["IDSTUD", "NOPE"])


def test_written_spss_with_ranges_and_strings(tmp_path):
    df = pd.DataFrame({"q1": [1.0, 2.0, 8.0, 9.0, np.nan], "score": [0.5, 97.0, 1.5, 99.0, 2.0],
                       "name": ["a", "b", "c", "d", "e"]})
    path = tmp_path / "x.sav"
    pyreadstat.write_sav(df, str(path), column_labels=["Question 1", "A score", "Name"],
                         variable_value_labels={"q1": {1.0: "Yes", 2.0: "No", 8.0: "Invalid", 9.0: "Missing"}},
                         missing_ranges={"q1": [8.0, 9.0], "score": [{"lo": 97.0, "hi": 99.0}]})
    out = read_spss(path)
    assert out["q1"].tolist()[:2] == ["Yes", "No"] and out["q1"].isna().sum() == 3
    assert out.attrs["missing_codes"]["q1"].tolist() == [8.0, 9.0]
    assert out["score"].isna().sum() == 2 and out.attrs["missing_codes"]["score"].tolist() == [97.0, 99.0]
    assert out.attrs["labels"] == {"q1": "Question 1", "score": "A score", "name": "Name"}


def test_read_stata(tmp_path):
    df = pd.DataFrame({"sex": [1, 2, 1], "x": [0.1, 0.2, 0.3]})
    path = tmp_path / "x.dta"
    pyreadstat.write_dta(df, str(path), column_labels=["Sex", "X"],
                         variable_value_labels={"sex": {1: "Female", 2: "Male"}})
    out = read_stata(path)
    assert out["sex"].tolist() == ["Female", "Male", "Female"] and out.attrs["labels"]["x"] == "X"


# -- study folders -----------------------------------------------------------------------------
def _timss_files(folder: Path, cnt: str, idcntry: int, n_schools=3, per=4, grade="b", suffix="m7", seed=0):
    rng = np.random.default_rng(seed)
    n = n_schools * per
    root = "BSMMAT" if grade == "b" else "ASMMAT"
    stu = pd.DataFrame({"IDCNTRY": float(idcntry), "IDSCHOOL": np.repeat(np.arange(1, n_schools + 1), per).astype(float),
                        "IDSTUD": np.arange(1, n + 1, dtype=float), "TOTWGT": rng.uniform(5, 10, n),
                        "JKZONE": np.repeat(np.arange(1, n_schools + 1), per).astype(float),
                        "JKREP": np.tile([0.0, 1.0], n // 2), "ITSEX": rng.choice([1.0, 2.0, 9.0], n)})
    for m in range(1, 6):
        stu[f"{root}0{m}"] = rng.normal(500, 100, n)
    sch = pd.DataFrame({"IDCNTRY": float(idcntry), "IDSCHOOL": np.arange(1, n_schools + 1, dtype=float),
                        "SCHWGT": rng.uniform(1, 3, n_schools), "BCBG01": [100.0, 999999.0, 300.0][:n_schools]})
    pyreadstat.write_sav(stu, str(folder / f"{grade}sg{cnt}{suffix}.sav"),
                         variable_value_labels={"ITSEX": {1.0: "Female", 2.0: "Male", 9.0: "Omitted or invalid"}},
                         missing_ranges={"ITSEX": [9.0]})
    pyreadstat.write_sav(sch, str(folder / f"{grade}cg{cnt.upper()}{suffix.upper()}.SAV"),
                         missing_ranges={"BCBG01": [999999.0]})
    return stu, sch


def test_read_study_timss(tmp_path):
    _timss_files(tmp_path, "aut", 40, seed=1)
    _timss_files(tmp_path, "deu", 276, n_schools=2, seed=2)
    df = read_study(tmp_path, "timss", 2019, grade=8)
    assert len(df) == 12 + 8 and set(df["IDCNTRY"]) == {40.0, 276.0}
    assert df["SCHWGT"].notna().all() and not {"BCBG01", "ITSEX"} & set(df.columns)   # the design's columns only
    assert df["BCBG01"].notna().sum() == 12 and "BCBG01" in df.columns    # read from the school files when named
    df["ITSEX"]                                                            # ... and from the student files
    assert df.attrs["study"] == "timss" and df.attrs["grade"] == 8
    # the school file's missing code is expanded to the students of that school
    bc = df.attrs["missing_codes"]["BCBG01"]
    assert bc.eq(999999.0).all() and df.loc[bc.index, "IDSCHOOL"].eq(2.0).all() and len(bc) == 4 + 4
    ix = df.attrs["missing_codes"]["ITSEX"].index
    assert df.loc[ix, "ITSEX"].isna().all() and df["ITSEX"].isna().sum() == len(ix)
    one = read_study(tmp_path, "timss", "2019", countries=["DEU"], columns=["BSMMAT", "itsex"])
    assert len(one) == 8 and {"BSMMAT01", "BSMMAT05", "ITSEX", "TOTWGT", "JKZONE", "JKREP", "SCHWGT"} <= set(one.columns)
    assert "BCBG01" not in one.columns                                   # grade inferred from the files
    d = design_from_study("timss", 2019, one)
    assert d.n_replicates == 4 and d.pvs["BSMMAT"][0] == "BSMMAT01"
    with pytest.raises(StudyError, match=r"countries \['FRA'\].*found: \['AUT', 'DEU'\]"):
        read_study(tmp_path, "timss", 2019, countries=["fra"])


def test_read_study_unmatched_school(tmp_path):
    stu, sch = _timss_files(tmp_path, "aut", 40)
    sch = sch[sch.IDSCHOOL != 3]
    (tmp_path / "bcgAUTM7.SAV").unlink()
    pyreadstat.write_sav(sch, str(tmp_path / "bcgautm7.sav"))
    with pytest.raises(StudyError, match=r"4 students in 1 schools have no record.*IDSCHOOL': 3\.0"):
        read_study(tmp_path, "timss", 2019)


def test_read_study_unverified_suffix_falls_back(tmp_path):
    _timss_files(tmp_path, "aut", 40, grade="a", suffix="m9")
    with pytest.warns(LsaWarning, match="unverified"):
        df = read_study(tmp_path, "timss", 2011, grade=4)
    assert "ASMMAT01" in df.columns


def test_read_study_real_files(tmp_path):
    shutil.copy(STU, tmp_path / "bsgusam7.sav")
    shutil.copy(SCH, tmp_path / "bcgusam7.sav")
    df = read_study(tmp_path, "timss", 2019, grade=8, columns=["BSMMAT", "ITSEX"], school_columns=["BCBG03A"])
    assert len(df) == 7986 and df["SCHWGT"].notna().all() and "BCBG03A" in df.columns
    assert isinstance(df["ITSEX"].dtype, pd.CategoricalDtype)
    with pytest.raises(StudyError, match="JKZONE, JKREP"):                 # no jackknife variables in this file
        design_from_study("timss", 2019, df)


def test_read_study_pisa(tmp_path):
    rng = np.random.default_rng(3)
    n = 12
    stu = pd.DataFrame({"CNT": np.repeat(["AUT", "BEL", "CAN"], 4), "CNTSCHID": np.repeat([1.0, 2.0, 3.0], 4),
                        "CNTSTUID": np.arange(n, dtype=float), "W_FSTUWT": rng.uniform(1, 2, n)})
    for r in range(1, 81):
        stu[f"W_FSTURWT{r}"] = stu.W_FSTUWT * rng.choice([0.5, 1.5], n)
    for m in range(1, 11):
        stu[f"PV{m}MATH"] = rng.normal(500, 90, n)
    sch = pd.DataFrame({"CNT": ["AUT", "BEL", "CAN"], "CNTSCHID": [1.0, 2.0, 3.0], "W_SCHGRNRABWT": [2.0, 3.0, 4.0],
                        "SC001Q01TA": [1.0, 2.0, 3.0]})
    pyreadstat.write_sav(stu, str(tmp_path / "CY6_MS_CMB_STU_QQQ.sav"))
    pyreadstat.write_sav(sch, str(tmp_path / "cy6_ms_cmb_sch_qqq.sav"))
    df = read_study(tmp_path, "pisa", 2015, countries=["bel", "CAN"], columns=["MATH", "SC001Q01TA"])
    assert len(df) == 8 and set(df.CNT) == {"BEL", "CAN"} and "SC001Q01TA" in df.columns
    assert "PV10MATH" in df.columns and "W_FSTURWT80" in df.columns
    d = design_from_study("pisa", 2015, df)
    # two countries: the 80 replicates are nested within CNT (issue 12), 80 per country
    assert d.weights == {"school": "W_SCHGRNRABWT", "student": "W_FSTUWT"} and d.n_replicates == 2 * 80
    with pytest.raises(StudyError, match=r"countries \['FRA'\] not in the file"):
        read_study(tmp_path, "pisa", 2015, countries=["FRA"])


def test_read_study_pisa_text_cycles_need_conversion(tmp_path):
    (tmp_path / "INT_stui_2003_v2.txt").write_text("x")
    with pytest.raises(StudyError, match="no student file"):
        read_study(tmp_path, "pisa", 2003)


# -- describe ---------------------------------------------------------------------------------
def test_describe(tmp_path):
    shutil.copy(STU, tmp_path / "BSGUSAM7.sav")
    desc = describe(tmp_path / "BSGUSAM7.sav")
    assert desc.n_rows == 7986 and desc.n_columns == 31 and desc.file_type == "SPSS"
    v = desc.variables.set_index("name")
    assert v.loc["ITSEX", "missing"] == "9" and v.loc["ITSEX", "n_value_labels"] == 3
    assert v.loc["BSMMAT01", "label"] == "1ST PLAUSIBLE VALUE MATHEMATICS"
    assert desc.matches == [dict(study="timss", cycle="2019", grade=8, role="student", country="USA",
                                 unverified=False)]
    text = str(desc)
    assert "matches TIMSS 2019 grade 8, student file, country USA" in text and "ITSEX" in text
    assert describe(STU).matches == []


def test_match_filename():
    assert match_filename("CY08MSP_STU_QQQ.SAV")[0]["cycle"] == "2022"
    m = match_filename("asgautm5.sav")[0]
    assert (m["study"], m["cycle"], m["grade"], m["unverified"]) == ("timss", "2011", 4, True)
    assert match_filename("prgbelp1.sav")[0]["study"] == "piaac"
    assert match_filename("ASGUSAR5.sav")[0]["study"] == "pirls"


def test_read_study_piaac_one_file_per_country(tmp_path):
    from lsa.datasets import load

    rus = load("piaac2012_rus").head(200)
    num = rus.select_dtypes("number")
    pyreadstat.write_sav(num.assign(VEMETHOD="JK2"), str(tmp_path / "prgrusp1.sav"))
    df = read_study(tmp_path, "piaac", 2012, columns=["PVLIT"])
    assert len(df) == 200 and "PVLIT10" in df.columns and "SPFWT12" in df.columns and "PVNUM1" not in df.columns
    d = design_from_study("piaac", 2012, df)
    assert d.n_replicates == 12
