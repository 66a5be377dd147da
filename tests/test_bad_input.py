"""Bad input across the API and the command line.

Oracle: the contract of ``lsa.validation`` and AGENTS.md: every bad input raises an
:class:`lsa.LsaError` subclass (or, where the input is usable, a warning) whose message names
the argument, column or file that is wrong. No raw numpy, pandas, patsy or pyreadstat exception
may reach the user, and the CLI exits with code 2 and a one-line message, never a traceback.
Each case asserts the exception class and a fragment of the message that names the culprit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lsa

# --- designs, estimators and formulas (the validation layer) ---------------------------

# --- multilevel models and mix_pv -------------------------------------------------------

@pytest.fixture(scope="module")
def ml_timss():
    """TIMSS 2011 Austria grade 4 (bundled): a school/class/student design with school and
    student weights only, and the same data as a DataFrame."""
    d = lsa.datasets.load("timss2011_aut_g4")
    d = d.assign(xc=d.groupby("idschool").books.transform("mean"))   # constant within schools
    return d, lsa.SurveyDesign.from_study("TIMSS", 2011, d)


_ML_W = ["TOTWGT", "SCHWGT"]
_ML_PV = "ASMMAT1 + ASMMAT2"
_ML_CASES = [
    # a level the formula uses has no weight in the design: names the level
    ("class level without weight (mixed)", lambda d, des: lsa.mixed("ASMMAT1 ~ female + (1|school/class)", des),
     lsa.DesignError, r"no weight for \['class'\]"),
    ("class level without weight (mix_pv)", lambda d, des: lsa.mix_pv("ASMMAT ~ female + (1|class)", des),
     lsa.DesignError, r"no weight for \['class'\]"),
    # a random slope on a school-constant variable: refused by both, naming the column
    ("non-identified slope (mixed)", lambda d, des: lsa.mixed("ASMMAT1 ~ books + (1 + xc|idschool)", d, weights=_ML_W),
     lsa.DesignError, r"'xc'\] of .* linearly dependent"),
    ("non-identified slope (mix_pv)", lambda d, des: lsa.mix_pv(f"{_ML_PV} ~ books + (1 + xc|idschool)", d, weights=_ML_W),
     lsa.DesignError, r"'xc'\] of .* linearly dependent"),
    ("scaling (mixed)", lambda d, des: lsa.mixed("ASMMAT1 ~ books + (1|idschool)", d, scaling="within"),
     lsa.DesignError, "scaling must be .*'within'"),
    ("scaling (mix_pv)", lambda d, des: lsa.mix_pv(f"{_ML_PV} ~ books + (1|idschool)", d, scaling="within"),
     lsa.DesignError, "scaling must be .*'within'"),
    ("nonconverged", lambda d, des: lsa.mix_pv(f"{_ML_PV} ~ books + (1|idschool)", d, nonconverged="ignore"),
     lsa.LsaError, "nonconverged must be .*'ignore'"),
    ("se", lambda d, des: lsa.mix_pv(f"{_ML_PV} ~ books + (1|idschool)", d, se="jackknife"),
     lsa.LsaError, "se must be .*'jackknife'"),
    ("pool", lambda d, des: lsa.mix_pv(f"{_ML_PV} ~ books + (1|idschool)", d, pool="stacked"),
     lsa.LsaError, "pool must be .*'stacked'"),
    ("weight column missing", lambda d, des: lsa.mixed("ASMMAT1 ~ books + (1|idschool)", d, weights=["TOTWGT", "nope"]),
     lsa.DesignError, "'nope'"),
    ("design and weights=", lambda d, des: lsa.mixed("ASMMAT1 ~ books + (1|school)", des, weights=_ML_W),
     lsa.DesignError, "weights through the design, not both"),
    ("reml on a weighted fit", lambda d, des: lsa.mixed("ASMMAT1 ~ books + (1|idschool)", d, weights=_ML_W, reml=True),
     lsa.DesignError, "reml=True"),
    ("data not a frame", lambda d, des: lsa.mixed("ASMMAT1 ~ books + (1|idschool)", [1, 2, 3]),
     lsa.DesignError, "data must be a DataFrame or an lsa.SurveyDesign; got list"),
    ("grouping factor not a column", lambda d, des: lsa.mixed("ASMMAT1 ~ books + (1|nosuch)", d),
     lsa.FormulaError, "'nosuch'"),
    ("lrt_pv of a non-mix_pv result", lambda d, des: lsa.lrt_pv("model", "other"),
     lsa.LsaError, "model_full must be a mix_pv result; got str"),
]


@pytest.mark.parametrize("case", _ML_CASES, ids=[c[0] for c in _ML_CASES])
def test_multilevel_bad_input(ml_timss, case):
    _, call, err, match = case
    with pytest.raises(err, match=match):
        call(*ml_timss)


def test_lrt_pv_weighted_against_unweighted(ml_timss):
    d, _ = ml_timss
    with pytest.warns(lsa.errors.MissingDataWarning):
        a = lsa.mix_pv(f"{_ML_PV} ~ books + female + (1|idschool)", d, weights=_ML_W)
    with pytest.warns(lsa.errors.MissingDataWarning):
        b = lsa.mix_pv(f"{_ML_PV} ~ books + (1|idschool)", d)
    with pytest.raises(lsa.LsaError, match="one model is weighted"):
        lsa.lrt_pv(a, b)


# --- cluster-robust fits, GEE and imputation --------------------------------------------

# --- files, readers and the command line ------------------------------------------------
@pytest.fixture(scope="module")
def io_bad(tmp_path_factory):
    """Broken data files made from the bundled TIMSS 2019 USA student file (1,114,889 bytes,
    7,986 rows x 31 variables): cut to half its bytes, cut by 10 bytes, the first 200 bytes,
    0 bytes, a CSV renamed to .sav/.dta/.sas7bdat, a folder named .sav, a CSV and a text file."""
    from pathlib import Path

    d = tmp_path_factory.mktemp("io_bad")
    raw = (Path(__file__).parent / "data" / "STU_USA_2018.sav").read_bytes()
    (d / "half.sav").write_bytes(raw[: len(raw) // 2])
    (d / "short.sav").write_bytes(raw[:-10])
    (d / "header_cut.sav").write_bytes(raw[:200])
    (d / "empty.sav").write_bytes(b"")
    for ext in ("sav", "dta", "sas7bdat"):
        (d / f"fake.{ext}").write_text("id,score\n1,500\n2,510\n")
    (d / "folder.sav").mkdir()
    (d / "data.csv").write_text("id,score\n1,500\n")
    (d / "notes.txt").write_text("not data")
    (d / "a_file").write_text("x")
    return d


_IO_READ_CASES = [
    # (id, reader, file, message fragment that names the file and the fault)
    ("missing", "read_spss", "nope.sav", r"nope\.sav: no such file"),
    ("folder", "read_spss", "folder.sav", r"folder\.sav is a folder, not a data file"),
    ("empty", "read_spss", "empty.sav", r"empty\.sav is empty \(0 bytes\)"),
    ("half", "read_spss", "half.sav",
     r"half\.sav is truncated or damaged: its header declares 7,986 rows x 31 variables, .* \(557,444 bytes"),
    ("cut 10 bytes", "read_spss", "short.sav", r"short\.sav is truncated or damaged"),
    ("header cut", "read_spss", "header_cut.sav", r"header_cut\.sav: cannot read the header .* \(200 bytes\)"),
    ("text renamed .sav", "read_spss", "fake.sav", r"fake\.sav is not an SPSS file: it starts with b'id,score"),
    ("text renamed .dta", "read_stata", "fake.dta", r"fake\.dta is not an Stata file"),
    ("text renamed .sas7bdat", "read_sas", "fake.sas7bdat", r"fake\.sas7bdat is not an SAS file"),
    ("csv to read_any", "read_any", "data.csv", r"data\.csv: lsa reads SPSS .* got the extension '\.csv'"),
    ("half, with columns", "read_spss_columns", "half.sav", r"half\.sav is truncated or damaged"),
    ("describe half", "describe", "half.sav",
     r"half\.sav is truncated or damaged: its header declares 7,986 rows x 31 variables, but the data stop early"),
    ("describe cut 10 bytes", "describe", "short.sav", r"short\.sav is truncated or damaged"),
    ("describe txt", "describe", "notes.txt", r"notes\.txt: lsa reads SPSS .* '\.txt' \(convert fixed-width"),
    ("describe empty", "describe", "empty.sav", r"empty\.sav is empty"),
    ("read_study of a file", "read_study", "a_file", r"a_file is a file, not a folder"),
    ("read_study missing folder", "read_study", "no_folder", r"no_folder: no such folder"),
]


@pytest.mark.parametrize("case", _IO_READ_CASES, ids=[c[0] for c in _IO_READ_CASES])
def test_reader_bad_files(io_bad, case):
    from lsa import io
    from lsa.errors import ReadError

    _, reader, name, match = case
    path = io_bad / name
    call = {"read_spss": io.read_spss, "read_stata": io.read_stata, "read_sas": io.read_sas,
            "read_any": io.read_any, "describe": io.describe,
            "read_spss_columns": lambda p: io.read_spss(p, columns=["IDSTUD", "ITSEX"]),
            "read_study": lambda p: io.read_study(p, "timss", 2019)}[reader]
    with pytest.raises(ReadError, match=match) as err:
        call(path)
    assert isinstance(err.value, OSError) and str(path.name) in str(err.value)


_CLI_CASES = [
    # (id, argv built from the folder of bad files, message fragment naming the file or argument)
    ("describe missing", lambda d: ["describe", str(d / "nope.sav")], r"nope\.sav: no such file"),
    ("describe truncated", lambda d: ["describe", str(d / "half.sav")], r"half\.sav is truncated or damaged"),
    ("describe fake", lambda d: ["describe", str(d / "fake.sav")], r"fake\.sav is not an SPSS file"),
    ("describe folder", lambda d: ["describe", str(d / "folder.sav")], r"folder\.sav is a folder"),
    ("describe csv", lambda d: ["describe", str(d / "data.csv")], r"data\.csv: lsa reads SPSS"),
    ("demo out under a file", lambda d: ["demo", "--quiet", "--out", str(d / "a_file" / "out")],
     r"cannot create the output folder .*a_file/out: a part of the path is a file"),
    ("demo out is a file", lambda d: ["demo", "--quiet", "--out", str(d / "a_file")],
     r"output folder .*a_file is a file"),
    ("demo out in /proc", lambda d: ["demo", "--quiet", "--out", "/proc/nope"],
     r"cannot create the output folder /proc/nope"),
    ("run missing recipe", lambda d: ["run", str(d / "none.toml")], r"recipe .*none\.toml does not exist"),
    ("run a folder", lambda d: ["run", str(d)], r"recipe .*io_bad\d* is a folder"),
    ("run invalid toml", lambda d: ["run", str(d / "notes.txt")], r"notes\.txt: not valid TOML"),
    ("run binary recipe", lambda d: ["run", str(d / "half.sav")], r"recipe .*half\.sav is not a UTF-8 text file"),
    ("studies unknown", lambda d: ["studies", "PISSA"], r"unknown study 'PISSA'; known: pisa, timss"),
]


@pytest.mark.parametrize("case", _CLI_CASES, ids=[c[0] for c in _CLI_CASES])
def test_cli_bad_input_exits_2_with_one_line(io_bad, capsys, case):
    import re

    from lsa.cli import main

    _, argv, match = case
    assert main(argv(io_bad)) == 2
    err = capsys.readouterr().err
    assert err.startswith("lsa: error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert re.search(match, err), err


_RECIPE_HEAD = 'title = "t"\n[data]\n'
_RECIPE_CASES = [
    # (id, recipe text, message fragment naming the recipe key or the data file)
    ("truncated data file", 'file = "half.sav"\n[[analysis]]\nname = "m"\nfunction = "mean"\n',
     r"half\.sav is truncated or damaged"),
    ("replicate method", 'dataset = "pisa2003_nld"\n[design]\nweights = "W_FSTUWT"\n'
     '[design.replicates]\nmethod = "fey"\nprefix = "W_FSTR"\ncount = 80\n'
     '[[analysis]]\nname = "m"\nfunction = "mean"\n', r"line 7: \[design.replicates\] method must be one of"),
    ("design option", 'dataset = "pisa2003_nld"\n[design]\nweight = "W_FSTUWT"\n'
     '[[analysis]]\nname = "m"\nfunction = "mean"\n', r"line 5: \[design\] has no option 'weight'"),
    ("seed", 'dataset = "pisa2003_nld"\n[[analysis]]\nname = "m"\nfunction = "mean"\n', r"'seed' must be an integer"),
    ("analysis not a table", 'dataset = "pisa2003_nld"\n', r"'analysis' must be a list of tables"),
]


@pytest.mark.parametrize("case", _RECIPE_CASES, ids=[c[0] for c in _RECIPE_CASES])
def test_recipe_bad_input(io_bad, case, tmp_path):
    from lsa.report.recipe import RecipeError
    from lsa.report.runner import run_recipe

    name, text, match = case
    text = {"seed": 'seed = "42"\n', "analysis not a table": "analysis = 3\n"}.get(name, "") + _RECIPE_HEAD + text
    recipe = io_bad / f"{name.replace(' ', '_')}.toml"
    recipe.write_text(text)
    err = RecipeError if name != "truncated data file" else lsa.errors.ReadError
    with pytest.raises(err, match=match):
        run_recipe(recipe, tmp_path / "out", quiet=True)
