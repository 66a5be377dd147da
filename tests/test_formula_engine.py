"""The model-matrix builder on formulaic (issue 11, item 8): R's names, coding and order, and the
checks that must not depend on which parser sits underneath.

Oracles:
* R's documented ``model.matrix`` behaviour (R 4.x, ``?model.matrix``, ``?terms.formula``,
  ``?contr.treatment``, ``?contr.poly``, ``?scale``): terms sorted by interaction order, the
  first level as the reference, a logical ``I(x > 0)`` named ``I(x > 0)TRUE``, a factor in an
  interaction whose margin is absent coded by all its levels, ``contr.poly(3)`` columns
  ``.L = (-1, 0, 1)/√2`` and ``.Q = (1, -2, 1)/√6``, and ``scale(x)`` = (x − mean)/sd with
  n − 1. These are closed forms of the data: compared exactly (indicators) or to 1e-12
  relative (sums of a few floating-point numbers).
* The contract of :mod:`lsa.validation` for bad input: an :mod:`lsa.errors` exception in one
  line naming the culprit, no chained parser frames, too many levels refused before formulaic
  builds anything.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lsa.formula
from lsa.errors import FormulaError
from lsa.formula import fixed_matrix, formula_names, model_matrices

RTOL = 1e-12


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(11)
    n = 60
    return pd.DataFrame({
        "y": rng.normal(size=n), "x": rng.normal(size=n), "z": rng.uniform(0.5, 2.0, n),
        "g": pd.Categorical(rng.choice(list("abc"), n), categories=["c", "a", "b"]),
        "s": rng.choice(["u", "v"], n).astype(object), "h": rng.choice(["p", "q", "r"], n),
        "flag": rng.random(n) > 0.5, "id": [f"i{i}" for i in range(n)],
    })


def _dummy(values, level):
    return (np.asarray(values, dtype=object) == level).astype(float)


def test_terms_in_r_order_with_treatment_coding(frame):
    """R's terms(): g:x + x + g is ordered x, g, g:x; g's declared first level c is the reference."""
    x, names = fixed_matrix("g:x + x + g", frame)
    assert names == ("(Intercept)", "x", "ga", "gb", "ga:x", "gb:x")
    expected = np.column_stack([np.ones(len(frame)), frame["x"], _dummy(frame["g"], "a"), _dummy(frame["g"], "b"),
                                _dummy(frame["g"], "a") * frame["x"], _dummy(frame["g"], "b") * frame["x"]])
    np.testing.assert_array_equal(x, expected)                  # exact: indicators and products


def test_interaction_without_margin_uses_every_level(frame):
    """x:g without g: R codes g by all its levels (x:gc, x:ga, x:gb), declared order."""
    x, names = fixed_matrix("x:g", frame)
    assert names == ("(Intercept)", "x:gc", "x:ga", "x:gb")
    np.testing.assert_array_equal(x[:, 1:], np.column_stack([_dummy(frame["g"], lv) * frame["x"] for lv in "cab"]))


def test_main_effect_written_after_its_interaction_is_coded_first(frame):
    """g:s:h + g: R sorts g before g:s:h, so g gets its contrasts (ga, gb) and the
    three-way term is coded given g; the matrix spans the 3 x 2 x 3 cells with full rank."""
    x, names = fixed_matrix("g:s:h + g", frame)
    assert names[:3] == ("(Intercept)", "ga", "gb")
    cells = pd.Series(list(zip(frame["g"], frame["s"], frame["h"])))
    assert np.linalg.matrix_rank(x) == x.shape[1] == cells.nunique()


def test_logical_expression_and_column_are_factors_named_as_r(frame):
    x, names = fixed_matrix("I(x > 0) + flag", frame)
    assert names == ("(Intercept)", "I(x > 0)TRUE", "flagTRUE")
    np.testing.assert_array_equal(x[:, 1], (frame["x"] > 0).astype(float))
    np.testing.assert_array_equal(x[:, 2], frame["flag"].astype(float))


def test_treatment_reference_as_instance_or_class(frame):
    _, named = fixed_matrix("C(s, Treatment('v'))", frame)
    _, bare = fixed_matrix("C(h, Treatment)", frame)
    assert named == ("(Intercept)", "su")
    assert bare == ("(Intercept)", "hq", "hr")                  # sorted text levels, first is the reference


def test_no_intercept_names_every_level(frame):
    x, names = fixed_matrix("0 + g", frame)
    assert names == ("gc", "ga", "gb")
    np.testing.assert_array_equal(x.sum(axis=1), np.ones(len(frame)))


def test_poly_contrasts_are_r_contr_poly(frame):
    x, names = fixed_matrix("C(h, Poly)", frame)
    assert names == ("(Intercept)", "h.L", "h.Q")
    pos = frame["h"].map({"p": 0, "q": 1, "r": 2}).to_numpy()
    lin, quad = np.array([-1.0, 0, 1]) / np.sqrt(2), np.array([1.0, -2, 1]) / np.sqrt(6)
    np.testing.assert_allclose(x[:, 1], lin[pos], rtol=RTOL, atol=1e-15)   # 0 entries: absolute floor
    np.testing.assert_allclose(x[:, 2], quad[pos], rtol=RTOL, atol=0)


def test_scale_keeps_patsy_default_and_r_scale_with_ddof_1(frame):
    """scale(x) is (x - mean)/sd with n (patsy's default, kept); scale(x, ddof=1) is R's scale()."""
    xv = frame["x"].to_numpy()
    m0, n0 = fixed_matrix("scale(x)", frame)
    m1, n1 = fixed_matrix("scale(x, ddof=1)", frame)
    assert n0 == ("(Intercept)", "scale(x)") and n1 == ("(Intercept)", "scale(x, ddof=1)")
    np.testing.assert_allclose(m0[:, 1], (xv - xv.mean()) / xv.std(ddof=0), rtol=RTOL)
    np.testing.assert_allclose(m1[:, 1], (xv - xv.mean()) / xv.std(ddof=1), rtol=RTOL)


def test_numpy_expressions_and_powers(frame):
    x, names = fixed_matrix("np.log(z) + I(x**2) + x:z", frame)
    assert names == ("(Intercept)", "np.log(z)", "I(x ** 2)", "x:z")
    np.testing.assert_allclose(x[:, 1:], np.column_stack([np.log(frame["z"]), frame["x"] ** 2,
                                                          frame["x"] * frame["z"]]), rtol=RTOL)


def test_names_of_backtick_and_q_quoted_columns():
    assert formula_names("y ~ `a b` + Q('c d') + np.log(x)") == ["y", "a b", "c d", "Q", "np", "x"]


@pytest.mark.parametrize("rhs, name", [("log(x)", "log"), ("exp(x)", "exp"), ("poly(x, 2)", "poly"),
                                       ("lag(x)", "lag")])
def test_formulaic_only_functions_stay_unknown(frame, rhs, name):
    """Functions formulaic adds (log, exp, poly, lag, ...) are not part of lsa's formula language:
    the name is refused in one line, as before."""
    with pytest.raises(FormulaError, match=f"unknown variable '{name}'") as info:
        fixed_matrix(rhs, frame)
    assert "\n" not in str(info.value) and info.value.__cause__ is None


def _one_line(info):
    assert "\n" not in str(info.value), str(info.value)
    assert info.value.__cause__ is None                           # no parser frames chained
    assert info.value.__context__ is None or info.value.__suppress_context__


def test_method_call_on_a_call_result_is_refused_with_the_workaround(frame):
    with pytest.raises(FormulaError, match=r"cannot parse the predictors 'pd\.Series\(x\)\.rank\(\)'.*I\(") as info:
        fixed_matrix("pd.Series(x).rank()", frame)
    _one_line(info)
    x, names = fixed_matrix("I(pd.Series(x).rank())", frame)
    assert names[1] == "I(pd.Series(x).rank())"
    np.testing.assert_array_equal(x[:, 1], frame["x"].rank().to_numpy())


def test_evaluation_error_is_one_line(frame):
    with pytest.raises(FormulaError, match=r"cannot evaluate the predictors 'bs\(x, df=-1\)'") as info:
        fixed_matrix("bs(x, df=-1)", frame)
    _one_line(info)


def test_bar_is_refused_not_read_as_a_second_part(frame):
    with pytest.raises(FormulaError, match=r"lsa\.mixed"):
        model_matrices("y ~ x | g", frame)
    with pytest.raises(FormulaError, match=r"must be one side of a formula"):
        fixed_matrix("y ~ x", frame)


_LEVELS_30 = "[" + ", ".join(f"'l{i}'" for i in range(30)) + "]"


@pytest.mark.parametrize("rhs, culprit", [("id", "'id' has 60 levels"), ("Q('id')", r"Q\('id'\)\W has 60 levels"),
                                          ("C(x)", r"'C\(x\)' has 60 levels"),
                                          (f"C(s, levels={_LEVELS_30})", r"C\(s, levels=.* has 30 levels")])
def test_too_many_levels_refused_before_formulaic_builds(frame, rhs, culprit, monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("formulaic was asked to build the matrix")
    monkeypatch.setattr(lsa.formula.ModelSpec, "get_model_matrix", boom)
    with pytest.raises(FormulaError, match=culprit) as info:
        fixed_matrix(rhs, frame)
    _one_line(info)
