"""mix_pv and mixed share one fitting step; designs with more levels than the model; lrt_pv on
weighted fits (issue 10, items 5-7).

Oracles:

* identifiability: a random slope on a variable constant within schools is not identified
  (its within-school cross-product matrix has rank 1): both entry points must refuse it with
  the same error; boundary: random "schools" (uniform random ids) have true variance 0;
* designs with more levels than the formula: the documented rule (lsa.mixed.inputs) written
  out by hand in pandas — the level-1 weight given the school is TOTWGT / SCHWGT (total
  weights) or the product of the conditional weights of the collapsed levels — and the fit on
  those explicit weights, which is the same computation (1e-10 relative);
* lrt_pv: closed forms of the pooled Wald test D1 (Li, Raghunathan & Rubin 1991) and of D2
  (Li, Meng, Raghunathan & Rubin 1991) written out here from the per-PV estimates, covariances
  and log-likelihoods (1e-8 relative); for one constraint D1 = the pooled t² = Q̄²/T.

Data: tests/reference/data/pisa2012.csv, timss2019_usa_3level.csv (provenance in
tests/reference/README.md) and the bundled TIMSS 2011 Austria grade-4 extract.
"""
import warnings

import numpy as np
import pytest

import lsa
from lsa.errors import ConvergenceWarning, DesignError, EstimationError, LsaError, PseudoLikelihoodWarning
from lsa.mix_pv import lrt_pv, mix_pv
from lsa.mixed import MixedControl, mixed

from conftest import read_reference_csv, rel_to_scale

W = ["w_fstuwt", "w_fschwt"]
PVS = [f"pv{i}math" for i in range(1, 6)]
LHS = " + ".join(PVS)


@pytest.fixture(scope="module")
def pisa():
    return read_reference_csv("pisa2012")


@pytest.fixture(scope="module")
def timss_aut():
    d = lsa.datasets.load("timss2011_aut_g4")
    return d, lsa.SurveyDesign.from_study("TIMSS", 2011, d)


@pytest.fixture(scope="module")
def timss3():
    d = read_reference_csv("timss2019_usa_3level")
    d["schw"] = d.WGTFAC1 * d.WGTADJ1
    d["c_cls"] = d.WGTFAC2 * d.WGTADJ2
    d["c_stu"] = d.WGTFAC3 * d.WGTADJ3
    d["clsw"] = d.schw * d.c_cls
    d["totw"] = d.clsw * d.c_stu
    return d.dropna(subset=["BSBGHER", "Sex"]).reset_index(drop=True)


def same_fit(a, b, tol=1e-10):
    assert rel_to_scale(a.params, b.params) < tol                                  # same computation: 1e-10
    assert rel_to_scale(a.variance_components.estimate, b.variance_components.estimate) < tol
    assert rel_to_scale(a.bse, b.bse) < tol
    assert abs(a.llf - b.llf) <= tol * abs(b.llf)


# -- item 5: one fitting step, the same checks ---------------------------------------------------

def test_non_identified_slope_refused_by_both(pisa):
    d = pisa.assign(xc=pisa.groupby("schoolid").escs.transform("mean"))
    msg = r"\['\(Intercept\)', 'xc'\] of \(\(Intercept\) \+ xc \| schoolid\) are linearly dependent"
    with pytest.raises(DesignError, match=msg) as by_mixed:
        mixed("pv1math ~ escs + (1 + xc | schoolid)", d, weights=W)
    with pytest.raises(DesignError, match=msg) as by_mix_pv:
        mix_pv(f"{LHS} ~ escs + (1 + xc | schoolid)", d, weights=W)
    assert type(by_mixed.value) is type(by_mix_pv.value)
    assert str(by_mixed.value) == str(by_mix_pv.value)


def test_too_many_random_effects_refused_by_both(pisa):
    one = pisa.groupby("schoolid").head(1)                      # one student per school
    for call in (lambda: mixed("pv1math ~ escs + (1 | schoolid)", one),
                 lambda: mix_pv("pv1math + pv2math ~ escs + (1 | schoolid)", one)):
        with pytest.raises(DesignError, match=r"number of observations \(157\) <= number of random"):
            call()


def test_boundary_notes_reach_mix_pv(pisa):
    d = pisa.assign(fake=np.random.default_rng(0).integers(0, 60, len(pisa)))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        res = mix_pv("pv1math + pv2math ~ escs + (1 | fake)", d)
        one = mixed("pv1math ~ escs + (1 | fake)", d)
    assert one.variance_components.estimate.iloc[0] == 0.0 and len(one.notes) == 1
    assert res.fits[0].notes == one.notes                       # the same check, the same note
    assert all("boundary" in n for n in res.notes) and len(res.notes) >= 1
    assert f"Note: {res.notes[0]}" in res.summary()


def test_nonconvergence_reported_by_both(pisa):
    ctl = MixedControl(maxiter=1, newton=0)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        one = mixed("pv1math ~ escs + (escs | schoolid)", pisa, weights=W, control=ctl)
    assert not one.converged
    with pytest.warns(ConvergenceWarning, match=r"did not converge for plausible value\(s\)"):
        res = mix_pv("pv1math + pv2math ~ escs + (escs | schoolid)", pisa, weights=W, control=ctl,
                     nonconverged="warn")
    assert not res.fits[0].converged


# -- item 6: designs with more levels than the formula ---------------------------------------------

def test_timss_design_two_level_formula_equals_explicit_weights(timss_aut):
    d, design = timss_aut
    assert design.levels == ("school", "class", "student")
    with pytest.warns(lsa.errors.MissingDataWarning):
        by_design = mixed("ASMMAT1 ~ female + books + (1 | school)", design)
    with pytest.warns(lsa.errors.MissingDataWarning):
        explicit = mixed("ASMMAT1 ~ female + books + (1 | idschool)", d, weights=["TOTWGT", "SCHWGT"])
    same_fit(by_design, explicit)
    # the rule itself: level-1 weight given the school = TOTWGT / SCHWGT (closed form, 1e-12)
    rw = by_design.row_weights()
    want = (d.TOTWGT / d.SCHWGT).loc[rw.index]
    assert rel_to_scale(rw.w1_cond, want) < 1e-12
    assert rel_to_scale(rw.w2_cond, d.SCHWGT.loc[rw.index]) < 1e-12


def test_timss_design_mix_pv_equals_explicit_weights(timss_aut):
    d, design = timss_aut
    with pytest.warns(lsa.errors.MissingDataWarning):
        by_design = mix_pv("ASMMAT ~ female + (1 | school)", design)
    lhs = " + ".join(f"ASMMAT{m}" for m in range(1, 6))
    with pytest.warns(lsa.errors.MissingDataWarning):
        explicit = mix_pv(f"{lhs} ~ female + (1 | idschool)", d, weights=["TOTWGT", "SCHWGT"])
    assert rel_to_scale(by_design.fixed.estimate, explicit.fixed.estimate) < 1e-10   # same computation
    assert rel_to_scale(by_design.fixed.total, explicit.fixed.total) < 1e-10
    assert rel_to_scale(by_design.random.estimate, explicit.random.estimate) < 1e-10


def test_conditional_design_collapses_unused_levels(timss3):
    """Conditional weights: the collapsed levels' conditional weights are multiplied into the
    level below ((1|school): c_stu·c_cls), and the top used level carries the levels above
    ((1|class): school weight · c_cls); equal to the fits on total weights (1e-10)."""
    d = timss3
    design = lsa.SurveyDesign(d, ids={"school": "IDSCHOOL", "class": "IDCLASS"},
                              weights={"school": "schw", "class": "c_cls", "student": "c_stu"},
                              conditional_weights=True)
    school = mixed("BSMMAT01 ~ BSBGHER + Sex + (1 | school)", design)
    same_fit(school, mixed("BSMMAT01 ~ BSBGHER + Sex + (1 | IDSCHOOL)", d, weights=["totw", "schw"]))
    assert rel_to_scale(school.row_weights().w1_cond, (d.c_stu * d.c_cls).loc[school.rows_used]) < 1e-12
    cls = mixed("BSMMAT01 ~ BSBGHER + Sex + (1 | class)", design)
    same_fit(cls, mixed("BSMMAT01 ~ BSBGHER + Sex + (1 | IDCLASS)", d, weights=["totw", "clsw"]))
    # the three-level model uses every level as given
    three = mixed("BSMMAT01 ~ BSBGHER + Sex + (1 | school/class)", design)
    same_fit(three, mixed("BSMMAT01 ~ BSBGHER + Sex + (1 | IDSCHOOL/IDCLASS)", d,
                          weights=["totw", "clsw", "schw"]), tol=1e-8)   # products in another order


def test_level_without_weight_is_an_error(timss_aut):
    _, design = timss_aut
    with pytest.raises(DesignError, match=r"no weight for \['class'\]"):
        mixed("ASMMAT1 ~ female + (1 | school/class)", design)
    with pytest.raises(DesignError, match=r"no weight for \['class'\]"):
        mix_pv("ASMMAT ~ female + (1 | class)", design)


# -- item 7: lrt_pv on weighted fits --------------------------------------------------------------

def d1_by_hand(fits, terms):
    idx = [list(fits[0].params.index).index(t) for t in terms]
    q = np.array([f.params.to_numpy()[idx] for f in fits])
    u = np.array([f.cov_params().to_numpy()[np.ix_(idx, idx)] for f in fits])
    m, k = q.shape
    qbar, ubar = q.mean(0), u.mean(0)
    b = (q - qbar).T @ (q - qbar) / (m - 1)
    r1 = (1 + 1 / m) * np.trace(b @ np.linalg.inv(ubar)) / k
    return float(qbar @ np.linalg.solve(ubar, qbar) / (k * (1 + r1)))


def test_weighted_lrt_returns_pooled_wald(pisa):
    full = mix_pv(f"{LHS} ~ escs + st04q01 + (1 | schoolid)", pisa, weights=W)
    red = mix_pv(f"{LHS} ~ escs + (1 | schoolid)", pisa, weights=W)
    with pytest.warns(PseudoLikelihoodWarning, match=r"pooled Wald test \(D1\) of \['st04q01Male'\]"):
        res = lrt_pv(full, red)
    assert res.method.startswith("D1") and res.df_num == 1
    assert rel_to_scale(res.statistic, d1_by_hand(full.fits, ["st04q01Male"])) < 1e-8      # closed form
    t = full.tidy().set_index("term").loc["st04q01Male", "statistic"]
    assert rel_to_scale(res.statistic, t**2) < 1e-8                       # one constraint: D1 = t² = Q̄²/T
    d2 = lsa.pooling.lrt_d2(-2 * (red.loglik - full.loglik), 1).statistic
    assert d2 > 5 * res.statistic                                # what the plain D2 would have said


def test_weighted_lrt_random_part_is_refused_unless_asked(pisa):
    ri = mix_pv("pv1math + pv2math ~ escs + (1 | schoolid)", pisa, weights=W)
    rs = mix_pv("pv1math + pv2math ~ escs + (escs | schoolid)", pisa, weights=W)
    with pytest.raises(EstimationError, match="random part"):
        lrt_pv(rs, ri)
    with pytest.warns(PseudoLikelihoodWarning, match="random part"):
        res = lrt_pv(rs, ri, unadjusted=True)
    assert "not a valid test" in res.method


def test_unweighted_lrt_is_d2(pisa):
    full = mix_pv(f"{LHS} ~ escs + st04q01 + (1 | schoolid)", pisa)
    red = mix_pv(f"{LHS} ~ escs + (1 | schoolid)", pisa)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PseudoLikelihoodWarning)
        res = lrt_pv(red, full)
    d = -2 * (red.loglik - full.loglik)
    m, k = len(d), 1
    r = (1 + 1 / m) * np.var(np.sqrt(d), ddof=1)
    f = (d.mean() / k - (m + 1) / (m - 1) * r) / (1 + r)
    assert res.method == "D2"
    assert rel_to_scale(res.statistic, f) < 1e-8                                          # closed form
    assert rel_to_scale(res.df_den, k ** (-3 / m) * (m - 1) * (1 + 1 / r) ** 2) < 1e-8


def test_lrt_weighted_against_unweighted_is_an_error(pisa):
    a = mix_pv("pv1math + pv2math ~ escs + st04q01 + (1 | schoolid)", pisa, weights=W)
    b = mix_pv("pv1math + pv2math ~ escs + (1 | schoolid)", pisa)
    with pytest.raises(LsaError, match="one model is weighted"):
        lrt_pv(a, b)
    c = mix_pv("pv1math + pv2math ~ st04q01 + sc14q02 + (1 | schoolid)", pisa, weights=W)
    with pytest.raises(LsaError, match="not nested"):
        lrt_pv(c, a)
