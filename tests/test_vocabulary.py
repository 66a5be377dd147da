"""One results vocabulary (AGENTS.md "The results vocabulary", :mod:`lsa.results`).

Oracles, all closed forms on the result's own table (tolerance 1e-12 relative, the arithmetic
of one interval or one quadratic form):

* ``conf_int()`` has the columns ``conf_low``/``conf_high`` and equals
  estimate ∓ q·std_error, q the t quantile with the row's df (normal when df = ∞);
* ``tidy()`` puts ``term, estimate, std_error, statistic, df, p_value, conf_low, conf_high`` in
  that order after the identifying columns only;
* every ``wald_test`` returns :class:`lsa.results.WaldTest`; a one-term χ² test is t² with
  p = P(χ²₁ > t²);
* deprecated names (conf_int keys ``0/1`` and ``lower/upper``, ``WaldTest.df/df_denom/test``,
  the options ``df=``, ``df_complete=``, ``conf_level=``, the old class names) warn with a
  ``DeprecationWarning`` and return exactly (==) what the new names return.
"""

import importlib
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import lsa
from conftest import rel_to_scale
import lsa.impute as li
from lsa import pooling
from lsa.results import TIDY_COLUMNS, ConfInt, WaldTest
from lsa.robust import clustered, risk_ratios


@pytest.fixture(scope="module")
def sim():
    return lsa.datasets.simulate(n_schools=24, students_per_school=12, n_pvs=2, seed=3)


@pytest.fixture(scope="module")
def design_result(sim):
    return lsa.mean(sim.design(), ["MATH", "escs"])


@pytest.fixture(scope="module")
def by_result(sim):
    return lsa.mean(sim.design(), ["MATH", "escs"], by="female")


@pytest.fixture(scope="module")
def mixed_fit(sim):
    return lsa.mixed("PV1MATH ~ escs + female + (1|school_id)", sim.data)


@pytest.fixture(scope="module")
def mixpv(sim):
    return lsa.mix_pv("PV1MATH + PV2MATH ~ escs + female + (1|school_id)", sim.data, df_method="rubin")


@pytest.fixture(scope="module")
def robust(sim):
    return clustered("PV1MATH ~ escs + female", sim.data, cluster="school_id")


@pytest.fixture(scope="module")
def pooled_mi(mixpv):
    return li.pool(list(mixpv.fits))


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)      # the new names never warn
        return fn(*args, **kwargs)


def _closed_form_ci(tidy: pd.DataFrame, alpha: float = 0.05):
    df = tidy["df"].to_numpy(float)
    q = np.where(np.isinf(df), stats.norm.ppf(1 - alpha / 2), stats.t.ppf(1 - alpha / 2, np.where(np.isinf(df), 1, df)))
    est, se = tidy["estimate"].to_numpy(float), tidy["std_error"].to_numpy(float)
    return est - q * se, est + q * se


RESULTS = ["design_result", "by_result", "mixed_fit", "mixpv", "robust", "pooled_mi"]


@pytest.mark.parametrize("name", RESULTS)
def test_conf_int_columns_and_closed_form(name, request):
    res = request.getfixturevalue(name)
    ci = _quiet(res.conf_int)
    assert isinstance(ci, ConfInt) and list(ci.columns) == ["conf_low", "conf_high"]
    t = _quiet(res.tidy)
    if "effect" in t and name != "mixpv":                 # MixPVResult.conf_int: every parameter
        t = t[t.effect == "fixed"]
    low, high = _closed_form_ci(t)
    assert rel_to_scale(ci["conf_low"], low) < 1e-12 and rel_to_scale(ci["conf_high"], high) < 1e-12   # closed form
    assert rel_to_scale(t["conf_low"], low) < 1e-12 and rel_to_scale(t["conf_high"], high) < 1e-12


@pytest.mark.parametrize("name", RESULTS)
def test_tidy_column_order(name, request):
    res = request.getfixturevalue(name)
    cols = list(_quiet(res.tidy).columns)
    start = cols.index("term")
    assert cols[start:start + len(TIDY_COLUMNS)] == list(TIDY_COLUMNS)
    assert set(cols[:start]) <= {"effect", "group", "female"}                # identifying columns only


@pytest.mark.parametrize("name", [r for r in RESULTS if r != "by_result"])      # by groups: below
def test_params_bse_cov_params(name, request):
    res = request.getfixturevalue(name)
    params, bse, cov = _quiet(lambda: res.params), _quiet(lambda: res.bse), _quiet(res.cov_params)
    assert isinstance(params, pd.Series) and isinstance(bse, pd.Series) and isinstance(cov, pd.DataFrame)
    assert list(cov.index) == list(params.index)
    assert rel_to_scale(bse, np.sqrt(np.diag(cov))) < 1e-12                          # closed form


def test_design_result_by_groups(by_result):
    p = by_result.params
    assert p.index.names == ["female", "term"]
    assert p.loc[(1, "MATH")] == by_result.table.query("female == 1 and term == 'MATH'")["estimate"].item()
    cov = by_result.cov_params((1,))
    assert rel_to_scale(by_result.bse.loc[1], np.sqrt(np.diag(cov))) < 1e-12
    with pytest.raises(lsa.DesignError, match=r"cov_params: group must be the labels of one by-group.*got \(\)"):
        by_result.cov_params()


@pytest.mark.parametrize("name,keys", [("design_result", ("lower", "upper")), ("mixed_fit", (0, 1)),
                                       ("mixpv", (0, 1))])
def test_old_conf_int_keys_warn_and_return_the_same_numbers(name, keys, request):
    ci = request.getfixturevalue(name).conf_int()
    for old, new in zip(keys, ("conf_low", "conf_high")):
        with pytest.warns(DeprecationWarning, match=f"conf_int\\(\\)\\[{old!r}\\] is deprecated"):
            got = ci[old]
        pd.testing.assert_series_equal(got, ci[new])                  # the same column


def test_conf_int_alpha(mixed_fit, robust, design_result):
    for res in (mixed_fit, robust, design_result):
        t = res.tidy()
        if "effect" in t:
            t = t[t.effect == "fixed"]
        low, high = _closed_form_ci(t, alpha=0.2)
        ci = res.conf_int(alpha=0.2)
        assert rel_to_scale(ci["conf_low"], low) < 1e-12 and rel_to_scale(ci["conf_high"], high) < 1e-12
    for res in (mixed_fit, design_result):
        with pytest.raises(lsa.LsaError, match="alpha must be > 0 and < 1; got 5"):
            res.conf_int(alpha=5)


# -- one WaldTest ------------------------------------------------------------------------------

def test_every_wald_test_is_the_one_type(mixed_fit, mixpv, robust):
    tests = {"mixed": mixed_fit.wald_test(["escs"]), "mix_pv": mixpv.wald_test(["escs"]),
             "robust": robust.wald_test(["escs"]), "robust chi2": robust.wald_test(["escs"], test="chi2")}
    for label, w in tests.items():
        assert type(w) is WaldTest, label
        assert all(hasattr(w, f) for f in ("statistic", "df_num", "df_den", "p_value", "method")), label
        assert w.hypotheses == ("escs = 0",), label
    assert pooling.WaldTest is WaldTest
    m = tests["mixed"]
    t = mixed_fit.tvalues["escs"]
    assert (m.method, m.df_num, m.df_den) == ("chi2", 1, np.inf)
    assert rel_to_scale(m.statistic, t ** 2) < 1e-12 and rel_to_scale(m.p_value, stats.chi2.sf(t ** 2, 1)) < 1e-12   # closed form
    r = tests["robust"]
    assert r.method == "HTZ" and rel_to_scale(r.statistic, robust.tvalues["escs"] ** 2) < 1e-10   # q = 1: HTZ = t²
    assert rel_to_scale(r.df_den, robust.df["escs"]) < 1e-10
    assert tests["mix_pv"].method == "D1" and np.isfinite(tests["mix_pv"].riv)
    assert "Wald test (HTZ) of escs = 0: F = " in str(r) and "chi2 = " in str(m)


def test_old_wald_names_warn_and_return_the_same_numbers(mixed_fit, robust):
    m, r = mixed_fit.wald_test(["escs", "female"]), robust.wald_test(["escs", "female"])
    with pytest.warns(DeprecationWarning, match="WaldTest.df is deprecated"):
        assert m.df == m.df_num == 2
    with pytest.warns(DeprecationWarning, match="WaldTest.df_denom is deprecated"):
        assert r.df_denom == r.df_den
    with pytest.warns(DeprecationWarning, match="WaldTest.test is deprecated"):
        assert r.test == r.method == "HTZ"
    mr = importlib.import_module("lsa.mixed.results")        # lsa.mixed is also the function mixed
    rw = importlib.import_module("lsa.robust.wald")
    for module in (lsa.robust, rw, mr):
        with pytest.warns(DeprecationWarning, match="WaldTestResult is deprecated"):
            assert module.WaldTestResult is WaldTest


# -- one name per option -----------------------------------------------------------------------

def _same_tables(a: pd.DataFrame, b: pd.DataFrame):
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_mix_pv_df_is_df_method(sim, mixpv):
    f = "PV1MATH + PV2MATH ~ escs + female + (1|school_id)"
    with pytest.warns(DeprecationWarning, match=r"mix_pv\(\): df= is deprecated; use df_method="):
        old = lsa.mix_pv(f, sim.data, df="rubin")
    _same_tables(old.tidy(), mixpv.tidy())
    assert old.df_method == "rubin"
    with pytest.raises(lsa.LsaError, match="give df_method= only .*got both"):
        lsa.mix_pv(f, sim.data, df="rubin", df_method="cluster")
    with pytest.raises(lsa.LsaError, match="df_method must be 'barnard_rubin', 'rubin', 'cluster' .*got 'kr'"):
        lsa.mix_pv(f, sim.data, df_method="kr")


def test_impute_pool_df_complete_is_df_method(mixpv):
    fits = list(mixpv.fits)
    for old, new in (("mixpv", "barnard_rubin"), (None, "rubin"), (250, 250)):
        with pytest.warns(DeprecationWarning, match=r"pool\(\): df_complete= is deprecated"):
            a = li.pool(fits, df_complete=old)
        b = _quiet(li.pool, fits, df_method=new)
        _same_tables(a.tidy(), b.tidy())
    _same_tables(_quiet(li.pool, fits).tidy(), li.pool(fits, df_method="barnard_rubin").tidy())
    # the same fits give mix_pv's numbers under the same rule
    assert rel_to_scale(li.pool(fits, df_method="rubin").fixed["df"], mixpv.fixed.df) < 1e-12
    with pytest.raises(lsa.LsaError, match="df_method must be 'barnard_rubin', 'rubin' or a positive number"):
        li.pool(fits, df_method="satterthwaite")
    with pytest.raises(lsa.LsaError, match="df_method must be > 0; got -3"):
        li.pool(fits, df_method=-3)
    with pytest.raises(lsa.LsaError, match="give df_method= only"):
        li.pool(fits, df_method="rubin", df_complete=None)


def test_clustered_result_options(robust):
    with pytest.warns(DeprecationWarning, match=r"with_vcov\(\): df= is deprecated"):
        old = robust.with_vcov("CR2", df="naive")
    new = _quiet(robust.with_vcov, "CR2", df_method="naive")
    _same_tables(old.tidy(), new.tidy())
    assert new.df_method == "naive"
    with pytest.warns(DeprecationWarning, match=r"tidy\(\): conf_level= is deprecated"):
        old = robust.tidy(conf_level=0.9)
    _same_tables(old, _quiet(robust.tidy, alpha=0.1))
    with pytest.warns(DeprecationWarning, match=r"tidy\(\): conf_level= is deprecated"):
        positional = robust.tidy(0.9)                              # the old positional conf_level
    _same_tables(positional, old)
    log_fit = clustered("female ~ escs", robust_data(robust), cluster="school_id", family="poisson")
    with pytest.warns(DeprecationWarning, match=r"risk_ratios\(\): conf_level= is deprecated"):
        a = risk_ratios(log_fit, conf_level=0.9)
    _same_tables(a, _quiet(risk_ratios, log_fit, alpha=0.1))
    assert rel_to_scale(a["conf_low"], np.exp(log_fit.conf_int(alpha=0.1)["conf_low"])) < 1e-12


def robust_data(robust):
    return lsa.datasets.simulate(n_schools=24, students_per_school=12, n_pvs=2, seed=3).data


# -- df_method in lsa.robust (df= is the deprecated name) ---------------------------------------
# Oracle: with df_method="naive" every coefficient's df is G - 1 (clubSandwich's naive-t; 24
# schools here), with "residual" n - p and with "z" infinite, and each p-value is the closed form
# 2 P(T_df > |t|) (tolerance 1e-12 relative); the old name gives exactly (==) the same table.

def _robust_fit(name, sim, mixed_fit, **option):
    from lsa.robust.formula import build_design
    d = sim.data
    if name == "clustered":
        return lsa.robust.clustered("PV1MATH ~ escs + female", d, cluster="school_id", **option)
    if name == "lpm":
        return lsa.robust.lpm("female ~ escs", d, cluster="school_id", **option)
    if name == "modified_poisson":
        return lsa.robust.modified_poisson("female ~ escs", d, cluster="school_id", **option)
    if name == "gee":
        return lsa.robust.gee("PV1MATH ~ escs + female", d, cluster="school_id", **option)
    if name == "robust_mixed":
        return lsa.robust.robust_mixed(mixed_fit, **option)
    x = build_design("PV1MATH ~ escs + female", d)          # robust_mixed_components
    codes = d["school_id"].to_numpy()[x.rows]
    return lsa.robust.robust_mixed_components(x.y, x.X, x.terms, [np.ones((len(x.y), 1))], [codes],
                                              [np.array([[40.0]])], 900.0, **option)


ROBUST_FUNCTIONS = ["clustered", "lpm", "modified_poisson", "gee", "robust_mixed", "robust_mixed_components"]


@pytest.mark.parametrize("name", ROBUST_FUNCTIONS)
def test_robust_df_is_df_method(name, sim, mixed_fit):
    new = _quiet(_robust_fit, name, sim, mixed_fit, df_method="naive")
    assert new.df_method == "naive" and new.n_clusters == 24
    tab = new.tidy()
    assert (tab["df"] == 23.0).all()                                # G - 1, exact
    t = tab["estimate"] / tab["std_error"]
    assert rel_to_scale(tab["p_value"], 2 * stats.t.sf(np.abs(t), 23)) < 1e-12
    with pytest.warns(DeprecationWarning, match=rf"{name}\(\): df= is deprecated; use df_method="):
        old = _robust_fit(name, sim, mixed_fit, df="naive")
    _same_tables(old.tidy(), tab)
    np.testing.assert_array_equal(old.cov, new.cov)
    with pytest.raises(lsa.LsaError, match=rf"{name}: give df_method= only .*got both df_method='residual' and "
                                           r"df='naive'"):
        _robust_fit(name, sim, mixed_fit, df="naive", df_method="residual")


@pytest.mark.parametrize("name", ROBUST_FUNCTIONS)
def test_robust_df_method_error_names_the_option_used(name, sim, mixed_fit):
    with pytest.raises(lsa.LsaError, match=r"^df_method must be one of \[.*\]; got 'kr'"):
        _quiet(_robust_fit, name, sim, mixed_fit, df_method="kr")
    with pytest.warns(DeprecationWarning, match="df= is deprecated"), \
            pytest.raises(lsa.LsaError, match=r"^df must be one of \[.*\]; got 'kr'"):
        _robust_fit(name, sim, mixed_fit, df="kr")


def test_robust_df_method_defaults_and_positions(sim, robust):
    d = sim.data
    # the defaults are unchanged: Satterthwaite for clustered, z tests for gee (as geepack)
    assert robust.df_method == "satterthwaite"
    g = _quiet(lsa.robust.gee, "PV1MATH ~ escs + female", d, cluster="school_id")
    assert g.df_method == "z" and np.isinf(g.df_values).all()
    tab = g.tidy()
    z = tab["estimate"] / tab["std_error"]
    assert rel_to_scale(tab["p_value"], 2 * stats.norm.sf(np.abs(z))) < 1e-12
    # the old positional slot of df is df_method's: clustered(formula, data, cluster, family, weights, type, df)
    pos = _quiet(clustered, "PV1MATH ~ escs + female", d, "school_id", None, None, "CR2", "residual")
    assert pos.df_method == "residual" and (pos.df_values == len(d) - 3).all()        # n - p, exact
    _same_tables(pos.tidy(), _quiet(clustered, "PV1MATH ~ escs + female", d, cluster="school_id",
                                    df_method="residual").tidy())
    # with_vcov: the unknown name is reported under the option the caller used
    with pytest.raises(lsa.LsaError, match=r"^df_method must be one of .*got 'kr'"):
        robust.with_vcov("CR2", df_method="kr")
    with pytest.warns(DeprecationWarning), pytest.raises(lsa.LsaError, match=r"^df must be one of .*got 'kr'"):
        robust.with_vcov("CR2", df="kr")
    with pytest.raises(lsa.LsaError, match=r"with_vcov: give df_method= only"):
        robust.with_vcov("CR2", df_method="z", df="naive")
