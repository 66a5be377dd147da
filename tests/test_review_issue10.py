"""Review of issue 10: names, responses and dropped rows found by trying the API as a user.

Oracles:
* R's ``model.matrix`` names (R 4.x documented behaviour, ``?model.matrix``): a logical
  expression ``I(x > 0)`` gives the column ``I(x > 0)TRUE``; a factor ``f`` gives ``f<level>``.
  lsa's own convention (docs of :mod:`lsa.formula`) strips ``C(...)``: ``C(f)`` and
  ``C(f, Treatment('b'))`` name their columns ``f<level>``.
* Closed form: a logical response is R's 0/1 numeric response, so ``I(y > c) ~ x`` must equal
  the same model on the 0/1 column computed beforehand (1e-10 relative: same arithmetic).
* Counting: rows dropped for missing values are counted in a warning and in ``n_dropped``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import lsa
from lsa.formula import fixed_matrix, r_name


@pytest.mark.parametrize("patsy_name, r", [
    ("I(x > 0)[T.True]", "I(x > 0)TRUE"),
    ("I(x > 0)[True]", "I(x > 0)TRUE"),
    ("np.round(x)[T.1.0]", "np.round(x)1.0"),
    ("C(g)[T.b]", "gb"),
    ("C(g, Treatment('b'))[T.c]", "gc"),
    ("I(x > 0)[T.True]:g[T.b]", "I(x > 0)TRUE:gb"),
    ("lvl[T.ISCED [5A]]", "lvlISCED [5A]"),
    ("femaleTRUE", "femaleTRUE"),
    ("np.log(x)", "np.log(x)"),
])
def test_r_names_of_expressions(patsy_name, r):
    assert r_name(patsy_name) == r


def test_logical_expression_predictor_is_named_as_r():
    frame = pd.DataFrame({"x": [-1.0, 2.0, 0.5, -3.0], "g": ["a", "b", "a", "b"]})
    _, names = fixed_matrix("I(x > 0) + g", frame)
    assert names == ("(Intercept)", "I(x > 0)TRUE", "gb")


@pytest.fixture(scope="module")
def timss():
    return lsa.datasets.load("timss2011_aut_g4")


def _close(a, b, rtol=1e-10):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=rtol, atol=0)


@pytest.mark.parametrize("fit", ["clustered", "lpm", "gee_binomial"])
def test_robust_logical_response_is_zero_one(timss, fit):
    data = timss.assign(high=(timss["ASMMAT1"] > 500).astype(float))
    call = {
        "clustered": lambda f: lsa.robust.clustered(f, data=data, cluster="idschool", family="binomial"),
        "lpm": lambda f: lsa.robust.lpm(f, data=data, cluster="idschool"),
        "gee_binomial": lambda f: lsa.robust.gee(f, data=data, cluster="idschool", family="binomial"),
    }[fit]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lsa.MissingDataWarning)
        expr = call("I(ASMMAT1 > 500) ~ female").tidy()
        col = call("high ~ female").tidy()
    _close(expr["estimate"], col["estimate"])
    _close(expr["std_error"], col["std_error"])


def test_design_lm_logical_response_is_zero_one():
    df = lsa.datasets.load("pisa2012_usa")
    df = df.assign(**{f"h{i}": (df[f"pv{i}math"] > 500).astype(float) for i in range(1, 6)})
    design = lsa.SurveyDesign(df, ids={"school": "schoolid"}, weights={"student": "w_fstuwt", "school": "w_fschwt"},
                              pvs={"MATH": [f"pv{i}math" for i in range(1, 6)], "H": [f"h{i}" for i in range(1, 6)]},
                              replicates=lsa.Replicates.fay([f"w_fsturwt{r}" for r in range(1, 81)], k=0.5))
    expr = lsa.lm(design, "I(MATH > 500) ~ escs").tidy()
    col = lsa.lm(design, "H ~ escs").tidy()
    _close(expr["estimate"], col["estimate"])
    _close(expr["std_error"], col["std_error"])


def test_gee_counts_and_warns_dropped_rows(timss):
    n_missing = int(timss[["ASMMAT1", "books"]].isna().any(axis=1).sum())
    assert n_missing > 0
    with pytest.warns(lsa.MissingDataWarning, match=rf"{n_missing} of {len(timss)} rows dropped"):
        r = lsa.robust.gee("ASMMAT1 ~ books", data=timss, cluster="idschool")
    assert r.n_dropped == n_missing


@pytest.mark.parametrize("make, match", [
    (lambda t: t.assign(ASMMAT1=t["ASMMAT1"].where(t.index != 5, np.inf)),
     r"response: column 'ASMMAT1' has 1 infinite value"),
    (lambda t: t.assign(ASMMAT1=t["ASMMAT1"].astype(str)), r"'ASMMAT1' holds numbers stored as text.*pd\.to_numeric"),
    (lambda t: t.assign(ASMMAT1=t["female"].map({0: "boy", 1: "girl"})), r"'ASMMAT1' is not numeric"),
])
@pytest.mark.parametrize("fit", ["mixed", "mix_pv"])
def test_multilevel_response_goes_through_numeric_column(timss, make, match, fit):
    """The response of mixed/mix_pv was coerced with pd.to_numeric: numbers stored as text were
    silently converted and inf gave no count; now the shared check names column and count."""
    data = make(timss)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lsa.MissingDataWarning)
        with pytest.raises(lsa.DesignError, match=match):
            if fit == "mixed":
                lsa.mixed("ASMMAT1 ~ female + (1|idschool)", data, weights=["TOTWGT", "SCHWGT"])
            else:
                lsa.mix_pv("ASMMAT2 + ASMMAT1 ~ female + (1|idschool)", data, weights=["TOTWGT", "SCHWGT"])


def test_numeric_categorical_as_analysis_variable_is_named_as_categorical(timss):
    """A Categorical of numbers is not 'numbers stored as text': the message says what it is
    and gives a conversion that works on it."""
    data = timss.assign(bookc=pd.Categorical(timss["books"]))
    design = lsa.SurveyDesign.from_study("TIMSS", 2011, data)
    with pytest.raises(lsa.DesignError, match=r"'bookc' is a Categorical with numeric categories.*astype\(float\)"):
        lsa.mean(design, "bookc")
    converted = data["bookc"].astype(float)                        # the advice works
    np.testing.assert_array_equal(converted.to_numpy(), data["books"].to_numpy())


def test_factor_level_bound_same_for_column_and_c_expression():
    """C(g) on a numeric column and a text column with the same 8 levels on 64 rows: the n/10
    bound never refuses 20 levels or fewer (lsa.validation.MIN_FACTOR_LIMIT) for either; 101
    levels are refused for both."""
    small = pd.DataFrame({"g": np.repeat(np.arange(8), 8).astype(float), "s": np.repeat(list("abcdefgh"), 8)})
    assert fixed_matrix("s", small)[0].shape == (64, 8)
    assert fixed_matrix("C(g)", small)[0].shape == (64, 8)
    big = pd.DataFrame({"g": np.arange(2020) % 101, "s": [f"id{i % 101}" for i in range(2020)]})
    with pytest.raises(lsa.FormulaError, match=r"'s' has 101 levels"):
        fixed_matrix("s", big)
    with pytest.raises(lsa.FormulaError, match=r"'C\(g\)' has 101 levels"):
        fixed_matrix("C(g)", big)
