"""Shared fixtures: the reference data of tests/reference/data, read as R read them."""

import json
import os
from pathlib import Path

# Small batched matrix operations (per-cluster blocks, replicate refits) run 10-20x slower when
# multithreaded OpenBLAS competes for the 2 cores of the CI machine; one thread is fastest here.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pandas as pd
import pytest

REFERENCE = Path(__file__).parent / "reference"


def read_reference_csv(name: str | Path) -> pd.DataFrame:
    """A reference CSV (a name in tests/reference/data, or a path) read as R wrote it, using its
    .meta.json: character and factor columns as strings, factors as pandas Categoricals in R's
    level order (the first level is R's reference level), only empty fields missing."""
    path = REFERENCE / "data" / f"{name}.csv" if isinstance(name, str) and not name.endswith(".csv") else Path(name)
    meta_path = path.with_suffix(".meta.json")
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    dtype = {c: str for c, t in meta.get("column_types", {}).items() if t in ("character", "factor")}
    df = pd.read_csv(path, dtype=dtype, keep_default_na=False, na_values=[""])
    for col, levels in (meta.get("factor_levels") or {}).items():
        if col in df:
            df[col] = pd.Categorical(df[col], categories=levels)
    return df


def rel_entrywise(a, b) -> float:
    """max over entries of |a − b| / |b| (b = 0 only where a = b)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def rel_to_scale(a, b) -> float:
    """max |a − b| relative to the largest |b| (never to an entry near 0)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def assert_close_scaled(actual, desired, rtol: float, scale: float | None = None) -> None:
    """``|actual - desired| <= rtol * scale`` entry by entry, with ``scale`` the largest absolute entry
    of ``desired`` unless given (e.g. the SE being compared, or a matrix norm).

    Use it for vectors and matrices with entries near zero (off-diagonal covariances, coefficients
    of 1e-5): a plain ``rtol`` there compares against the rounding noise of the largest entries,
    which changes with the BLAS and numpy version."""
    actual, desired = np.asarray(actual, float), np.asarray(desired, float)
    assert actual.shape == desired.shape, (actual.shape, desired.shape)
    scale = float(np.max(np.abs(desired))) if scale is None else float(scale)
    worst = float(np.max(np.abs(actual - desired))) if actual.size else 0.0
    assert worst <= rtol * scale, f"max |difference| {worst:.3g} > {rtol:g} x scale {scale:.3g}"


def assert_cov_close(actual, desired, rtol: float) -> None:
    """Covariance matrices: ``|A_ij - D_ij| <= rtol * sqrt(D_ii * D_jj)``, i.e. each entry relative to
    the product of the two standard errors it involves (a correlation-scale tolerance), never to
    the entry itself, which may be a near-zero covariance."""
    actual, desired = np.asarray(actual, float), np.asarray(desired, float)
    assert actual.shape == desired.shape, (actual.shape, desired.shape)
    se = np.sqrt(np.abs(np.diag(desired)))
    ratio = np.abs(actual - desired) / np.outer(se, se)
    worst = float(np.max(ratio)) if ratio.size else 0.0
    assert worst <= rtol, f"max |difference| / (se_i se_j) = {worst:.3g} > {rtol:g}"


def load_reference(name: str) -> dict:
    return json.loads((REFERENCE / f"{name}.json").read_text())


def piaac_flanders_edu() -> pd.DataFrame:
    """The bundled PIAAC 2012 Flanders extract with ``EDU``, EDCAT6 coded 1-6 as an ordered
    Categorical (as tests/reference/categorical_models_piaac.R codes it), and ``GENDER_R`` with
    Female first: the data of the multinomial/ordinal tests and of benchmarks/bench_models.py."""
    import lsa

    d = lsa.datasets.load("piaac2012_bel_flanders")
    code = pd.Series(np.nan, index=d.index)
    for k, key in enumerate(["Lower", "Upper", "Post", "professional", "bachelor", "master"]):
        code[d["EDCAT6"].astype(str).str.contains(key, regex=False).to_numpy()] = k + 1
    d["EDU"] = pd.Categorical(code, categories=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], ordered=True)
    d["GENDER_R"] = pd.Categorical(d["GENDER_R"], categories=["Female", "Male"])
    return d


@pytest.fixture(scope="session")
def pisa2012() -> pd.DataFrame:
    return read_reference_csv("pisa2012")


def dense_loglik(fr, d, theta, beta, sigma2, w1col, w2col):
    """The weighted two-level log pseudo-likelihood of a random intercept and slope model, spec §1.3
    written out cluster by cluster: log L_j with A_j = Z'WZ/σ² + G⁻¹ (the oracle of
    test_mixed_identities and the baseline of benchmarks/bench_mixed.py)."""
    lam = np.array([[theta[0], 0], [theta[1], theta[2]]])
    G = sigma2 * lam @ lam.T
    w1 = d[w1col].to_numpy()[fr.order]
    w2 = d[w2col].to_numpy()[fr.order]
    c = w1 / w2
    total = 0.0
    for j in np.unique(fr.codes[0]):
        i = fr.codes[0] == j
        Z, r, wc = fr.Z[0][i], fr.y[i] - fr.X[i] @ beta, c[i]
        A = Z.T @ (wc[:, None] * Z) / sigma2 + np.linalg.inv(G)
        b = Z.T @ (wc * r) / sigma2
        ll = (-0.5 * wc.sum() * np.log(2 * np.pi * sigma2) - 0.5 * np.linalg.slogdet(G)[1]
              - 0.5 * np.linalg.slogdet(A)[1] - 0.5 * (wc @ r**2 / sigma2 - b @ np.linalg.solve(A, b)))
        total += w2[i][0] * ll
    return total
