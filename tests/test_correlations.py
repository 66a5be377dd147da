"""Spearman, polychoric and polyserial correlations and covariance matrices (issue 13 item 7).

Oracle: R, ``tests/reference/polycor_correlations.R`` -> ``polycor_correlations.json`` on
``data/pisa2018_noisy_fra_ita_mex.csv.gz`` (per-country Fay designs, withReplicates, Rubin's rules):
* polychoric: polycor 0.8-1 ``polychor(ML = FALSE)`` on the weighted table ``xtabs(w ~ x + y)`` with
  polycor's objective minimised to tol 1e-12 (polychor's own optimise stops near 1e-4 in rho, also
  stored and checked at 2e-4); unweighted on the raw vectors. Iterative: 1e-5 relative (estimates),
  1e-5 (SEs).
* polyserial: ``polyserial(ML = FALSE)`` unweighted, its closed form with weights written out in R:
  1e-8.
* Spearman: ``cor(method = "spearman")`` unweighted, wCorr's weighted ranks transcribed in R: 1e-8.
* covariance: ``survey::svyvar`` (its n/(n − 1) factor applied here): 1e-8.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lsa
from lsa.estimators.correlations import bvn_cdf

REF = Path(__file__).parent / "reference"
R = json.loads((REF / "polycor_correlations.json").read_text())
CNTS = R["countries"]
PAIRS = {"polychoric": ["st005q01ta", "st007q01ta"], "polyserial": ["MATH", "st005q01ta"], "spearman": ["MATH", "READ"]}


def close(a, b, rel):
    a, b = np.asarray(a, float), np.asarray(b, float)
    assert np.all(np.abs(a - b) <= rel * np.abs(b)), (a, b)


def _quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


@pytest.fixture(scope="module")
def data():
    d = pd.read_csv(REF / "data" / "pisa2018_noisy_fra_ita_mex.csv.gz")
    for v in ("st005q01ta", "st007q01ta"):
        d.loc[d[v] == 99, v] = np.nan
    return d


PVS = {"MATH": [f"pv{m}math" for m in range(1, 11)], "READ": [f"pv{m}read" for m in range(1, 11)]}


@pytest.fixture(scope="module")
def design(data):
    return lsa.SurveyDesign(data, weights={"student": "w_fstuwt"}, pvs=PVS,
                            replicates=lsa.Replicates.fay([f"w_fsturwt{r}" for r in range(1, 81)], k=0.5))


@pytest.mark.parametrize("method,rel", [("polychoric", 1e-5), ("polyserial", 1e-8), ("spearman", 1e-8)])
def test_correlations_match_r_with_replicate_ses(design, method, rel):
    t = _quiet(lsa.correlation, design, PAIRS[method], by="cnt", method=method).tidy()
    for c in CNTS:
        row, ref = t[t["cnt"] == c].iloc[0], R["per_country"][c][method]
        close(row["estimate"], ref["estimate"], rel)
        close(row["std_error"], ref["se"], rel)
        if method == "polychoric":                      # polychor's default optimise tolerance
            assert abs(row["estimate"] - ref["polychor_default"]) < 2e-4
    assert t["term"].iloc[0] == f"{PAIRS[method][0]} ~ {PAIRS[method][1]}"


def test_covariance_matrix_matches_svyvar(design):
    t = _quiet(lsa.covariance, design, ["MATH", "READ"], by="cnt").tidy()
    assert list(t["term"].iloc[:3]) == ["MATH ~ MATH", "MATH ~ READ", "READ ~ READ"]
    for c in CNTS:
        rows, n = t[t["cnt"] == c], R["per_country"][c]["n"]
        f = n / (n - 1)                                   # svyvar's factor
        close(rows["estimate"] * f, [v["estimate"] for v in R["per_country"][c]["svyvar"]], 1e-8)
        close(rows["std_error"] * f, [v["se"] for v in R["per_country"][c]["svyvar"]], 1e-8)


def test_covariance_diagonal_is_the_square_of_sd(design):
    cov = _quiet(lsa.covariance, design, ["MATH", "READ"]).tidy()
    for v in ("MATH", "READ"):
        per_pv = _quiet(lsa.sd, design, v).per_pv["estimate"].to_numpy()
        close(cov.loc[cov["term"] == f"{v} ~ {v}", "estimate"].iloc[0], np.mean(per_pv ** 2), 1e-10)


@pytest.fixture(scope="module")
def unit_design(data):
    d = data.copy()
    d["one"] = 1.0
    return lsa.SurveyDesign(d, weights={"student": "one"}, pvs=PVS)


def test_unweighted_equal_polycor(unit_design):
    u = R["unweighted"]
    pc = _quiet(lsa.correlation, unit_design, PAIRS["polychoric"], method="polychoric").tidy()
    close(pc["estimate"].iloc[0], u["polychoric"][1], 1e-5)
    ps = _quiet(lsa.correlation, unit_design, ["pv1math", "st005q01ta"], method="polyserial").tidy()
    close(ps["estimate"].iloc[0], u["polyserial"], 1e-8)
    sp = _quiet(lsa.correlation, unit_design, ["pv1math", "pv1read"], method="spearman").tidy()
    close(sp["estimate"].iloc[0], u["spearman"], 1e-8)


def test_polyserial_order_of_the_pair_does_not_matter(design):
    a = _quiet(lsa.correlation, design, ["st005q01ta", "MATH"], method="polyserial").tidy()
    b = _quiet(lsa.correlation, design, ["MATH", "st005q01ta"], method="polyserial").tidy()
    close(a["estimate"], b["estimate"], 1e-14)
    assert a["term"].iloc[0] == "MATH ~ st005q01ta"


def test_bivariate_normal_cdf_closed_forms():
    """Φ₂(0, 0; ρ) = 1/4 + asin(ρ)/(2π) (Sheppard); ρ = 0 factorises; infinite margins."""
    rho = np.array([-0.9, -0.3, 0.0, 0.5, 0.95])
    close(bvn_cdf(0.0, 0.0, rho), 0.25 + np.arcsin(rho) / (2 * np.pi), 1e-12)
    from scipy.stats import norm
    close(bvn_cdf(0.7, -1.2, 0.0), norm.cdf(0.7) * norm.cdf(-1.2), 1e-12)
    close(bvn_cdf(np.inf, -1.2, 0.4), norm.cdf(-1.2), 1e-15)
    assert bvn_cdf(-np.inf, 0.3, 0.4) == 0.0


def test_categorical_ordinal_equals_its_codes(design, data):
    d = data.copy()
    d["mother"] = pd.Categorical(d["st005q01ta"].map({1.0: "a", 2.0: "b", 3.0: "c", 4.0: "d", 5.0: "e"}),
                                 categories=list("abcde"))
    des = lsa.SurveyDesign(d, weights={"student": "w_fstuwt"}, pvs=PVS,
                           replicates=lsa.Replicates.fay([f"w_fsturwt{r}" for r in range(1, 81)], k=0.5))
    a = _quiet(lsa.correlation, des, ["MATH", "mother"], method="polyserial").tidy()
    b = _quiet(lsa.correlation, design, ["MATH", "st005q01ta"], method="polyserial").tidy()
    close(a["estimate"], b["estimate"], 1e-14)
    close(a["std_error"], b["std_error"], 1e-12)
