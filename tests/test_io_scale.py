"""Reading at scale (issue 16 item 1): Parquet copies, parallel and chunked reads, memory checks,
nearest names, categoricals from codes, progress bars.

Oracle: the direct read of the same SPSS/Stata file by lsa's pyreadstat reader (``read_spss`` on
the ``.sav``): a Parquet copy must give the *identical* frame and metadata (exact equality, no
tolerance: the same codes pass through the same finishing rule), and so must a parallel read. The
memory estimate is checked against its closed form (rows x columns x 8 bytes x peak 2).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from lsa.cli import main as cli_main
from lsa.errors import NotEnoughMemoryError, ReadError
from lsa.io import ColumnNotFoundError, describe, read_spss, read_stata, read_study, to_parquet
from lsa.io_memory import MEMORY_ENV, available_memory, row_bytes
from lsa.io_parquet import parquet_header, read_parquet

DATA = Path(__file__).parent / "data"
STU, SCH = DATA / "STU_USA_2018.sav", DATA / "SCH_USA_2018.sav"


def assert_same_read(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Frames and metadata identical (exact), except attrs['source'], which names the file read."""
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    for key in ("labels", "value_labels", "missing_declared"):
        assert dict(a.attrs[key]) == dict(b.attrs[key]), key
    assert list(a.attrs["missing_codes"]) == list(b.attrs["missing_codes"])
    for c, s in a.attrs["missing_codes"].items():
        pd.testing.assert_series_equal(s, b.attrs["missing_codes"][c], check_exact=True)


def _synthetic_sav(path: Path, n: int = 2_500, seed: int = 0) -> Path:
    """Labels, discrete and range user-missing codes, strings, a labelled string column, NaN."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"IDSTUD": np.arange(1, n + 1, dtype=float),
                       "Q1": rng.choice([1.0, 2.0, 3.0, 8.0, 9.0, np.nan], n),
                       "SCORE": np.round(rng.normal(500, 100, n), 3),
                       "INCOME": rng.choice([10.0, 20.0, 997.0, 998.0, 999.0], n),
                       "CNT": rng.choice(["AUT", "BEL", "CAN"], n),
                       "ANSWER": rng.choice(["y", "n", "x"], n)})
    pyreadstat.write_sav(df, str(path), column_labels=["Student id", "Question 1", "A score", "Income", "Country",
                                                       "Answer"],
                         variable_value_labels={"Q1": {1.0: "Agree", 2.0: "Neutral", 3.0: "Disagree", 8.0: "Invalid",
                                                       9.0: "Omitted"},
                                                "ANSWER": {"y": "Yes", "n": "No", "x": "No answer"},
                                                "INCOME": {997.0: "Refused"}},
                         missing_ranges={"Q1": [8.0, 9.0], "INCOME": [{"lo": 997.0, "hi": 999.0}],
                                         "ANSWER": ["x"]})
    return path


READ_OPTIONS = [dict(), dict(labels="codes"), dict(labels="strings"), dict(user_missing=False),
                dict(labels="codes", user_missing=False)]


# -- Parquet round trips -----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["STU_USA_2018.sav", "SCH_USA_2018.sav"])
def test_bundled_spss_files_round_trip_through_parquet(tmp_path, name):
    src = DATA / name
    out = to_parquet(src, tmp_path / "copy.parquet", chunksize=1_000, progress=False)   # several chunks
    meta = parquet_header(out)
    assert meta.number_rows == pyreadstat.read_sav(str(src), metadataonly=True)[1].number_rows
    for kw in READ_OPTIONS:
        assert_same_read(read_spss(src, **kw), read_parquet(out, **kw))
    some = ["ITSEX", "BSMMAT03", "IDSTUD", "BSBGHER"] if name.startswith("STU") else ["SCHWGT", "IDSCHOOL"]
    assert_same_read(read_spss(src, columns=some), read_parquet(out, columns=[c.lower() for c in some]))


def test_synthetic_file_with_strings_and_ranges_round_trips(tmp_path):
    src = _synthetic_sav(tmp_path / "syn.sav")
    out = to_parquet(src, tmp_path / "syn.parquet", chunksize=333, progress=False)
    for kw in READ_OPTIONS:
        assert_same_read(read_spss(src, **kw), read_parquet(out, **kw))
    direct = read_spss(src)
    assert direct.attrs["missing_codes"]["INCOME"].isin([997.0, 998.0, 999.0]).all()      # the oracle has codes
    assert list(direct["Q1"].cat.categories) == ["Agree", "Neutral", "Disagree"]
    sub = to_parquet(src, tmp_path / "sub.parquet", columns=["income", "Q1"], progress=False)
    assert parquet_header(sub).column_names == ["Q1", "INCOME"]                              # file order
    assert_same_read(read_spss(src, columns=["Q1", "INCOME"]), read_parquet(sub))


def test_stata_file_round_trips(tmp_path):
    src = tmp_path / "x.dta"
    df = pd.DataFrame({"sex": [1, 2, 1, 2], "x": [0.1, np.nan, 0.3, 0.4], "s": ["a", "b", "c", "d"]})
    pyreadstat.write_dta(df, str(src), column_labels=["Sex", "X", "S"],
                         variable_value_labels={"sex": {1: "Female", 2: "Male"}})
    out = to_parquet(src, tmp_path / "x.parquet", progress=False)
    for kw in READ_OPTIONS:
        assert_same_read(read_stata(src, **kw), read_parquet(out, **kw))


def test_parquet_read_touches_only_the_requested_columns(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    src = _synthetic_sav(tmp_path / "syn.sav")
    out = to_parquet(src, tmp_path / "syn.parquet", chunksize=700, progress=False)     # 4 row groups
    asked = []
    real_group, real_table = pq.ParquetFile.read_row_group, pq.read_table

    def spy_group(self, i, columns=None, **kw):
        asked.append(tuple(columns))
        return real_group(self, i, columns=columns, **kw)

    def spy_table(source, columns=None, **kw):
        asked.append(tuple(columns))
        return real_table(source, columns=columns, **kw)

    monkeypatch.setattr(pq.ParquetFile, "read_row_group", spy_group)
    monkeypatch.setattr(pq, "read_table", spy_table)
    df = read_parquet(out, columns=["ANSWER", "SCORE", "Q1"])
    assert sorted(set(asked)) == [("ANSWER",), ("SCORE", "Q1")] and asked.count(("SCORE", "Q1")) == 4
    assert list(df.columns) == ["ANSWER", "SCORE", "Q1"]
    monkeypatch.undo()
    assert_same_read(read_spss(src, columns=["ANSWER", "SCORE", "Q1"]), df)


def test_cli_convert_round_trips(tmp_path, capsys):
    target = tmp_path / "stu.parquet"
    assert cli_main(["convert", str(STU), str(target), "--quiet"]) == 0
    assert f"parquet: {target}" in capsys.readouterr().out
    assert_same_read(read_spss(STU), read_parquet(target))
    assert cli_main(["convert", str(STU), str(tmp_path / "two.parquet"), "--columns", "ITSEX,IDSTUD", "TOTWGT",
                     "--quiet"]) == 0
    assert parquet_header(tmp_path / "two.parquet").column_names == ["IDSTUD", "TOTWGT", "ITSEX"]
    assert cli_main(["convert", str(STU), str(tmp_path / "bad.parquet"), "--columns", "ITSEXX"]) == 2
    err = capsys.readouterr().err
    assert "ITSEXX -> ['ITSEX'" in err and "STU_USA_2018.sav" in err and not (tmp_path / "bad.parquet").exists()


def test_read_study_reads_a_folder_of_parquet_copies(tmp_path):
    sav, pq_dir = tmp_path / "sav", tmp_path / "pq"
    sav.mkdir()
    pq_dir.mkdir()
    shutil.copy(STU, sav / "bsgusam7.sav")
    shutil.copy(SCH, sav / "bcgusam7.sav")
    to_parquet(sav / "bsgusam7.sav", pq_dir / "bsgusam7.parquet", progress=False)
    to_parquet(sav / "bcgusam7.sav", pq_dir / "bcgusam7.parquet", progress=False)
    kw = dict(grade=8, columns=["BSMMAT", "ITSEX"], school_columns=["BCBG03A"])
    assert_same_read(read_study(sav, "timss", 2019, **kw), read_study(pq_dir, "timss", 2019, **kw))
    assert_same_read(read_study(sav, "timss", 2019, grade=8), read_study(pq_dir, "timss", 2019, grade=8))
    # a Parquet copy beside the .sav is the file read
    shutil.copy(pq_dir / "bsgusam7.parquet", sav / "bsgusam7.parquet")
    assert "bsgusam7.parquet" in read_study(sav, "timss", 2019, **kw).attrs["source"]


# -- parallel and chunked reads ----------------------------------------------------------------
def test_parallel_read_equals_serial(tmp_path):
    assert_same_read(read_spss(STU), read_spss(STU, n_jobs=2))
    assert_same_read(read_spss(STU, columns=["ITSEX", "BSMMAT01"]), read_spss(STU, columns=["ITSEX", "BSMMAT01"],
                                                                             n_jobs=-1))
    src = _synthetic_sav(tmp_path / "syn.sav", n=5_001)
    assert_same_read(read_spss(src), read_spss(src, n_jobs=2))
    a = to_parquet(src, tmp_path / "a.parquet", chunksize=1_000, progress=False)
    b = to_parquet(src, tmp_path / "b.parquet", chunksize=1_000, n_jobs=2, progress=False)
    assert_same_read(read_parquet(a), read_parquet(b))


# -- memory ------------------------------------------------------------------------------------
def test_memory_estimate_is_checked_before_reading(monkeypatch):
    n_rows, n_cols = 7986, 31
    need_all = n_rows * n_cols * 8 * 2                                  # closed form: float64, peak 2x
    monkeypatch.setenv(MEMORY_ENV, str(need_all - 1))
    with pytest.raises(NotEnoughMemoryError) as info:
        read_spss(STU)
    msg = str(info.value)
    assert f"{n_rows:,} rows x {n_cols:,} columns" in msg and "Select fewer columns" in msg and "Parquet" in msg
    assert "about 1.9 MB" in msg and "about 3.8 MB at its peak" in msg    # 1,980,528 B and 2x that
    monkeypatch.setenv(MEMORY_ENV, str(need_all))
    assert read_spss(STU).shape == (n_rows, n_cols)                     # exactly enough
    monkeypatch.setenv(MEMORY_ENV, str(n_rows * 3 * 8 * 2))
    assert read_spss(STU, columns=["IDSTUD", "ITSEX", "TOTWGT"]).shape == (n_rows, 3)


def test_memory_limit_text_and_row_bytes(monkeypatch):
    monkeypatch.setenv(MEMORY_ENV, "1.5G")
    assert available_memory() == int(1.5 * 1024 ** 3)
    monkeypatch.delenv(MEMORY_ENV)
    assert available_memory() > 0                                       # /proc/meminfo on this machine
    assert row_bytes(["a", "b", "s"], {"a": "double", "b": "double", "s": "string"}, {"s": 10}) == 8 + 8 + 10 + 57


def test_read_study_checks_memory_of_all_countries_first(tmp_path, monkeypatch):
    shutil.copy(STU, tmp_path / "bsgusam7.sav")
    shutil.copy(SCH, tmp_path / "bcgusam7.sav")
    monkeypatch.setenv(MEMORY_ENV, "100K")
    with pytest.raises(NotEnoughMemoryError, match=r"read_study: the student files of 1 country: .*7,986 rows"):
        read_study(tmp_path, "timss", 2019, grade=8)


# -- names, dtypes, progress -------------------------------------------------------------------
def test_unknown_column_lists_the_nearest_names(tmp_path):
    with pytest.raises(ColumnNotFoundError, match=r"STU_USA_2018.sav: columns not found: \['BSMMAT1'\]\. "
                                                  r"Nearest names in the file: BSMMAT1 -> \['BSMMAT01'"):
        read_spss(STU, columns=["IDSTUD", "BSMMAT1"])
    out = to_parquet(STU, tmp_path / "s.parquet", progress=False)
    with pytest.raises(ColumnNotFoundError, match=r"s.parquet: .*ITSX -> \['ITSEX'\]"):
        read_parquet(out, columns=["ITSX"])
    shutil.copy(STU, tmp_path / "bsgusam7.sav")
    shutil.copy(SCH, tmp_path / "bcgusam7.sav")
    with pytest.raises(ColumnNotFoundError, match=r"BCBG03 -> \['BCBG03A'"):
        read_study(tmp_path, "timss", 2019, grade=8, columns=["BSMMAT", "BCBG03"])


def test_categoricals_built_from_codes_equal_the_label_strings_route():
    """The memory-lean construction (integer codes, no column of label strings) gives the same
    categorical as mapping every code to its label and categorising the strings."""
    codes = read_spss(STU, labels="codes")
    cats = read_spss(STU)
    n_cat = 0
    for c in cats.columns:
        if isinstance(cats[c].dtype, pd.CategoricalDtype):
            n_cat += 1
            cats_order = list(cats[c].cat.categories)
            vl = codes.attrs["value_labels"][c]
            label = {k: v for k, v in vl.items() if str(v) in cats_order}
            expect = pd.Categorical(codes[c].map(label), categories=cats_order)
            pd.testing.assert_series_equal(cats[c], pd.Series(expect, name=c), check_exact=True)
            assert cats[c].cat.codes.dtype == np.int8                 # one byte per row
    assert n_cat >= 5


def test_progress_bars(tmp_path, capsys):
    to_parquet(STU, tmp_path / "a.parquet", chunksize=2_000, progress=True)
    err = capsys.readouterr().err
    assert "converting STU_USA_2018.sav" in err and "4/4" in err
    to_parquet(STU, tmp_path / "b.parquet", chunksize=2_000, progress=False)
    assert capsys.readouterr().err == ""


def test_plain_parquet_files_are_read_without_labels(tmp_path):
    """A Parquet file written by another tool (no lsa metadata) is read as plain columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "plain.parquet"
    pq.write_table(pa.table({"a": [1.0, 2.0], "b": ["x", "y"]}), str(path))
    df = read_parquet(path)
    assert df["a"].tolist() == [1.0, 2.0] and df["b"].tolist() == ["x", "y"] and dict(df.attrs["labels"]) == {}
    with pytest.raises(ReadError, match=r"plain\.parquet: lsa reads SPSS .* \(read Parquet copies with "
                                        r"lsa\.io\.read_parquet\)"):
        describe(path)
