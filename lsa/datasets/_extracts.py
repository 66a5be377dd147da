"""Bundled real extracts of study data (provenance in ``data/README.md``).

>>> from lsa.datasets import load, available
>>> nld = load("pisa2003_nld")                      # doctest: +SKIP
>>> design = lsa.design_from_study("pisa", 2003, nld)  # doctest: +SKIP

Each extract is ``data/<file>.csv.gz`` with an optional ``data/<file>.meta.json`` giving
``column_types`` (``numeric``, ``integer``, ``character``, ``factor``), ``factor_levels`` (level
order of factor columns) and ``variable_labels`` (column -> {"label": ...}); the labels end up
in ``df.attrs["labels"]``, as with :func:`lsa.io.read_spss`.
"""

from __future__ import annotations

import json
from importlib import resources

import pandas as pd

from ..errors import LsaError
from ..io_readers import SharedMapping

__all__ = ["load", "available", "path"]

# name -> (file stem, study, cycle, one-line description)
_EXTRACTS: dict[str, tuple[str, str, str, str]] = {
    "pisa2003_nld": (
        "pisa2003_nld", "pisa", "2003",
        "PISA 2003 Netherlands, full student file subset: 3,992 students, W_FSTUWT + 80 Fay BRR weights, "
        "5 PVs of MATH, MATH1-4, READ, SCIE, PROB"),
    "pisa2012": (
        "pisa2012_usa", "pisa", "2012",
        "PISA 2012 USA subset: 3,136 students, 157 schools, student/school weights, 5 math PVs "
        "(replicate weights are pseudo-BRR built for tests)"),
    "timss2011_aut_g4": (
        "timss2011_aut_g4", "timss", "2011",
        "TIMSS 2011 Austria grade 4: 4,668 students, 158 schools, TOTWGT, JKZONE/JKREP, SCHWGT, "
        "5 PVs ASMMAT1-5 / ASSSCI1-5"),
    "piaac2012_bel_flanders": (
        "piaac2012_bel_flanders", "piaac", "2012",
        "PIAAC cycle 1 Flanders (Belgium): 5,463 adults, SPFWT0 + 80 JK2 replicate weights, "
        "10 PVs of literacy, numeracy, problem solving"),
    "piaac2012_rus": (
        "piaac2012_rus", "piaac", "2012",
        "PIAAC cycle 1 Russian Federation: 3,892 adults, SPFWT0 + SPFWT1-12 (VENREPS = 12), "
        "10 PVs of literacy, numeracy, problem solving"),
    "pisa2018_bel": (
        "pisa2018_bel", "pisa", "2018",
        "PISA 2018 Belgium: 8,475 students, 288 schools, w_fstuwt + w_schgrnrabwt, 10 math PVs, model "
        "covariates; escs_wmiss = escs with ~10% more values missing (MAR); no replicate weights"),
    "pisa2018_bel_wmiss": (
        "pisa2018_bel_wmiss", "pisa", "2018",
        "PISA 2018 Belgium with extra missing values (Huang & Keller 2025 imputation example); no replicate weights"),
    "timss1999_g8_3cnt": (
        "timss1999_g8_3cnt", "timss", "1999",
        "TIMSS 1999 grade 8, random 1/5 subsample of Chile, Chinese Taipei, Japan: 3,000 students, TOTWGT, "
        "JKZONE/JKREP (zones within country), 5 PVs BSMMAT01-05 / BSSSCI01-05; SEs not comparable with published"),
    "pisa2018_noisy_fra_ita_mex": (
        "pisa2018_noisy_fra_ita_mex", "pisa", "2018",
        "PISA 2018 France, Italy, Mexico, PERTURBED by OECD's Rrepest (not real values): 1,269 students, w_fstuwt "
        "+ 80 Fay BRR weights, 10 PVs of math, read, scie, glcm and 5 reading subscales"),
    "timss2015_usa_g8": (
        "timss2015_usa_g8", "timss", "2015",
        "TIMSS 2015 (inferred) USA grade 8 subset: 7,986 students, 246 schools, TOTWGT, 5 PVs BSMMAT01-05; no "
        "jackknife variables (Taylor linearisation over IDSCHOOL, or design.with_replicates)"),
}
_ALIASES = {"pisa2012_usa": "pisa2012", "timss2011": "timss2011_aut_g4", "pisa2003": "pisa2003_nld",
            "piaac2012_bel": "piaac2012_bel_flanders", "piaac_flanders": "piaac2012_bel_flanders",
            "timss1999": "timss1999_g8_3cnt", "timss2015": "timss2015_usa_g8", "pisa2018_noisy": "pisa2018_noisy_fra_ita_mex"}


def _data_dir():
    return resources.files("lsa.datasets") / "data"


def available() -> pd.DataFrame:
    """The bundled extracts: name, study, cycle, description (only those whose file is present)."""
    d = _data_dir()
    rows = [dict(name=n, study=s, cycle=c, description=desc)
            for n, (stem, s, c, desc) in _EXTRACTS.items() if (d / f"{stem}.csv.gz").is_file()]
    return pd.DataFrame(rows, columns=["name", "study", "cycle", "description"])


def _key(name: str) -> str:
    key = _ALIASES.get(str(name).lower(), str(name).lower())
    if key not in _EXTRACTS:
        raise LsaError(f"unknown dataset {name!r}. Available: {', '.join(_EXTRACTS)}.")
    return key


def path(name: str):
    """The file behind a bundled extract (for provenance: name, size, hash)."""
    return _data_dir() / f"{_EXTRACTS[_key(name)][0]}.csv.gz"


def load(name: str) -> pd.DataFrame:
    """Load a bundled extract as a DataFrame (see :func:`available` for the names).

    Integer columns without missing values are int64 (with missing values float64), character
    columns strings, factor columns pandas Categoricals in the level order of the source.
    ``df.attrs`` holds ``labels`` (variable labels), ``source`` and ``study``/``cycle``.
    """
    stem, study, cycle, _ = _EXTRACTS[_key(name)]
    d = _data_dir()
    path = d / f"{stem}.csv.gz"
    if not path.is_file():
        raise LsaError(f"dataset {name!r} is not installed (missing data/{stem}.csv.gz).")
    meta_path = d / f"{stem}.meta.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
    types = meta.get("column_types") or {}
    dtype = {c: str for c, t in types.items() if t == "character"}
    with resources.as_file(path) as p:
        df = pd.read_csv(p, dtype=dtype or None, compression="gzip")
    for c, t in types.items():
        if c not in df.columns:
            continue
        if t == "integer" and df[c].notna().all():
            df[c] = df[c].astype("int64")
        elif t == "factor":
            levels = (meta.get("factor_levels") or {}).get(c)
            df[c] = pd.Categorical(df[c], categories=levels) if levels else df[c].astype("category")
    labels = {c: (v.get("label") if isinstance(v, dict) else v)
              for c, v in (meta.get("variable_labels") or {}).items() if c in df.columns}
    df.attrs["labels"] = SharedMapping(labels)  # shared, not deep-copied by every pandas operation
    df.attrs["source"] = f"lsa.datasets: {stem} (see lsa/datasets/data/README.md)"
    df.attrs["study"], df.attrs["cycle"] = study, cycle
    return df.copy()  # defragment: columns were converted one at a time
