"""The teaching page "Multilevel model or an alternative?" (docs/tutorials/multilevel_or_alternative.py, .md).

Oracles, none of them lsa's own earlier output:

* Simulation with known truth (lsa.datasets.simulate_clustered): at reduced size (fixed seeds) the
  mean estimate of every method lies within 4 Monte Carlo SEs of the true 0.5 (x) and 0.3 (w) when
  x is unrelated to the cluster effects; in the confounded setting the within estimators (fixed
  effects, random intercept + cluster mean) stay within 4 MC SEs of the within effect 0.5 while
  OLS and the design-based regression converge to the closed-form probability limit
  0.5 + gamma var_c / (var_c + 1) = 0.7 (within 4 MC SEs + 0.01 for the O(1/G) ratio bias);
  coverages lie above the lower 0.05% binomial quantile of Bin(reps, 0.95).
* Closed-form identities on one data set: the within (demeaned) regression equals OLS with
  cluster dummies in the x estimate, its CR2 SE and its Satterthwaite df (Pustejovsky & Tipton
  2018, fixed effects nested in the clusters; 1e-8 relative); the Mundlak model's x coefficient
  equals the within estimator for any variance components (Mundlak 1978; 1e-8 relative of the
  estimate, the identity holds at every iterate of the fit); the design-based point estimates with
  unit weights equal OLS (1e-10 relative); the level-2 w is not identified with cluster dummies
  (a DesignError naming w).
* The page: the numbers quoted under its code against least squares, the within slope and
  statsmodels' MixedLM (ML, 1e-5); its pasted full-size table has every setting,
  method and term of the script, in its order, states the script's seed and number of data sets,
  and its numbers satisfy the known truth at the full size (|bias| within 4 MC SEs, computed from
  the printed empirical SE and 1,000 data sets, plus half a printed unit).
"""

import importlib.util
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

import lsa
from lsa.errors import DesignError
from lsa.robust import clustered

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "docs" / "tutorials"
PAGE = TUTORIAL / "multilevel_or_alternative.md"


@pytest.fixture(scope="module")
def tut():
    spec = importlib.util.spec_from_file_location("multilevel_or_alternative",
                                                  TUTORIAL / "multilevel_or_alternative.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _lowest_coverage(reps: int) -> float:
    """Lower 0.05% quantile of the share of Bin(reps, 0.95): a correct 95% interval covers at least
    this often with probability 0.9995."""
    return stats.binom.ppf(0.0005, reps, 0.95) / reps


def test_reduced_study_unconfounded_known_truth(tut):
    reps = 30
    tab = tut.run(reps, settings=["G = 20"], seed=11)
    assert list(tab.columns) == ["setting", "method", "term", "truth", "bias", "mcse", "emp_se",
                                 "mean_se", "coverage", "n"]
    assert len(tab) == len(tut.METHODS) * len(tut.TERMS)
    assert list(tab.method.unique()) == list(tut.METHODS) and list(tab.term.unique()) == ["x", "w"]
    fe_w = (tab.method == "Fixed effects + CR2") & (tab.term == "w")
    assert tab.loc[fe_w, "n"].item() == 0 and tab.loc[fe_w, ["bias", "coverage"]].isna().all(axis=None)
    ok = tab[~fe_w]
    assert (ok.n == reps).all()
    assert ok.truth.eq(ok.term.map({"x": 0.5, "w": 0.3})).all()
    # every method is unbiased here: mean estimate within 4 Monte Carlo SEs of the truth
    assert (ok.bias.abs() <= 4 * ok.mcse).all(), ok[["method", "term", "bias", "mcse"]]
    assert ok.coverage.between(_lowest_coverage(reps), 1.0).all(), ok[["method", "term", "coverage"]]
    assert (ok.mean_se > 0).all() and (ok.emp_se > 0).all()


def test_reduced_study_confounded_x(tut):
    reps = 10
    tab = tut.run(reps, settings=["G = 100, x confounded"], seed=12).set_index(["method", "term"])
    s = tut.SETTINGS["G = 100, x confounded"]
    plim_shift = s["contextual"] * s["var_c"] / (s["var_c"] + 1)       # 0.2: OLS's probability limit - 0.5
    assert plim_shift == pytest.approx(0.2, rel=1e-12)
    for m in ("Fixed effects + CR2", "RI + cluster mean"):               # the within effect
        assert abs(tab.loc[(m, "x"), "bias"]) <= 4 * tab.loc[(m, "x"), "mcse"], m
    for m in ("OLS + CR2", "Design-based"):                             # a blend of within and between
        b, mc = tab.loc[(m, "x"), "bias"], tab.loc[(m, "x"), "mcse"]
        assert abs(b - plim_shift) <= 4 * mc + 0.01, (m, b, mc)
        assert b > 0.1 and b > 8 * mc
    # w is unrelated to x's cluster part: unbiased for every method that estimates it
    w = tab.xs("w", level="term").dropna(subset=["bias"])
    assert len(w) == len(tut.METHODS) - 1
    assert (w.bias.abs() <= 4 * w.mcse).all(), w[["bias", "mcse"]]


def test_identities_on_one_data_set(tut):
    d = tut.simulate(tut.SETTINGS["G = 20"], np.random.default_rng(3))
    within = clustered("y_c ~ x_c - 1", d, cluster="cluster", type="CR2", df_method="satterthwaite")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # I - H_jj is singular with cluster dummies (expected)
        dummies = clustered("y ~ x + C(cluster)", d, cluster="cluster", type="CR2", df_method="satterthwaite")
    assert within.params["x_c"] == pytest.approx(dummies.params["x"], rel=1e-8)
    assert within.bse["x_c"] == pytest.approx(dummies.bse["x"], rel=1e-8)
    assert within.df["x_c"] == pytest.approx(dummies.df["x"], rel=1e-8)
    with pytest.raises(DesignError, match=r"\['w'\]"):
        clustered("y ~ x + C(cluster) + w", d, cluster="cluster")
    mundlak = lsa.mixed("y ~ x + xbar + w + (1 | cluster)", d, weights=None)
    assert mundlak.params["x"] == pytest.approx(within.params["x_c"], rel=1e-8)
    ols = clustered("y ~ x + w", d, cluster="cluster")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # "no replicate weights: Taylor linearisation"
        db = lsa.lm(lsa.SurveyDesign(d, ids={"school": "cluster"}, replicates=None), "y ~ x + w")
    np.testing.assert_allclose(db.params.to_numpy(), ols.params.to_numpy(), rtol=1e-10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = tut.fit_all(d)
    assert a.shape == (len(tut.METHODS), 4, 2)
    fe = tut.METHODS.index("Fixed effects + CR2")
    assert np.isnan(a[fe, :, 1]).all() and np.isfinite(np.delete(a, fe, axis=0)).all()
    assert (a[:, 2, :] <= a[:, 0, :]).all(where=np.isfinite(a[:, 2, :]))   # lower limit <= estimate


def _python_blocks(md: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", md, flags=re.M | re.S)


def _half_unit(printed: str) -> float:
    return 0.5 * 10.0 ** -len(printed.partition(".")[2]) + 1e-12


def test_page_worked_example_numbers():
    """The numbers quoted under the page's code (tests/test_docs.py runs the blocks too) against
    closed forms: OLS by least squares, the within slope sum(x_c y_c) / sum(x_c^2); the random
    intercept against statsmodels' MixedLM (ML), 1e-5."""
    import statsmodels.formula.api as smf

    md = PAGE.read_text()
    ns: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for block in _python_blocks(md):
            exec(compile(block, str(PAGE), "exec"), ns)
    d, ols, ge, fe, ri, mundlak, db = (ns[k] for k in ("d", "ols", "ge", "fe", "ri", "mundlak", "db"))
    X = np.column_stack([np.ones(len(d)), d.x, d.w])
    beta = np.linalg.lstsq(X, d.y.to_numpy(), rcond=None)[0]
    np.testing.assert_allclose(ols.params.to_numpy(), beta, rtol=1e-10)
    np.testing.assert_allclose(db.params.to_numpy(), beta, rtol=1e-10)
    within = float((d.x_c * d.y_c).sum() / (d.x_c**2).sum())
    assert fe.params["x_c"] == pytest.approx(within, rel=1e-10)
    assert mundlak.params["x"] == pytest.approx(within, rel=1e-8)
    sm = smf.mixedlm("y ~ x + w", d, groups=d["cluster"]).fit(reml=False)
    np.testing.assert_allclose(ri.params[["x", "w"]].to_numpy(), sm.fe_params[["x", "w"]].to_numpy(), rtol=1e-5)
    np.testing.assert_allclose(ge.params.to_numpy(), ri.params.to_numpy(), rtol=1e-6)   # "also agree"
    num = r"(\d+\.\d{3})"
    quoted = re.search(rf"estimates \({num} for `x`,\s+{num} for `w`\).*?agree \({num} and\s+{num}\).*?"
                       rf"within estimate,\s+{num}\.", md, flags=re.S)
    assert quoted, "the worked example's numbers are not where the test looks for them"
    for txt, value in zip(quoted.groups(), (beta[1], beta[2], ri.params["x"], ri.params["w"], within)):
        assert abs(float(txt) - value) <= _half_unit(txt), (txt, value)


def _pasted_rows(md: str, header: str):
    """Rows of the pasted table after its header: (setting, method, term, [cells])."""
    lines = md[md.index(header):].splitlines()[2:]
    rows = []
    for line in lines:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows.append((cells[0], cells[1], cells[2], cells[3:]))
    return rows


def test_page_has_the_full_size_table(tut):
    md = PAGE.read_text()
    assert tut.HEADER in md
    cmd = f"python benchmarks/bench_teaching_simulation.py --reps {tut.DEFAULT_REPS} --seed {tut.DEFAULT_SEED}"
    assert cmd in md
    rows = _pasted_rows(md, tut.HEADER)
    expected = [(s, m, t) for s in tut.SETTINGS for m in tut.METHODS for t in tut.TERMS]
    assert [r[:3] for r in rows] == expected
    reps = tut.DEFAULT_REPS
    for setting, method, term, cells in rows:
        if (method, term) == ("Fixed effects + CR2", "w"):
            assert cells[0] == "not estimable"
            continue
        bias, emp, mean_se, cover = (float(c) for c in cells)
        assert 0 <= cover <= 1 and emp > 0 and mean_se > 0
        bound = 4 * emp / np.sqrt(reps) + 0.0005                        # 4 MC SEs + half a printed unit
        confounded = "confounded" in setting and term == "x"
        if not confounded:
            assert abs(bias) <= bound, (setting, method, term, bias)
        elif method in ("Fixed effects + CR2", "RI + cluster mean"):
            assert abs(bias) <= bound, (setting, method, term, bias)
        elif method in ("OLS + CR2", "Design-based"):
            assert abs(bias - 0.2) <= bound + 0.01, (setting, method, term, bias)
