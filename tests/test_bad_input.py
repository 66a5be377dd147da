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
