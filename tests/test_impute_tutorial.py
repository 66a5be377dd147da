"""The missing-data tutorial script runs end to end at a reduced size (bundled Belgium data)."""

import importlib.util
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

import lsa

import lsa.impute as li


def load_belgium_wmiss():
    """The bundled Belgium data (lsa.impute.tutorial_data.load_belgium_wmiss before issue 11)."""
    return lsa.datasets.load("pisa2018_bel_wmiss")


SCRIPT = Path(__file__).resolve().parents[1] / "docs" / "tutorials" / "missing_data.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("missing_data_tutorial", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_bundled_belgium_data():
    df = load_belgium_wmiss()
    assert df.shape == (8475, 18) and df["cntschid"].nunique() == 288
    assert df.isna().sum()[["escs", "immig2", "stubeha", "lackstaff"]].tolist() == [1037, 220, 292, 483]
    assert list(df["lackstaff"].cat.categories) == ["Not at all", "Very little", "To some extent", "A lot"]
    assert list(df["gender"].cat.categories) == ["Male", "Female"]


def test_tutorial_runs_reduced(tmp_path, capsys):
    mod = _load_script()
    res = mod.main(n_pvs=2, m=2, iterations=2, n_jobs=1, out=str(tmp_path), progress=False)
    imp = res["imputed"]
    assert len(imp) == 4 and imp.pv_index.tolist() == [1, 1, 2, 2]
    # school variables stay constant within schools after imputation
    for d in imp:
        assert d.groupby("cntschid")[["stubeha", "lackstaff"]].nunique().max().max() == 1
        assert d[["escs", "immig2", "stubeha", "lackstaff"]].notna().all().all()
    assert res["report"].suggested_m == 18                   # nmiss: 81.55 % complete cases
    flat = res["flat"].fixed.set_index("term")
    assert flat.shape[0] == 9 and res["flat"].nobs == 8475
    assert res["listwise"].nobs == 6911
    # sanity, not a reference check (stochastic): the MI estimates are in the range of
    assert 470 < flat.loc["(Intercept)", "estimate"] < 525
    assert -30 < flat.loc["genderFemale", "estimate"] < -10
    assert 12 < flat.loc["escs", "estimate"] < 25
    for f in ("missing_pattern.svg", "trace.svg"):
        ET.fromstring((tmp_path / f).read_text())
    assert (tmp_path / "comparison.csv").is_file()
    assert "Percent complete cases: 81.55" in capsys.readouterr().out


def test_mix_pv_accepts_imputed_data():
    """lsa.mix_pv on completed data sets (an Imputed of 2 PVs x 2 imputations) equals
    lsa.impute.pool(analyze(...)), flat and nested. Both fit the same models with the same
    engine; mix_pv starts later fits at the first fit's optimum, so iterative tolerance 1e-6."""
    df = load_belgium_wmiss()
    rng = np.random.default_rng(0)
    schools = rng.choice(df["cntschid"].unique(), 60, replace=False)
    small = df[df["cntschid"].isin(schools)].reset_index(drop=True)
    imp = li.impute(small, m=2, cluster="cntschid", level2=["stubeha", "lackstaff"], pvs=["pv1math", "pv2math"],
                    weight="w_fstuwt", variables=["gender", "escs", "immig2"], seed=1, iterations=2, progress=False)
    formula = "math ~ gender + escs + stubeha + (1|cntschid)"
    weights = ["w_fstuwt", "w_schgrnrabwt"]
    fits = li.analyze(imp, formula, weights=weights)
    for method in ("flat", "nested"):
        res = lsa.mix_pv(formula, imp, weights=weights, pool=method)
        got = res.tidy().set_index("term")
        exp = li.pool(fits, method=method).tidy().set_index("term")
        terms = exp.index[:4]
        np.testing.assert_allclose(got.loc[terms, "estimate"], exp.loc[terms, "estimate"], rtol=1e-6)
        np.testing.assert_allclose(got.loc[terms, "std_error"], exp.loc[terms, "std_error"], rtol=1e-6)
    assert res.m == 4 and "PV 2, imputation 2" in res.labels
    plain = lsa.mix_pv(formula, list(imp), weights=weights)             # a plain list of DataFrames
    np.testing.assert_allclose(plain.params, lsa.mix_pv(formula, imp, weights=weights).params, rtol=1e-12)
