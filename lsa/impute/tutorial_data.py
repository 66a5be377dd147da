"""The Belgium PISA 2018 file with missing values used by Huang & Keller (2025), bundled as
``lsa/datasets/data/pisa2018_bel_wmiss.csv.gz`` (provenance in ``lsa/datasets/data/README.md``)."""

from __future__ import annotations

import json
from importlib import resources

import pandas as pd

from ..errors import LsaError

__all__ = ["load_belgium_wmiss"]

_STEM = "pisa2018_bel_wmiss"


def load_belgium_wmiss() -> pd.DataFrame:
    """8,475 students × 18 columns: ``pv1math``…``pv10math``, ``stubeha``, ``gender``, ``escs``,
    ``immig2``, ``lackstaff``, ``w_fstuwt``, ``w_schgrnrabwt``, ``cntschid`` (288 schools), with the
    factor level order of the R source (gender Male/Female; immig2 Native/Second-/First-Generation;
    lackstaff Not at all/Very little/To some extent/A lot)."""
    d = resources.files("lsa.datasets") / "data"
    f = d / f"{_STEM}.csv.gz"
    if not f.is_file():
        raise LsaError(f"bundled data {_STEM}.csv.gz is not installed.")
    meta = json.loads((d / f"{_STEM}.meta.json").read_text(encoding="utf-8"))
    with resources.as_file(f) as p:
        df = pd.read_csv(p, compression="gzip")
    for c, levels in meta["factor_levels"].items():
        df[c] = pd.Categorical(df[c], categories=levels)
    df.attrs["labels"] = {c: v["label"] for c, v in meta.get("variable_labels", {}).items()}
    df.attrs["source"] = f"lsa.datasets: {_STEM} (see lsa/datasets/data/README.md)"
    return df
