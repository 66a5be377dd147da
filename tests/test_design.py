"""SurveyDesign: validation (clear errors naming columns and values), weights by level,
domains, JK2 replicate construction (closed form), and estimators against naive loops."""

import numpy as np
import pandas as pd
import pytest

import lsa
from lsa.replicates import replicate_variance

REP = [f"w_fsturwt{r}" for r in range(1, 81)]
PV = [f"pv{i}math" for i in range(1, 6)]


@pytest.fixture(scope="module")
def df(pisa2012):
    return pisa2012


def base(df, **kw):
    spec = dict(ids={"school": "schoolid"}, weights={"student": "w_fstuwt", "school": "w_fschwt"},
                pvs={"MATH": PV}, replicates=lsa.Replicates.fay(REP, k=0.5))
    spec.update(kw)
    return lsa.SurveyDesign(df, **spec)


def test_conditional_weights_derived_both_ways(df):
    d = base(df)
    np.testing.assert_allclose(d.conditional_weight("student"), df["pwt1"], rtol=1e-6)  # pwt1 = total/school (rounded in file)
    c = lsa.SurveyDesign(df.assign(cw=df["w_fstuwt"] / df["w_fschwt"]), ids={"school": "schoolid"},
                         weights={"student": "cw", "school": "w_fschwt"}, conditional_weights=True)
    np.testing.assert_allclose(c.total_weight("student"), df["w_fstuwt"], rtol=1e-12)
    assert d.levels == ("school", "student")


def test_design_is_immutable_and_subset_keeps_rows(df):
    d = base(df)
    with pytest.raises(AttributeError):
        d.study = "PISA"
    sub = d.subset("st04q01 == 'Male'")
    assert sub.n == d.n and sub.domain.sum() == (df["st04q01"] == "Male").sum()
    assert d.domain.all()
    w = sub.weight_matrix()
    assert w.shape == (d.n, 81) and (w[~sub.domain] == 0).all()


@pytest.mark.parametrize("mutate,match", [
    (lambda x: x.assign(w_fstuwt=x["w_fstuwt"].where(x.index != 3)), r"'w_fstuwt'.*1 missing"),
    (lambda x: x.assign(w_fstuwt=-x["w_fstuwt"]), r"'w_fstuwt'.*negative"),
    (lambda x: x.assign(w_fstuwt=0.0), "sums to zero"),
    (lambda x: x.assign(w_fschwt=x["w_fschwt"] * (1 + 0.1 * (x.index % 2))), r"'w_fschwt' varies within .* schools"),
    (lambda x: x.drop(columns=["w_fsturwt7"]), r"replicate columns missing.*w_fsturwt7"),
    (lambda x: x.drop(columns=["pv3math"]), r"PV set 'MATH'.*pv3math"),
    (lambda x: x.assign(**{"w_fsturwt5": np.inf}), r"'w_fsturwt5'"),
])
def test_bad_input_names_column(df, mutate, match):
    with pytest.raises(lsa.DesignError, match=match):
        d = base(mutate(df.copy()))
        d.replicate_weights()


def test_unequal_pv_sets_and_non_nested_ids(df):
    with pytest.raises(lsa.DesignError, match="unequal lengths"):
        base(df, pvs={"MATH": PV, "M4": PV[:4]})
    x = df.assign(cls=np.arange(len(df)) % 7)         # class 0..6 repeated across schools
    with pytest.raises(lsa.DesignError, match="not nested"):
        lsa.SurveyDesign(x, ids={"school": "schoolid", "class": "cls"}, weights={"student": "w_fstuwt"})
    with pytest.raises(lsa.DesignError, match="exactly one observation-level weight"):
        lsa.SurveyDesign(df, ids={"school": "schoolid"}, weights={"school": "w_fschwt"})
    with pytest.raises(lsa.DesignError, match="neither a column nor a plausible-value set"):
        lsa.mean(base(df), "READ")


def test_jk2_from_zones_closed_form():
    zone = np.array([1, 1, 2, 2, 3, 3, 3])
    rep = np.array([1, 0, 0, 1, 1, 0, 1])
    w = np.arange(1.0, 8.0)
    data = pd.DataFrame({"z": zone, "r": rep, "w": w})
    half = lsa.Replicates.jk2(zone="z", rep="r").weights(data, w)
    full = lsa.Replicates.jk2(zone="z", rep="r", both_halves=True)
    both = full.weights(data, w)
    expect = np.array([[2 * w[0], w[0], w[0]], [0, w[1], w[1]], [w[2], 0, w[2]], [w[3], 2 * w[3], w[3]],
                       [w[4], w[4], 2 * w[4]], [w[5], w[5], 0], [w[6], w[6], 2 * w[6]]])
    np.testing.assert_array_equal(half, expect)
    np.testing.assert_array_equal(both[:, :3], expect)
    np.testing.assert_array_equal(both[:, 3:], np.where(expect == w[:, None], w[:, None], 2 * w[:, None] - expect))
    assert full.factor == 0.5 and full.n_replicates(data) == 6


def naive(df, stat):
    """Independent reference: loop over PVs and weight columns with plain numpy, Fay factor 1/20."""
    cols = ["w_fstuwt"] + REP
    est, var = [], []
    for pv in PV:
        th = np.array([stat(df[pv].to_numpy(), df[c].to_numpy()) for c in cols])
        est.append(th[0])
        var.append(np.sum((th[1:] - th[0]) ** 2, axis=0) / 20)
    est, var = np.array(est), np.array(var)
    b = est.var(axis=0, ddof=1)
    return est.mean(axis=0), np.sqrt(var.mean(axis=0) + 1.2 * b)


def test_sd_correlation_benchmarks_against_naive_loops(df):
    d = base(df)
    sd = lambda y, w: np.sqrt(np.average((y - np.average(y, weights=w)) ** 2, weights=w))
    e, s = naive(df, sd)
    t = lsa.sd(d, "MATH").tidy()
    np.testing.assert_allclose([t.estimate[0], t.std_error[0]], [e, s], rtol=1e-8)
    escs = df["escs"].to_numpy()
    cor = lambda y, w: np.cov(y, escs, aweights=w)[0, 1] / np.sqrt(np.cov(y, escs, aweights=w)[0, 0] * np.cov(y, escs, aweights=w)[1, 1])
    e, s = naive(df, cor)
    t = lsa.correlation(d, ["MATH", "escs"]).tidy()
    np.testing.assert_allclose([t.estimate[0], t.std_error[0]], [e, s], rtol=1e-8)
    cuts = [400.0, 475.0, 550.0, 625.0]
    lev = lambda y, w: np.array([np.average(np.searchsorted(cuts, y, side="right") == k, weights=w) for k in range(5)]) * 100
    e, s = naive(df, lev)
    t = lsa.benchmarks(d, "MATH", cuts=cuts).tidy()
    np.testing.assert_allclose(t.estimate, e, rtol=1e-8)
    np.testing.assert_allclose(t.std_error, s, rtol=1e-8)
    cum = lsa.benchmarks(d, "MATH", cuts=cuts, cumulative=True).tidy()
    np.testing.assert_allclose(cum.estimate, np.cumsum(e[::-1])[::-1][1:], rtol=1e-8)


def test_pv_as_predictor_pairs_pv_m_with_pv_m(df):
    d = base(df.assign(y=df["escs"] * 10))
    t = lsa.lm(d, "y ~ MATH").tidy()
    per = [np.polyfit(df[pv], df["escs"] * 10, 1, w=np.sqrt(df["w_fstuwt"]))[0] for pv in PV]
    np.testing.assert_allclose(t.loc[t.term == "MATH", "estimate"], np.mean(per), rtol=1e-8)


def test_replicate_variance_formula():
    theta = np.array([1.0, 2.0])
    reps = np.array([[1.5, 2.0], [0.5, 3.0]])
    v = replicate_variance(theta, reps, 0.05)
    np.testing.assert_allclose(v, 0.05 * np.array([[0.5, -0.5], [-0.5, 1.0]]))


def test_simulation_with_known_truth_covers():
    """Design-based mean and regression over 40 simulated samples: the z-scores against the
    finite-population truth are centred with unit spread (bounds allow Monte Carlo error)."""
    from lsa.datasets.simulate import simulate
    z = []
    for seed in range(40):
        s = simulate(n_schools=100, students_per_school=20, seed=seed)
        d = s.design()
        m = lsa.mean(d, "MATH").tidy().iloc[0]
        b = lsa.lm(d, "MATH ~ escs + female").tidy().set_index("term").loc["escs"]
        z.append([(m.estimate - s.truth["mean"]) / m.std_error, (b.estimate - s.truth["coef"]["escs"]) / b.std_error])
    z = np.array(z)
    assert np.all(np.abs(z.mean(axis=0)) < 0.5)
    assert np.all((z.std(axis=0) > 0.6) & (z.std(axis=0) < 1.4))


def test_multilevel_models_take_the_design(df):
    """lsa.mixed and lsa.mix_pv with a design equal the same fits with explicit weight columns
    (same data, same optimiser: identical to 1e-10); level names work as grouping factors and a
    domain equals fitting the subset."""
    d = base(df)
    by_cols = lsa.mixed("pv1math ~ escs + (1|schoolid)", df, weights=["w_fstuwt", "w_fschwt"])
    for formula in ("pv1math ~ escs + (1|schoolid)", "pv1math ~ escs + (1|school)"):
        np.testing.assert_allclose(lsa.mixed(formula, d).params, by_cols.params, rtol=1e-10)
    girls = df["st04q01"] == "Female"
    np.testing.assert_allclose(lsa.mixed("pv1math ~ escs + (1|school)", d.subset(girls)).params,
                               lsa.mixed("pv1math ~ escs + (1|schoolid)", df[girls],
                                         weights=["w_fstuwt", "w_fschwt"]).params, rtol=1e-10)
    pooled = lsa.mix_pv("MATH ~ escs + (1|school)", d)
    explicit = lsa.mix_pv(" + ".join(PV) + " ~ escs + (1|schoolid)", df, weights=["w_fstuwt", "w_fschwt"])
    np.testing.assert_allclose(pooled.params, explicit.params, rtol=1e-10)
    np.testing.assert_allclose(pooled.bse, explicit.bse, rtol=1e-10)
