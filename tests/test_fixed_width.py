"""PISA 2000-2012 fixed-width text files with their OECD SPSS/SAS read-in syntax (lsa.io.read_fixed).

Oracle: the same synthetic PISA 2009 student data written (a) as fixed-width text with an SPSS
``DATA LIST`` syntax and with a SAS ``INPUT`` syntax in the layout of the OECD files
(``INT_STQ09_DEC11.txt``, ``PISA2009_SPSS_student.txt``: text ``(A)`` fields, ``(F,d)`` numbers with
coded and with implied decimals, value labels, ``MISSING VALUES`` codes and ranges, blanks) and (b)
as an SPSS ``.sav`` file written by pyreadstat with the same labels and missing ranges. The text
route must give the frame :func:`lsa.io.read_spss` gives for the ``.sav`` (pandas
``assert_frame_equal``, exact: implied decimals are a division by 10^d, correctly rounded), and the
same ``df.attrs`` metadata. Implied decimals follow the IBM SPSS DATA LIST rule ("a coded decimal
point overrides the number of implied decimal places").
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyreadstat
import pytest
from pandas.testing import assert_frame_equal

from lsa.errors import LsaError, ReadError, StudyError
from lsa.io import read_spss, read_study
from lsa.io_fixed import read_fixed
from lsa.io_readers import ColumnNotFoundError

N = 40
# name, width, kind ("A" text, "F" number with coded decimals, "I" number with implied decimals), decimals
_LAYOUT = ([("CNT", 3, "A", 0), ("COUNTRY", 3, "A", 0), ("OECD", 1, "A", 0), ("SUBNATIO", 5, "A", 0),
            ("SCHOOLID", 5, "A", 0), ("StIDStd", 5, "A", 0), ("ST01Q01", 2, "F", 0), ("ST03Q02", 2, "A", 0),
            ("ST04Q01", 1, "F", 0), ("ST06Q01", 5, "F", 0), ("AGE", 6, "F", 2), ("ESCS", 9, "F", 4)]
           + [(f"PV{m}{d}", 8, "F", 4) for d in ("MATH", "READ") for m in range(1, 6)]
           + [("W_FSTUWT", 9, "I", 4)] + [(f"W_FSTR{r}", 9, "I", 4) for r in range(1, 81)]
           + [("WVARSTRR", 2, "F", 0), ("RANDUNIT", 1, "F", 0), ("VER_STU", 13, "A", 0)])
_LABELS = {"CNT": "Country code 3-character", "SCHOOLID": "School ID 5-digit", "ST01Q01": "Grade",
           "ST03Q02": "Birth Month", "ST04Q01": "Sex", "AGE": "Age of student", "PV1MATH": "Plausible value in math",
           "ESCS": "Index of economic, social and cultural status (WLE)", "W_FSTUWT": "FINAL STUDENT WEIGHT"}
_VALUE_LABELS = {"ST01Q01": {96.0: "Ungraded", 97.0: "N/A", 98.0: "Invalid", 99.0: "Miss"},
                 "ST03Q02": {"97": "N/A", "98": "Invalid", "99": "Miss"},
                 "ST04Q01": {1.0: "Female", 2.0: "Male", 7.0: "N/A", 8.0: "Invalid", 9.0: "Miss"},
                 "SUBNATIO": {"03600": "Australia", "04000": "Austria"}}
_MISSING = {"ST01Q01": [{"lo": 96.0, "hi": 99.0}], "ST03Q02": [{"lo": v, "hi": v} for v in ("97", "98", "99")],
            "ST04Q01": [{"lo": v, "hi": v} for v in (7.0, 8.0, 9.0)],
            "AGE": [{"lo": v, "hi": v} for v in (97.0, 98.0, 99.0)],
            "ESCS": [{"lo": v, "hi": v} for v in (9997.0, 9998.0, 9999.0)]}


def _positions():
    pos, out = 1, {}
    for name, w, kind, d in _LAYOUT:
        out[name] = (pos, pos + w - 1, kind, d)
        pos += w
    return out


def _truth(seed=15) -> pd.DataFrame:
    """The values as SPSS holds them (codes before user-missing handling; NaN = blank field)."""
    rng = np.random.default_rng(seed)
    cnt = np.repeat(["AUS", "AUT"], N // 2)
    school = np.array([f"{(i // 7) + 1:05d}" for i in range(N)])
    d = {"CNT": cnt, "COUNTRY": np.where(cnt == "AUS", "036", "040"), "OECD": np.full(N, "1"),
         "SUBNATIO": np.where(cnt == "AUS", "03600", "04000"), "SCHOOLID": school,
         "StIDStd": np.array([f"{i + 1:05d}" for i in range(N)])}
    d["ST01Q01"] = rng.choice([9.0, 10.0, 11.0, 96.0, 99.0], N)
    d["ST03Q02"] = rng.choice(["01", "07", "12", "97", "99"], N)
    d["ST04Q01"] = rng.choice([1.0, 2.0, 2.0, 1.0, 7.0, 9.0], N)
    st06 = rng.integers(4, 8, N).astype(float)
    st06[rng.random(N) < 0.2] = np.nan                                # blank fields: system-missing
    d["ST06Q01"] = st06
    d["AGE"] = np.where(rng.random(N) < 0.1, 97.0, np.round(rng.uniform(15.25, 16.33, N), 2))
    d["ESCS"] = np.where(rng.random(N) < 0.1, 9997.0, np.round(rng.normal(0, 1, N), 4))
    for dom in ("MATH", "READ"):
        for m in range(1, 6):
            d[f"PV{m}{dom}"] = np.round(rng.normal(500, 90, N).clip(150, 950), 4)
    w = rng.integers(50_000, 400_000, N)                              # weights in 1e-4: implied decimals
    d["W_FSTUWT"] = w / 10 ** 4
    for r in range(1, 81):
        d[f"W_FSTR{r}"] = (w * rng.choice([0, 2], N) // 1) / 10 ** 4 if r % 2 else w / 10 ** 4
    d["WVARSTRR"] = (np.arange(N) // 7 % 80 + 1).astype(float)
    d["RANDUNIT"] = rng.integers(1, 3, N).astype(float)
    d["VER_STU"] = np.full(N, "INT09 DEC11")
    return pd.DataFrame(d)


def _text(df: pd.DataFrame, pos=None) -> str:
    pos = pos or _positions()
    lines = []
    for _, row in df.iterrows():
        parts = []
        for name, (a, b, kind, dec) in pos.items():
            w, v = b - a + 1, row[name]
            if kind == "A":
                parts.append(f"{v:<{w}}")
            elif pd.isna(v):
                parts.append(" " * w)
            elif kind == "I":
                parts.append(f"{int(round(v * 10 ** dec)):>{w}d}")
            else:
                parts.append(f"{v:>{w}.{dec}f}")
        lines.append("".join(parts))
    return "\r\n".join(lines) + "\r\n"


def _spss_syntax(data_name="INT_STQ09_DEC11.txt", pos=None) -> str:
    pos = pos or _positions()
    out = ["* PISA 2009 student questionnaire: read-in syntax (synthetic, OECD layout).",
           "* Write the location of the ASCII txt file below, in the DATA LIST command.", "",
           "SET decimal dot.", "", f'DATA LIST FILE "C:\\XXX\\{data_name}" / ']
    for name, (a, b, kind, dec) in pos.items():
        fmt = "(A)" if kind == "A" else f"(F,{dec})"
        out.append(f"  {name:<10} {a:>5}  -  {b:<5} {fmt}")
    out[-1] += "."
    out += ["EXECUTE.", "", "  FORMATS PV1MATH TO PV5READ (F8.2).", "", "VARIABLE LABELS"]
    out += [f' {k:<9} "{v}"' for k, v in _LABELS.items()]
    out[-1] += "."
    out += ["", "VALUE LABELS", "   SUBNATIO", '    "03600" "Australia"', '    "04000" "Austria"', "  /ST01Q01",
            '      96     "Ungraded"', '      97     "N/A"', '      98     "Invalid"', '      99     "Miss"',
            "  /ST03Q02", '     "97"    "N/A"', '     "98"    "Invalid"', '     "99"    "Miss"',
            "  /ST04Q01", '      1    "Female"', '      2    "Male"', '      7    "N/A"', '      8    "Invalid"',
            '      9    "Miss" .', "", "MISSING VALUES ST04Q01 (7,8,9).", "MISSING VALUES ST01Q01 (96 thru 99).",
            "MISSING VALUES ST03Q02 ('97', '98', '99').", "MISSING VALUES AGE  (97, 98, 99).",
            "MISSING VALUES ", " ESCS        ", " (9997,9998,9999).", ""]
    return "\n".join(out)


def _sas_syntax(data_name="INT_STQ09_DEC11.txt", formatted=False) -> str:
    pos = _positions()
    out = ['libname  M_DEC11 "C:\\XXX"; ', f'filename STU "C:\\XXX\\{data_name}"; ', "options nofmterr;", "",
           "PROC Format;", 'value $SUBNATIOF', '\t\t"03600" = "Australia"', '\t\t"04000" = "Austria"', ";",
           "value ST01Q01F", '\t\t96 = "Ungraded"', '\t\t97 = "N/A"', '\t\t98 = "Invalid"', '\t\t99 = "Miss"', ";",
           "value $ST03Q02F", '\t\t"97" = "N/A"', '\t\t"98" = "Invalid"', '\t\t"99" = "Miss"', ";",
           "value ST04Q01F", '\t\t1 = "Female"', '\t\t2 = "Male"', '\t\t7 = "N/A"', '\t\t8 = "Invalid"',
           '\t\t9 = "Missing"'.replace("Missing", "Miss"), ";", "run;", "", "data M_DEC11.STU;", "length"]
    out += [f"{n} ${b - a + 1}" if k == "A" else f"{n} 8" for n, (a, b, k, d) in pos.items()]
    out += [";", "format"] + [f"{n} ${b - a + 1}." if k == "A" else f"{n} {b - a + 1}.{d or ''}"
                              for n, (a, b, k, d) in pos.items()]
    reclen = max(b for a, b, k, d in pos.values())
    out += [";", f"infile STU missover linesize = {reclen} ;", "input"]
    for n, (a, b, k, d) in pos.items():
        if formatted:
            out.append(f"@{a} {n} {'$' if k == 'A' else ''}{b - a + 1}.{d if k != 'A' and d else ''}")
        else:
            out.append(f"{n} {a} - {b}" + (f" .{d}" if k == "I" else ""))
    out += [";", "label"] + [f'{k:<11} = "{v}"' for k, v in _LABELS.items()] + [";", "format",
            "SUBNATIO $SUBNATIOF.", "ST01Q01 ST01Q01F.", "ST03Q02 $ST03Q02F.", "ST04Q01 ST04Q01F.", ";"]
    for v, codes in (("ST04Q01", (7, 8, 9)), ("ST01Q01", (96, 97, 98, 99)), ("AGE", (97, 98, 99)),
                     ("ESCS", (9997, 9998, 9999))):
        out.append(f"if {v}={codes[0]} or {v}=. then {v}=.N;"
                   + "".join(f"if {v}={c} then {v}=.{'IM'[i % 2]};" for i, c in enumerate(codes[1:])))
    out += ['if ST03Q02 in ("97","98","99") then ST03Q02=" ";', "run; ", ""]
    return "\n".join(out)


def _write_sav(df: pd.DataFrame, path, labels=_LABELS, value_labels=_VALUE_LABELS, missing=_MISSING):
    cols = list(df.columns)
    pyreadstat.write_sav(df, str(path), column_labels=[labels.get(c) for c in cols],
                         variable_value_labels={k: v for k, v in value_labels.items() if k in cols},
                         missing_ranges={k: v for k, v in missing.items() if k in cols})


@pytest.fixture(scope="module")
def pisa09(tmp_path_factory):
    d = tmp_path_factory.mktemp("pisa09")
    truth = _truth()
    (d / "INT_STQ09_DEC11.txt").write_bytes(_text(truth).encode("ascii"))
    (d / "PISA2009_SPSS_student.txt").write_text(_spss_syntax(), encoding="cp1252")
    (d / "PISA2009_SAS_student.sas").write_text(_sas_syntax())
    (d / "formatted.sas").write_text(_sas_syntax(formatted=True))
    sav = d / "sav"
    sav.mkdir()
    _write_sav(truth, sav / "INT_STQ09_DEC11.sav")
    return d, truth


def _assert_same(got: pd.DataFrame, want: pd.DataFrame, declared=True):
    assert_frame_equal(got, want, check_exact=True)
    for key in ("labels", "value_labels") + (("missing_declared",) if declared else ()):
        assert dict(got.attrs[key]) == dict(want.attrs[key]), key
    assert set(got.attrs["missing_codes"]) == set(want.attrs["missing_codes"])
    for c, s in want.attrs["missing_codes"].items():
        pd.testing.assert_series_equal(got.attrs["missing_codes"][c], s, check_exact=True)


# -- the SPSS and SAS routes give the .sav frame ------------------------------------------------
@pytest.mark.parametrize("labels", ["categorical", "codes", "strings"])
@pytest.mark.parametrize("user_missing", [True, False])
def test_spss_syntax_gives_the_sav_frame(pisa09, labels, user_missing):
    d, _ = pisa09
    want = read_spss(d / "sav" / "INT_STQ09_DEC11.sav", labels=labels, user_missing=user_missing)
    got = read_fixed(d / "INT_STQ09_DEC11.txt", d / "PISA2009_SPSS_student.txt", labels=labels,
                     user_missing=user_missing)
    _assert_same(got, want)


def test_spss_route_values(pisa09):
    """Spot checks against the generating values: implied decimals, coded decimals, blanks, codes."""
    d, truth = pisa09
    got = read_fixed(d / "INT_STQ09_DEC11.txt", d / "PISA2009_SPSS_student.txt", labels="codes",
                     user_missing=False)
    np.testing.assert_array_equal(got["W_FSTUWT"].to_numpy(), truth["W_FSTUWT"].to_numpy())  # exact
    np.testing.assert_array_equal(got["PV3READ"].to_numpy(), truth["PV3READ"].to_numpy())
    assert got["ST06Q01"].isna().sum() == truth["ST06Q01"].isna().sum() > 0
    assert (got["ESCS"] == 9997).sum() == (truth["ESCS"] == 9997).sum() > 0
    assert got.dtypes["AGE"] == np.float64 and got.attrs["labels"]["W_FSTUWT"] == "FINAL STUDENT WEIGHT"
    cat = read_fixed(d / "INT_STQ09_DEC11.txt", d / "PISA2009_SPSS_student.txt")
    assert list(cat["ST04Q01"].cat.categories) == ["Female", "Male"]
    assert cat["ESCS"].isna().sum() == (truth["ESCS"] == 9997).sum()


@pytest.mark.parametrize("syntax", ["PISA2009_SAS_student.sas", "formatted.sas"])
def test_sas_syntax_gives_the_sav_frame(pisa09, syntax):
    """SAS column input (``CNT 1 - 3``, ``W_FSTUWT 123 - 131 .4``) and formatted input (``@1 CNT $3.``);
    SAS codes are discrete values (IF X=96 ... THEN X=.N), so only the declaration's form differs."""
    d, _ = pisa09
    want = read_spss(d / "sav" / "INT_STQ09_DEC11.sav")
    if syntax == "formatted.sas":  # formatted input has no implied decimals: compare the other columns
        cols = [n for n, w, k, dec in _LAYOUT if k != "I"]
        want = read_spss(d / "sav" / "INT_STQ09_DEC11.sav", columns=cols)
        got = read_fixed(d / "INT_STQ09_DEC11.txt", d / syntax, columns=cols)
    else:
        got = read_fixed(d / "INT_STQ09_DEC11.txt", d / syntax)
    _assert_same(got, want, declared=False)
    assert got.attrs["missing_declared"]["ST01Q01"] == [{"lo": v, "hi": v} for v in (96.0, 97.0, 98.0, 99.0)]


def test_columns_are_selected_in_the_requested_order(pisa09):
    d, _ = pisa09
    cols = ["pv1math", "CNT", "ST04Q01", "W_FSTR80"]
    want = read_spss(d / "sav" / "INT_STQ09_DEC11.sav", columns=cols)
    got = read_fixed(d / "INT_STQ09_DEC11.txt", d / "PISA2009_SPSS_student.txt", columns=cols)
    assert list(got.columns) == ["PV1MATH", "CNT", "ST04Q01", "W_FSTR80"]
    _assert_same(got, want)


def test_syntax_found_beside_the_file(pisa09, tmp_path):
    d, _ = pisa09
    got = read_fixed(d / "INT_STQ09_DEC11.txt", columns=["CNT"])      # by the dictionary's syntax names
    assert got.attrs["source"].endswith("PISA2009_SPSS_student.txt")
    (tmp_path / "INT_STQ09_DEC11.txt").write_bytes((d / "INT_STQ09_DEC11.txt").read_bytes())
    (tmp_path / "my_syntax.sps").write_text(_spss_syntax())            # by content: it names the data file
    assert len(read_fixed(tmp_path / "INT_STQ09_DEC11.txt", columns=["CNT"])) == N


# -- read_study ----------------------------------------------------------------------------------
_SCH_LAYOUT = [("CNT", 3, "A", 0), ("SCHOOLID", 5, "A", 0), ("SC02Q01", 1, "F", 0), ("SCHSIZE", 6, "F", 0)]


def _school_files(folder, truth, text: bool):
    sch = truth[["CNT", "SCHOOLID"]].drop_duplicates().reset_index(drop=True)
    sch["SC02Q01"] = np.where(np.arange(len(sch)) % 3 == 2, 9.0, 1.0 + np.arange(len(sch)) % 2)
    sch["SCHSIZE"] = 300.0 + 10 * np.arange(len(sch))
    vl = {"SC02Q01": {1.0: "Public", 2.0: "Private", 7.0: "N/A", 8.0: "Invalid", 9.0: "Miss"}}
    miss = {"SC02Q01": [{"lo": v, "hi": v} for v in (7.0, 8.0, 9.0)]}
    labels = {"SC02Q01": "Public or private"}
    if not text:
        _write_sav(sch, folder / "INT_SCQ09_Dec11.sav", labels, vl, miss)
        return
    pos, p = {}, 1
    for n, w, k, dec in _SCH_LAYOUT:
        pos[n], p = (p, p + w - 1, k, dec), p + w
    (folder / "INT_SCQ09_Dec11.txt").write_text(_text(sch, pos))
    syn = ['DATA LIST FILE "INT_SCQ09_Dec11.txt" /'] + [f"  {n} {a}-{b} {'(A)' if k == 'A' else '(F,0)'}"
                                                         for n, (a, b, k, dec) in pos.items()]
    syn[-1] += "."
    syn += ['VARIABLE LABELS SC02Q01 "Public or private".', 'VALUE LABELS SC02Q01 1 "Public" 2 "Private" 7 "N/A"'
            ' 8 "Invalid" 9 "Miss".', "MISSING VALUES SC02Q01 (7 THRU 9)."]
    (folder / "PISA2009_SPSS_school.txt").write_text("\n".join(syn) + "\n")


def test_read_study_reads_the_text_files_like_the_sav_files(pisa09, tmp_path):
    d, truth = pisa09
    txt, sav = tmp_path / "txt", tmp_path / "sav"
    txt.mkdir()
    sav.mkdir()
    for name in ("INT_STQ09_DEC11.txt", "PISA2009_SPSS_student.txt"):
        (txt / name).write_bytes((d / name).read_bytes())
    (sav / "INT_STQ09_DEC11.sav").write_bytes((d / "sav" / "INT_STQ09_DEC11.sav").read_bytes())
    _school_files(txt, truth, text=True)
    _school_files(sav, truth, text=False)
    kw = dict(countries=["AUT"], columns=["MATH", "ST04Q01", "SC02Q01"])
    got, want = read_study(txt, "PISA", 2009, **kw), read_study(sav, "PISA", 2009, **kw)
    assert len(got) == (truth.CNT == "AUT").sum() and "PV5MATH" in got and "W_FSTR80" in got
    assert list(got["SC02Q01"].cat.categories) == ["Public", "Private"]
    assert_frame_equal(got, want, check_exact=True)
    assert dict(got.attrs["missing_declared"])["SC02Q01"] == [{"lo": 7.0, "hi": 9.0}]
    from lsa import design_from_study
    des = design_from_study("pisa", 2009, got)
    assert des.n_replicates == 80


def test_read_study_text_file_without_syntax(tmp_path):
    (tmp_path / "INT_STQ09_DEC11.txt").write_text("AUS\n")
    with pytest.raises(StudyError, match=r"no student file lsa can read .*INT_STQ09_DEC11\.txt is fixed-width text"
                                         r" and needs its OECD read-in syntax \(PISA2009_SPSS_student\.txt"):
        read_study(tmp_path, "pisa", 2009)


# -- bad input ------------------------------------------------------------------------------------
def _bad(tmp_path, pisa09, lines=None, syntax=None):
    d, _ = pisa09
    data = (d / "INT_STQ09_DEC11.txt").read_bytes().split(b"\r\n")
    if lines:
        lines(data)
    (tmp_path / "x.txt").write_bytes(b"\r\n".join(data))
    (tmp_path / "x.sps").write_text(syntax or _spss_syntax())
    return tmp_path / "x.txt", tmp_path / "x.sps"


def test_a_short_line_is_named(tmp_path, pisa09):
    def cut(data):
        data[2] = data[2][:-5]
    with pytest.raises(ReadError, match=r"x\.txt, line 3: 867 characters where line 1 has 872"):
        read_fixed(*_bad(tmp_path, pisa09, cut))


def test_a_non_number_is_named(tmp_path, pisa09):
    a = _positions()["ST04Q01"][0] - 1

    def letter(data):
        data[1] = data[1][:a] + b"x" + data[1][a + 1:]
    with pytest.raises(ReadError, match=r"line 2: ST04Q01 \(columns \d+-\d+, numeric\) holds 'x'"):
        read_fixed(*_bad(tmp_path, pisa09, letter))


def test_columns_beyond_the_line(tmp_path, pisa09):
    syn = _spss_syntax().replace("(A).\nEXECUTE.", "(A)\n  EXTRA 2000 - 2004 (F,0).\nEXECUTE.")
    with pytest.raises(ReadError, match=r"x\.txt, line 1: \d+ characters, but x\.sps places \['EXTRA'\] up to "
                                        r"column 2,004"):
        read_fixed(*_bad(tmp_path, pisa09, syntax=syn))


def test_lines_longer_than_the_syntax(tmp_path, pisa09):
    def longer(data):
        data[:] = [x + b"12" if x else x for x in data]
    with pytest.raises(ReadError, match=r"x\.txt, line 1: .* describes records of"):
        read_fixed(*_bad(tmp_path, pisa09, longer))


def test_last_line_cut(tmp_path, pisa09):
    def cut(data):
        data[-2] = data[-2][:100]
        data.pop()
    with pytest.raises(ReadError, match=rf"x\.txt, line {N}: 100 characters where line 1 has"):
        read_fixed(*_bad(tmp_path, pisa09, cut))


def test_missing_syntax_and_unknown_variables(tmp_path, pisa09):
    d, _ = pisa09
    with pytest.raises(ReadError, match=r"nope\.sps: no such syntax file"):
        read_fixed(d / "INT_STQ09_DEC11.txt", tmp_path / "nope.sps")
    (tmp_path / "INT_STQ09_DEC11.txt").write_bytes((d / "INT_STQ09_DEC11.txt").read_bytes())
    with pytest.raises(ReadError, match=r"no SPSS or SAS read-in syntax found beside it"):
        read_fixed(tmp_path / "INT_STQ09_DEC11.txt")
    with pytest.raises(ColumnNotFoundError, match=r"not in the syntax: \['PV1MATHS'\] \('PV1MATHS': nearest "
                                                  r"\['PV1MATH'"):
        read_fixed(d / "INT_STQ09_DEC11.txt", d / "PISA2009_SPSS_student.txt", columns=["CNT", "PV1MATHS"])
    (tmp_path / "notes.sps").write_text("GET FILE 'x.sav'.\n")
    with pytest.raises(ReadError, match=r"notes\.sps is not an SPSS or SAS read-in syntax"):
        read_fixed(d / "INT_STQ09_DEC11.txt", tmp_path / "notes.sps")
    with pytest.raises(LsaError, match=r"labels must be one of"):
        read_fixed(d / "INT_STQ09_DEC11.txt", d / "PISA2009_SPSS_student.txt", labels="names")


def test_numeric_fields_read_as_float_of_their_text():
    """Every numeric field equals Python's float() of its text (coded point), or float()/10^d
    (implied decimals), exactly (numpy's text-to-float cast, then one division by 10^d)."""
    from lsa.io_fixed import _number  # the converter under test
    from lsa.io_syntax import Field

    rng = np.random.default_rng(3)
    fixed = ["   -12.5", "      +3", "      .5", "      5.", "    1234", "    -.25", "-0000001", "99999999",
             "9997.000", "-1.23456", "  0.0001", "       0"]
    rand = [f"{v:8.{k}f}" for v, k in zip(rng.normal(0, 10 ** rng.integers(0, 4, 300)), rng.integers(0, 5, 300))]
    rand += [f"{int(v):8d}" for v in rng.integers(-9_999_999, 99_999_999, 300)]
    texts = [t for t in fixed + rand if len(t) == 8]
    raw = np.frombuffer("".join(texts).encode(), np.uint8).reshape(len(texts), 8)
    for d in (0, 2, 4):
        want = np.array([float(t) if "." in t else float(t) / 10 ** d for t in texts])
        got = _number(raw, Field("X", 1, 8, False, d), "x.txt")
        np.testing.assert_array_equal(got, want)                   # exact, no tolerance
        odd = np.frombuffer(("1.5E+02 " + "".join(texts[1:])).encode(), np.uint8).reshape(len(texts), 8)
        want[0] = 150.0                                            # an exponent (SPSS F accepts it)
        np.testing.assert_array_equal(_number(odd, Field("X", 1, 8, False, d), "x.txt"), want)
