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


def read_reference_csv(name: str) -> pd.DataFrame:
    """A reference CSV with its .meta.json applied: character ids as strings, factors as pandas
    Categoricals in R's level order (the first level is R's reference level)."""
    meta = json.loads((REFERENCE / "data" / f"{name}.meta.json").read_text())
    types = meta.get("column_types", {})
    dtype = {c: str for c, t in types.items() if t == "character"}
    df = pd.read_csv(REFERENCE / "data" / f"{name}.csv", dtype=dtype)
    for col, levels in meta.get("factor_levels", {}).items():
        df[col] = pd.Categorical(df[col], categories=levels)
    return df


def load_reference(name: str) -> dict:
    return json.loads((REFERENCE / f"{name}.json").read_text())


@pytest.fixture(scope="session")
def pisa2012() -> pd.DataFrame:
    return read_reference_csv("pisa2012")
