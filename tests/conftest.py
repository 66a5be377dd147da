"""Shared fixtures: the reference data of tests/reference/data, read as R read them."""

import json
import os
from pathlib import Path

# Small batched matrix operations (per-cluster blocks, replicate refits) run 10-20x slower when
# multithreaded OpenBLAS competes for the 2 cores of the CI machine; one thread is fastest here.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

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


def load_reference(name: str) -> dict:
    return json.loads((REFERENCE / f"{name}.json").read_text())


@pytest.fixture(scope="session")
def pisa2012() -> pd.DataFrame:
    return read_reference_csv("pisa2012")
