"""lsa.pooling owns pooling (issue 11): one pooled t-table, one complete-data df rule for
multilevel fits, one PV × imputation grid check, shared by lsa.mix_pv, lsa.impute.pool and the
design-based estimators.

Oracles:
* the pooled t-table against mitml::testEstimates (tests/reference/mitml_pisa2012_lm.json, as
  tests/test_pooling.py), its confidence limits against the closed form Q̄ ± t_{ν,.975} √T;
* the df rule: the closed form ν_com = n − p (fixed effects) and n − v (variances, residual
  included, covariances not counted) of MLMusingR::summary.mixPV, fed to lsa.pooling.rubin;
* mix_pv on completed data sets against lsa.impute.pool of the *same* per-data-set fits
  (mix_pv's own ``fits``): pooling given numbers is closed form, so 1e-12 relative.
The fits are of PISA 2012 (tests/reference: pisa2012), four completed data sets made of PVs 1–4.
"""

import ast
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import lsa
import lsa.impute as li
from lsa import pooling
from lsa.errors import LsaError
from conftest import load_reference, read_reference_csv, rel_entrywise

W = ["w_fstuwt", "w_fschwt"]
RS = "math ~ escs + st04q01 + (escs|schoolid)"          # random slope: a covariance row
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def completed():
    """Four completed data sets (PV 1, 2 × imputation 1, 2), the response ``math`` = PV k."""
    d = read_reference_csv("pisa2012")
    frames = [d.assign(math=d[f"pv{k}math"]) for k in range(1, 5)]
    return li.Imputed.from_frames(frames, pv_index=[1, 1, 2, 2], imp_index=[1, 2, 1, 2])


@pytest.fixture(scope="module")
def flat(completed):
    return lsa.mix_pv(RS, completed, weights=W)


# -- one pooled t-table ------------------------------------------------------------------------

def test_t_table_matches_mitml_and_the_closed_form_interval():
    ref = load_reference("mitml_pisa2012_lm")
    terms = ref["pooled_barnard_rubin"]["term"]
    est = np.array([[fit["coef"][t] for t in terms] for fit in ref["per_pv"]])
    cov = np.array([fit["vcov"]["values"] for fit in ref["per_pv"]])
    tab = pooling.t_table(pooling.rubin(est, cov, df_complete=ref["df_com"]), terms,
                          columns=pooling.MODEL_TABLE_COLUMNS)
    r = ref["pooled_barnard_rubin"]
    assert list(tab.columns) == ["term", *pooling.MODEL_TABLE_COLUMNS] and list(tab.term) == terms
    for col, key in (("estimate", "Estimate"), ("std_error", "Std.Error"), ("statistic", "t.value"),
                     ("df", "df"), ("riv", "RIV"), ("fmi", "FMI")):
        assert rel_entrywise(tab[col], r[key]) < 1e-8, col                               # closed form: 1e-8
    assert rel_entrywise(tab.p_value[2], r["P(>|t|)"][2]) < 1e-6                         # mitml prints 1e-6
    q = stats.t.ppf(0.975, tab.df)
    assert rel_entrywise(tab.conf_low, tab.estimate - q * tab.std_error) < 1e-12
    assert rel_entrywise(tab.conf_high, tab.estimate + q * tab.std_error) < 1e-12
    narrow = pooling.t_table(pooling.rubin(est, cov, df_complete=ref["df_com"]), alpha=0.5)
    assert list(narrow.columns) == list(pooling.TABLE_COLUMNS)                 # the estimators' order
    q50 = stats.t.ppf(0.75, tab.df)
    assert rel_entrywise(narrow.conf_high - narrow.estimate, q50 * tab.std_error) < 1e-12


def test_design_estimators_and_mix_pv_tables_come_from_the_one_builder(flat):
    d = read_reference_csv("pisa2012")
    design = lsa.SurveyDesign(d, weights={"student": "w_fstuwt"}, pvs={"MATH": [f"pv{k}math" for k in range(1, 6)]},
                              replicates=lsa.Replicates.fay([f"w_fsturwt{r}" for r in range(1, 81)], k=0.5))
    t = lsa.mean(design, "MATH").tidy()
    cols = list(t.columns)
    assert cols[cols.index("estimate"):cols.index("conf_high") + 1] == list(pooling.TABLE_COLUMNS)
    q = stats.t.ppf(0.975, t.df)
    assert rel_entrywise(t.conf_low, t.estimate - q * t.std_error) < 1e-12              # closed form
    tidy = flat.tidy()
    fixed = tidy[tidy.effect == "fixed"].reset_index(drop=True)
    expect = pooling.t_table(flat.fixed, flat.fixed_terms, columns=pooling.MODEL_TABLE_COLUMNS)
    pd.testing.assert_frame_equal(fixed.drop(columns="effect"), expect, rtol=1e-14)


# -- one complete-data df rule for multilevel fits -------------------------------------------

def test_mixed_df_complete_counts_variances_not_covariances():
    assert pooling.mixed_df_complete(3136, 9, 3) == (3127.0, 3133.0)
    terms, is_var = pooling.variance_component_rows(pd.DataFrame({
        "group": ["schoolid", "schoolid", "schoolid", "Residual"], "term1": ["(Intercept)", "escs", "(Intercept)", None],
        "term2": [None, None, "escs", None], "estimate": [1.0, 2.0, 0.5, 3.0], "std_error": [1.0] * 4}))
    assert terms == ["schoolid.(Intercept)", "schoolid.escs", "schoolid.(Intercept).escs", "Residual"]
    assert is_var.tolist() == [True, True, False, True]


def test_same_fits_same_df_in_mix_pv_and_impute_pool(flat):
    """The same per-imputation fits give the same df (and everything else) in
    mix_pv(imputed) and lsa.impute.pool; both equal Rubin's rules with ν_com = n − p and n − v."""
    fits = list(flat.fits)
    pooled = li.pool(fits)                                                     # default df_complete="mixpv"
    n = fits[0].nobs
    vc = fits[0].variance_components
    assert len(vc) == 4 and int(vc.term2.isna().sum()) == 3                   # 3 variances + 1 covariance
    assert flat.df_complete == (n - 3.0, n - 3.0)                              # p = 3 fixed effects, v = 3
    got = flat.tidy()
    exp = pooled.tidy()
    assert list(got.term) == list(exp.term)
    for col in ("estimate", "std_error", "df", "p_value", "conf_low", "riv", "fmi"):
        assert rel_entrywise(got[col], exp[col]) < 1e-12, col                            # same numbers pooled: 1e-12
    vq = np.array([f.variance_components.estimate.to_numpy() for f in fits])
    vu = np.array([f.variance_components.std_error.to_numpy() for f in fits]) ** 2
    closed = pooling.rubin(vq, vu, df_complete=n - 3)                          # summary.mixPV: n − variances
    assert rel_entrywise(pooled.random.df, closed.df) < 1e-12
    assert rel_entrywise(pooled.random.df, pooling.rubin(vq, vu, df_complete=n - 4).df) > 1e-6   # the old rule differs


def test_nested_pooling_is_the_same_in_mix_pv_and_impute_pool_in_any_order(completed, flat):
    nested = lsa.mix_pv(RS, completed, weights=W, pool="nested")
    fits = list(nested.fits)
    ref = li.pool(li.Analyses(fits, completed.pv_index, completed.imp_index), method="nested")
    got, exp = nested.tidy(), ref.tidy()
    for col in ("estimate", "std_error", "df"):
        assert rel_entrywise(got[col], exp[col]) < 1e-12, col
    # the grid check of lsa.pooling accepts the data sets in any order
    perm = [3, 0, 2, 1]
    shuffled = li.Imputed.from_frames([completed[k] for k in perm], pv_index=completed.pv_index[perm],
                                      imp_index=completed.imp_index[perm])
    again = lsa.mix_pv(RS, shuffled, weights=W, pool="nested")
    assert rel_entrywise(again.fixed.std_error, nested.fixed.std_error) < 1e-6           # refits from other starts: 1e-6
    assert rel_entrywise(again.fixed.df, nested.fixed.df) < 1e-5


def test_grid_check_is_shared(flat):
    order, m, n = pooling.pv_imputation_grid([2, 1, 2, 1], [1, 2, 2, 1])
    assert (m, n) == (2, 2) and order.tolist() == [3, 1, 0, 2]
    with pytest.raises(LsaError, match="at least 2 PVs and 2 imputations"):
        pooling.pv_imputation_grid([1, 1], [1, 2])
    with pytest.raises(LsaError, match="full PV × imputation grid"):
        li.pool(list(flat.fits)[:3], method="nested", pv_index=[1, 1, 2], imp_index=[1, 2, 1])


# -- the split of mix_pv keeps the house limits ----------------------------------------------

MIX_PV_MODULES = ["lsa/mix_pv.py", "lsa/pooling.py", "lsa/mixed/pv.py", "lsa/mixed/pv_options.py",
                  "lsa/mixed/pv_formula.py", "lsa/mixed/pv_refits.py", "lsa/mixed/pv_assemble.py",
                  "lsa/mixed/pv_result.py", "lsa/mixed/replicate.py", "lsa/impute/analysis.py"]


@pytest.mark.parametrize("path", MIX_PV_MODULES)
def test_mix_pv_modules_are_small_and_import_nothing_private(path):
    text = (ROOT / path).read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 500
    tree = ast.parse(text)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body[1:] if isinstance(node.body[0], ast.Expr) and isinstance(
                getattr(node.body[0], "value", None), ast.Constant) else node.body
            if body:
                assert body[-1].end_lineno - body[0].lineno + 1 <= 80, f"{path}: {node.name}"
        if isinstance(node, ast.ImportFrom):
            assert not [a.name for a in node.names if a.name.startswith("_")], f"{path}: {node.module}"
    if path.startswith("lsa/mixed/pv"):
        assert "einsum(\"mri" not in text and ".T @ d" not in text          # replicate variance: lsa.replicates


def test_old_import_path_still_works():
    from lsa.mix_pv import MixPVResult, lrt_pv, mix_pv, replicate_level_weights
    assert lsa.mix_pv is mix_pv and lsa.lrt_pv is lrt_pv and lsa.MixPVResult is MixPVResult
    assert callable(replicate_level_weights)
