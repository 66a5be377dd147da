"""Identities of the pseudo-likelihood (no external oracle needed) and bad-input errors.

* the objective equals a dense per-cluster evaluation of spec §1.3 (Σ-parametrised, explicit
  inverse), at arbitrary θ — exact to 1e-10 relative;
* the analytic gradient equals central differences of ℓ (1e-5 relative);
* integer level-1 weights ≡ duplicated rows; integer level-2 (and level-3) weights ≡
  duplicated clusters (1e-7); scaling level-2 weights changes only ℓ (1e-7);
* REML on a random-intercept model equals statsmodels MixedLM(reml=True) (1e-5).
"""
import warnings

import numpy as np
import pandas as pd
import pytest

from lsa.errors import DesignError, FormulaError, MissingDataWarning
from lsa.mixed import build_stats, level_weights, mixed, model_frame, parse_formula, profiled
from lsa.mixed.pml import ThetaMap
from conftest import dense_loglik, read_reference_csv
from test_mixed import rel

F_RS = "pv1math ~ st04q01 + escs + (1 + escs | schoolid)"


@pytest.fixture(scope="module")
def pisa():
    return read_reference_csv("pisa2012")


def _stats(formula, d, weights, cond=False):
    fr = model_frame(parse_formula(formula), d, tuple(weights or ()))
    w = level_weights(fr, d, weights, cond)
    return fr, build_stats(fr, w), ThetaMap.from_blocks(fr.blocks)


def test_objective_equals_dense_evaluation(pisa):
    fr, st, tm = _stats(F_RS, pisa, ["w_fstuwt", "w_fschwt"])
    theta = np.array([0.7, -0.1, 0.3])
    pr = profiled(theta, st, tm)
    dense = dense_loglik(fr, pisa, theta, pr.beta, pr.sigma2, "w_fstuwt", "w_fschwt")
    assert rel(pr.loglik, dense) < 1e-10


def test_gradient_matches_finite_differences(pisa):
    fr, st, tm = _stats(F_RS, pisa, None)
    theta = np.array([0.7, -0.1, 0.3])
    g = profiled(theta, st, tm).grad
    fd = [(profiled(theta + e, st, tm).loglik - profiled(theta - e, st, tm).loglik) / 2e-6
          for e in np.eye(3) * 1e-6]
    assert rel(g, fd) < 1e-5


def test_integer_level1_weights_equal_duplicated_rows(pisa):
    d = pisa.copy()
    rng = np.random.default_rng(1)
    d["k"] = rng.integers(1, 4, len(d)).astype(float)
    d["one"] = 1.0
    a = mixed(F_RS, d, weights=["k", "one"], conditional_weights=True)
    dup = d.loc[d.index.repeat(d.k.astype(int))]
    b = mixed(F_RS, dup)
    assert rel(a.params, b.params) < 1e-6            # both iterative: 1e-6
    assert rel(a.variance_components.estimate, b.variance_components.estimate) < 1e-6
    assert rel(a.llf, b.llf) < 1e-10


def test_integer_cluster_weights_equal_duplicated_clusters_3level():
    d = read_reference_csv("timss2019_usa_3level").dropna(subset=["BSBGHER", "Sex"])
    rng = np.random.default_rng(2)
    sch = d.IDSCHOOL.unique()
    ws = dict(zip(sch, rng.integers(1, 3, len(sch))))
    cls = d.IDCLASS.unique()
    wc = dict(zip(cls, rng.integers(1, 3, len(cls))))
    d["w3"] = d.IDSCHOOL.map(ws).astype(float)
    d["w2"] = d.IDCLASS.map(wc).astype(float)
    d["w1"] = 1.0
    f = "BSMMAT01 ~ BSBGHER + Sex + (1 | IDSCHOOL/IDCLASS)"
    a = mixed(f, d, weights=["w1", "w2", "w3"], conditional_weights=True)
    parts = []
    for s, g in d.groupby("IDSCHOOL"):
        for rep_s in range(int(ws[s])):
            for c, gc in g.groupby("IDCLASS"):
                for rep_c in range(int(wc[c])):
                    parts.append(gc.assign(IDSCHOOL=f"{s}_{rep_s}", IDCLASS=f"{c}_{rep_c}"))
    b = mixed(f, pd.concat(parts))
    assert rel(a.params, b.params) < 1e-6
    assert rel(a.variance_components.estimate, b.variance_components.estimate) < 1e-6
    assert rel(a.llf, b.llf) < 1e-10


def test_level2_weight_scale_changes_only_loglik(pisa):
    d = pisa.copy()
    d["w2x"] = d.w_fschwt * 7.0
    a = mixed(F_RS, d, weights=["pwt1", "w_fschwt"], conditional_weights=True)
    b = mixed(F_RS, d, weights=["pwt1", "w2x"], conditional_weights=True)
    assert rel(a.params, b.params) < 1e-7
    assert rel(a.bse, b.bse) < 1e-6
    assert rel(a.variance_components.estimate, b.variance_components.estimate) < 1e-6
    assert rel(b.llf, 7 * a.llf) < 1e-10


def test_reml_matches_statsmodels(pisa):
    import statsmodels.formula.api as smf
    f = "pv1math ~ escs + st04q01"
    res = mixed(f + " + (1 | schoolid)", pisa, reml=True)
    d = pisa.assign(st04q01=pisa.st04q01.cat.remove_unused_categories())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sm = smf.mixedlm(f, d, groups=d["schoolid"]).fit(reml=True)
    ours = res.params[["(Intercept)", "st04q01Male", "escs"]].to_numpy()  # patsy's order
    assert rel(ours, sm.fe_params.to_numpy()) < 1e-5
    assert rel(res.scale, sm.scale) < 1e-5
    assert rel(res.variance_components.estimate.iloc[0], sm.cov_re.iloc[0, 0]) < 1e-5
    assert rel(res.llf, sm.llf) < 1e-7


def test_result_api(pisa):
    res = mixed("pv1math ~ escs + st04q01 + (1 | schoolid)", pisa, weights=["w_fstuwt", "w_fschwt"])
    t = res.tidy()
    assert {"effect", "group", "term", "estimate", "std_error", "statistic", "df", "p_value",
            "conf_low", "conf_high"} <= set(t.columns)
    assert set(t.effect) == {"fixed", "ran_pars"}
    assert "Fixed Effects:" in res.summary() and "Variance terms:" in res.summary()
    assert res.with_vcov("model").bse.iloc[0] == pytest.approx(res.bse_model.iloc[0])
    w = res.wald_test(["escs"])
    assert w.statistic == pytest.approx(res.tvalues["escs"] ** 2)
    ci = res.conf_int()
    assert (ci[0] < res.params).all() and (res.params < ci[1]).all()


def test_missing_rows_dropped_and_reported(pisa):
    d = pisa.copy()
    d.loc[:9, "escs"] = np.nan
    with pytest.warns(MissingDataWarning, match="10 row"):
        res = mixed("pv1math ~ escs + (1 | schoolid)", d, weights=["w_fstuwt", "w_fschwt"])
    assert res.n_dropped == 10 and res.nobs == len(d) - 10


@pytest.mark.parametrize("mutate, weights, err, match", [
    (lambda d: d.assign(w_fstuwt=d.w_fstuwt.where(d.index != 3, -1.0)), None, DesignError, "non-positive"),
    (lambda d: d.assign(w_fschwt=d.w_fschwt.where(d.index != 3, 5.0)), None, DesignError, "varies within"),
    (lambda d: d, ["w_fstuwt"], DesignError, "one column per level"),
    (lambda d: d.assign(x2=2 * d.escs), None, FormulaError, "rank deficient"),
])
def test_bad_input(pisa, mutate, weights, err, match):
    d = mutate(pisa.copy())
    f = "pv1math ~ escs + x2 + (1 | schoolid)" if "x2" in d else "pv1math ~ escs + (1 | schoolid)"
    with pytest.raises(err, match=match):
        mixed(f, d, weights=weights or ["w_fstuwt", "w_fschwt"])


def test_bad_formula_and_groups(pisa):
    with pytest.raises(FormulaError, match="no random term"):
        mixed("pv1math ~ escs", pisa)
    with pytest.raises(FormulaError, match="not a column"):
        mixed("pv1math ~ escs + (1 | nosuch)", pisa)
    d = pisa.assign(cls=np.arange(len(pisa)) % 7)
    with pytest.raises(DesignError, match="not nested"):
        mixed("pv1math ~ escs + (1 | schoolid) + (1 | cls)", d)


def test_group_ids_are_text_sorted_as_text_whatever_their_type():
    """Groups are ordered by the text of their ids (so ``10`` sorts before ``9``), whether the id
    column holds integers (coded through numpy), text or floats (coded by pandas): the same
    groups, labels and row order for the same ids in any type. Oracle: Python's ``sorted`` of
    the ids' text."""
    rng = np.random.default_rng(5)
    ids = rng.choice([-12, -3, 0, 7, 9, 10, 101, 2**40], 200)
    d = pd.DataFrame({"y": rng.normal(size=200), "x": rng.normal(size=200)})
    frames = [model_frame(parse_formula("y ~ x + (1 | g)"), d.assign(g=g))
              for g in (ids, ids.astype(str), pd.array(ids.astype(str), dtype="string"))]
    want = sorted({str(v) for v in ids.tolist()})
    for fr in frames:
        assert list(fr.group_ids[0]) == want
        np.testing.assert_array_equal(fr.order, frames[0].order)
        np.testing.assert_array_equal(fr.codes[0], frames[0].codes[0])
        assert [want[k] for k in fr.codes[0]] == [str(v) for v in ids[fr.order].tolist()]


def test_plain_terms_from_arrays_equal_the_formula_builder():
    """model_frame builds plain ``x + f`` right-hand sides from the columns' arrays (no
    DataFrame); the same terms written ``C(f)`` go through lsa.formula.fixed_matrix and formulaic:
    identical matrices (values and memory layout), names and random-effect columns, exactly."""
    pisa = read_reference_csv("pisa2012")
    for fast, slow in [("pv1math ~ escs + st04q01 + st29q03 + (1 + escs | schoolid)",
                        "pv1math ~ escs + C(st04q01) + C(st29q03) + (1 + escs | schoolid)"),
                       ("pv1math ~ escs + (1 + st04q01 | schoolid)", "pv1math ~ escs + (1 + C(st04q01) | schoolid)")]:
        a, b = (model_frame(parse_formula(f), pisa) for f in (fast, slow))
        assert a.xnames == b.xnames and a.znames == b.znames
        np.testing.assert_array_equal(a.X, b.X)
        assert a.X.flags.f_contiguous == b.X.flags.f_contiguous
        for za, zb in zip(a.Z, b.Z):
            np.testing.assert_array_equal(za, zb)
        np.testing.assert_array_equal(a.order, b.order)


def test_deferred_result_parts_equal_eager_ones_and_travel_complete():
    """variance_components, vc_cov, notes, ranef and random_cov are computed when first read; a
    result pickled before any of them is read (as a worker sends it) carries them computed, equal
    to a fresh fit's exactly; a singular fit's boundary note is there either way."""
    import pickle

    pisa = read_reference_csv("pisa2012")
    formula = "pv1math ~ escs + (1 + escs | schoolid)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sent, fresh = mixed(formula, pisa), mixed(formula, pisa)
    blob = pickle.dumps(sent)
    assert sent.varcomp._call is None and sent.tables._call is None     # computed for pickling
    got = pickle.loads(blob)
    pd.testing.assert_frame_equal(got.variance_components, fresh.variance_components, check_exact=True)
    pd.testing.assert_frame_equal(got.vc_cov["schoolid"]["sandwich"], fresh.vc_cov["schoolid"]["sandwich"],
                                  check_exact=True)
    pd.testing.assert_frame_equal(got.ranef["schoolid"], fresh.ranef["schoolid"], check_exact=True)
    pd.testing.assert_frame_equal(got.random_cov["schoolid"], fresh.random_cov["schoolid"], check_exact=True)
    assert got.notes == fresh.notes
    d = pd.DataFrame({"y": np.r_[np.zeros(5), np.ones(5)] + np.arange(10) * 0.01, "x": np.arange(10.0),
                      "g": np.repeat([1, 2], 5)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        singular = mixed("y ~ x + (1 | g)", d.assign(y=d.x * 0.5 + np.tile([0.1, -0.1, 0.0, 0.05, -0.05], 2)))
    assert any("boundary" in n for n in singular.notes)
