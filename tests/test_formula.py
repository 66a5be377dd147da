"""The one model-matrix builder (lsa.formula): factor order, names and checks shared by every model.

Oracles:
* R: ``tests/reference/piaac_rus_factor_order.json`` (script ``piaac_rus_factor_order.R``;
  survey 4.1.1 ``svyglm`` on a JK2 replicate design with mitools 2.4 pooling, R 4.2.2), the PIAAC
  2012 Russia extract with ``GENDER_R`` declared as ``factor(levels = c("Male", "Female"))``.
  Replicate variance and Rubin's rules are closed forms after a weighted least-squares solve:
  tolerance 1e-8 relative, for estimates and standard errors alike.
* Closed form: swapping the two levels of a binary factor reparametrises the model
  (β_other = −β, intercept + β), so coefficients and SEs map exactly: 1e-8 relative for
  least squares, 1e-7 for the logistic fit (Newton iterated to a 1e-10 relative step).
* Consistency: every estimator names the same term for the same declared order, because they
  share one builder; and no module other than lsa/formula.py builds patsy matrices itself.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lsa
from conftest import load_reference
from lsa.datasets import load
from lsa.formula import as_factors, fixed_matrix, formula_names, model_matrices
from lsa.formula_plain import plain_matrix

R = load_reference("piaac_rus_factor_order")
RTOL = 1e-8


def close(actual, expected, rtol=RTOL):
    np.testing.assert_allclose(np.asarray(actual, float), np.asarray(expected, float), rtol=rtol, atol=0)


@pytest.fixture(scope="module")
def piaac():
    """PIAAC 2012 Russia, GENDER_R declared Male < Female, as lsa's dictionary builds the design."""
    d = load("piaac2012_rus")
    d["GENDER_R"] = pd.Categorical(d["GENDER_R"], categories=R["factor_levels"]["GENDER_R"])
    d["HIGH"] = (d["PVLIT1"] > 275).astype(float)
    return d


def _design(d):
    return lsa.SurveyDesign.from_study("PIAAC", 2012, d)


def _lm(design, formula, fn=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lsa.errors.MissingDataWarning)   # one row lacks GENDER_R
        return (fn or lsa.lm)(design, formula).tidy()


def test_piaac_russia_declared_order_equals_svyglm(piaac):
    design = _design(piaac)
    assert design.n_replicates == 12
    t = _lm(design, "PVLIT ~ GENDER_R + AGE_R")
    assert list(t["term"]) == R["pooled"]["term"] == ["(Intercept)", "GENDER_RFemale", "AGE_R"]
    close(t["estimate"], R["pooled"]["estimate"])             # 1e-8 relative: closed form
    close(t["std_error"], R["pooled"]["std_error"])           # 1e-8 relative
    assert int(t["n_obs"].iloc[0]) == R["n"]


def test_piaac_russia_pv1_equals_svyglm(piaac):
    t = _lm(_design(piaac), "PVLIT1 ~ GENDER_R + AGE_R")
    assert list(t["term"]) == R["pv1"]["term"]
    close(t["estimate"], R["pv1"]["estimate"])                # 1e-8 relative
    close(t["std_error"], R["pv1"]["std_error"])              # 1e-8 relative


def test_text_column_uses_sorted_levels_and_reparametrises(piaac):
    """A text column gets R's factor() default (sorted levels): Female is the reference and the
    fit is the same model, reparametrised."""
    text = _design(piaac.assign(GENDER_R=piaac["GENDER_R"].astype(object)))
    t = _lm(text, "PVLIT ~ GENDER_R + AGE_R")
    assert list(t["term"]) == ["(Intercept)", "GENDER_RMale", "AGE_R"]
    b, se = np.array(R["pooled"]["estimate"]), np.array(R["pooled"]["std_error"])
    close(t["estimate"], [b[0] + b[1], -b[1], b[2]])          # 1e-8 relative: closed form
    close(t["std_error"].iloc[1:], se[1:])                    # 1e-8 relative


def test_logit_honours_declared_order(piaac):
    fwd = _lm(_design(piaac), "HIGH ~ GENDER_R + AGE_R", lsa.logit)
    rev = piaac.assign(GENDER_R=piaac["GENDER_R"].cat.reorder_categories(["Female", "Male"]))
    back = _lm(_design(rev), "HIGH ~ GENDER_R + AGE_R", lsa.logit)
    assert list(fwd["term"]) == ["(Intercept)", "GENDER_RFemale", "AGE_R"]
    assert list(back["term"]) == ["(Intercept)", "GENDER_RMale", "AGE_R"]
    b = fwd["estimate"].to_numpy()
    close(back["estimate"], [b[0] + b[1], -b[1], b[2]], rtol=1e-7)        # Newton to 1e-10 step
    close(back["std_error"].iloc[1:], fwd["std_error"].iloc[1:], rtol=1e-7)


def test_every_estimator_names_the_declared_reference(pisa2012):
    """lm, robust.clustered and mixed share the builder: the same declared order gives the same
    term, and the same coefficient where the models coincide (WLS = lm's full-sample fit)."""
    df = pisa2012.assign(st04q01=pisa2012["st04q01"].cat.reorder_categories(
        ["Male", "Female", "N/A", "Invalid", "Missing"]))
    design = lsa.SurveyDesign(df, ids={"school": "schoolid"}, weights={"student": "w_fstuwt", "school": "w_fschwt"},
                              pvs={"MATH": [f"pv{i}math" for i in range(1, 6)]},
                              replicates=lsa.Replicates.fay([f"w_fsturwt{r}" for r in range(1, 81)], k=0.5))
    lm = _lm(design, "pv1math ~ escs + st04q01")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rob = lsa.robust.clustered("pv1math ~ escs + st04q01", df, cluster="schoolid", weights="w_fstuwt").tidy()
        mix = lsa.mixed("pv1math ~ escs + st04q01 + (1|schoolid)", df).tidy()
    for t in (lm, rob):
        assert list(t["term"]) == ["(Intercept)", "escs", "st04q01Female"]
    assert "st04q01Female" in set(mix["term"]) and "st04q01Male" not in set(mix["term"])
    close(rob["estimate"], lm["estimate"])                     # the same WLS solve: 1e-8 relative


def test_one_builder_calls_patsy():
    """Only lsa/formula.py builds model matrices with a formula parser (formulaic since issue 11,
    patsy before: neither may be called anywhere else)."""
    root = Path(lsa.__file__).parent
    calls = re.compile(r"patsy\.(dmatrix|dmatrices|build_design_matrices|design_matrix_builders)\b"
                       r"|^\s*(from|import) formulaic\b|\b(get_)?model_matrix\(|\bModelSpec\b", re.M)
    users = sorted(str(p.relative_to(root)) for p in root.rglob("*.py") if calls.search(p.read_text()))
    assert users == ["formula.py"], users


def test_names_of_a_formula():
    assert formula_names("y ~ np.log(x) + C(g) + Q('a b')") == ["y", "np", "x", "C", "g", "a b", "Q"]


def test_model_matrices_drop_and_count_missing_rows():
    d = pd.DataFrame({"y": [1.0, 2, 3, 4, np.nan, 6], "x": [0.5, 1, np.nan, 2, 3, 4],
                      "g": pd.Categorical(list("bababa"), categories=["b", "a"])})
    mm = model_matrices("y ~ x + g", d)
    assert mm.terms == ("(Intercept)", "x", "ga") and mm.n_dropped == 2
    np.testing.assert_array_equal(mm.rows, [True, True, False, True, False, True])
    np.testing.assert_array_equal(mm.X, [[1, 0.5, 0], [1, 1, 1], [1, 2, 1], [1, 4, 1]])
    np.testing.assert_array_equal(mm.y, [1, 2, 4, 6])


def test_unused_declared_levels_are_dropped_in_order():
    f = pd.DataFrame({"g": pd.Categorical(["c", "a", "c", "a"], categories=["c", "b", "a"])})
    x, names = fixed_matrix("g", f)
    assert names == ("(Intercept)", "ga")
    np.testing.assert_array_equal(x[:, 1], [0, 1, 0, 1])


def test_no_intercept_names_every_level_as_r():
    """R's model.matrix(~ 0 + g) names the columns gb, ga (declared order), not g[b]."""
    f = pd.DataFrame({"g": pd.Categorical(["a", "b", "b"], categories=["b", "a"]), "x": [1.0, 2, 3]})
    x, names = fixed_matrix("0 + g + x", f)
    assert names == ("gb", "ga", "x")
    np.testing.assert_array_equal(x, [[0, 1, 1], [1, 0, 2], [1, 0, 3]])


def test_plain_names_without_the_parser_equal_the_parser():
    """lsa.formula_plain builds ``x + f + g`` without formulaic; the parser's matrix of the same
    terms written ``C(f)`` (formulaic, then R's names) is the oracle: identical values, names and
    memory layout (exact), including a declared level order, unused levels, text levels with
    spaces, a logical column, and every level count from 2 to 5."""
    rng = np.random.default_rng(16)
    n = 60
    d = pd.DataFrame({"x": rng.normal(size=n),
                      "f": rng.choice(["b x", "a", "c"], n),
                      "g": pd.Categorical(rng.choice(["u", "t"], n), categories=["u", "z", "t"]),
                      "h": rng.choice(list("pqrst"), n),
                      "b": rng.random(n) > 0.5})
    for rhs in ("x + f", "f + x + g", "g + h + b + x", "h"):
        fast = fixed_matrix(rhs, d)
        slow = fixed_matrix(" + ".join(f"C({t})" if t != "x" else t for t in rhs.split(" + ")), d)
        assert fast[1] == slow[1], rhs
        np.testing.assert_array_equal(fast[0], slow[0])
        assert fast[0].flags.f_contiguous == slow[0].flags.f_contiguous, rhs
        names = tuple(rhs.split(" + "))
        used = plain_matrix(as_factors(d, names), True, names) is not None
        assert used == ("b" not in names), rhs       # text levels only: a logical goes to the parser


def test_numeric_model_matrices_without_a_frame_are_the_complete_cases():
    """``y ~ x + z`` on numeric columns is built from the columns' arrays (no DataFrame): the
    complete cases, intercept first, exactly (closed form: numpy on the rows without NaN); an
    infinite response is refused naming its position among the complete rows, as before."""
    d = pd.DataFrame({"y": [1.0, 2, np.nan, 4, 5, 6], "x": [0.5, np.nan, 2, 3, 4, 5], "z": [1, 2, 3, 4, 5, 6]})
    mm = model_matrices("y ~ x + z", d)
    keep = d.notna().all(axis=1).to_numpy()
    assert mm.terms == ("(Intercept)", "x", "z") and mm.n_dropped == 2
    np.testing.assert_array_equal(mm.rows, keep)
    np.testing.assert_array_equal(mm.y, d.y.to_numpy()[keep])
    np.testing.assert_array_equal(mm.X, np.column_stack([np.ones(4), d.x.to_numpy()[keep], d.z.to_numpy(float)[keep]]))
    with pytest.raises(lsa.errors.DesignError, match=r"column 'y' has 1 infinite value\(s\) \(inf/-inf; first rows \[1\]"):
        model_matrices("y ~ x + z", d.assign(y=[1.0, 2, np.nan, np.inf, 5, 6]))
