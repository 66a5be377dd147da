"""Weighted centering for multilevel models: ``lsa.center`` and ``lsa.cluster_means``.

With weights w_i (the observation-level total weight of a design, a weight column, or 1) and
clusters j (``by``), for a variable x (missing values left out of every sum):

    cluster mean       x̄_j = Σ_{i∈j} w_i x_i / Σ_{i∈j} w_i          (``cluster_means``)
    group-mean centred x_i − x̄_{j(i)}                                  (``center(kind="group")``)
    grand mean         x̄ = Σ_i w_i x_i / Σ_i w_i
    grand-mean centred x_i − x̄                                         (``center(kind="grand")``)

Within a school the total student weight is the school weight times the conditional student
weight, so the weighted school mean is the same with either (the level-1 weight conditional on
the cluster, Asparouhov 2006's rule for contextual means); the grand mean needs the total weight.
With unit weights these are the usual means (Enders & Tofighi 2007).

A plausible-value set (a design's PV set name in ``columns``) is processed within each PV: PV m's
cluster means are the weighted means of PV m, and they are added to the design as a new PV set
(``MATH`` → ``MATH_mean`` with columns ``pv1math_mean``, ...), so :func:`lsa.mix_pv` pairs PV m
of the means with PV m of the outcome or of the other PV predictors.

A :class:`lsa.SurveyDesign` is returned as a new design with the new columns (and PV sets), the
old one untouched. Means use every row of the data, whatever the design's domain: a school mean
is a property of the school's sample; subset the data before building the design to centre
within a domain. Rows with a missing cluster id or value get NaN; a cluster whose rows all miss
the variable has a NaN mean.

References: Enders, C. K., & Tofighi, D. (2007). Centering predictor variables in cross-sectional
multilevel models. Psychological Methods 12(2), 121–138. Asparouhov, T. (2006). General multi-level
modeling with sampling weights. Communications in Statistics 35(3), 439–460.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .design import SurveyDesign
from .errors import DesignError, LsaError
from .validation import (check_choice, check_frame, check_name, check_names, has_column, numeric_column,
                         reads_named_columns)

__all__ = ["center", "cluster_means"]

KINDS = ("group", "grand")


def _weights(data: pd.DataFrame, design: SurveyDesign | None, weights) -> np.ndarray:
    if weights is None:
        return np.ones(len(data)) if design is None else design.full_weight()
    check_name(weights, "weights")
    if not has_column(data, weights):
        raise DesignError(f"weights: column {weights!r} is not in the data")
    w = numeric_column(data, weights, "weights")
    bad = np.isnan(w) | (w < 0)
    if bad.any():
        raise DesignError(f"weights: column {weights!r} has {int(bad.sum())} missing or negative value(s) "
                          f"(e.g. {w[bad][:3].tolist()}); every row needs a weight >= 0")
    return w


def _cluster_codes(data: pd.DataFrame, design: SurveyDesign | None, by) -> tuple[np.ndarray, int]:
    check_name(by, "by")
    col = design.ids[by] if design is not None and by in design.ids else by
    if not has_column(data, col):
        levels = f"; the design's levels are {list(design.ids)}" if design is not None else ""
        raise DesignError(f"by: {by!r} is not a column of the data{levels}")
    codes, uniques = pd.factorize(data[col], sort=True)
    return codes, len(uniques)


def _sources(data: pd.DataFrame, design: SurveyDesign | None, columns) -> list[tuple[str | None, tuple[str, ...]]]:
    """(PV set name or None, its columns) for every name of ``columns``."""
    out = []
    for name in check_names(columns, "columns"):
        if design is not None and design.is_pv(name):
            out.append((name, design.pvs[name]))
        elif has_column(data, name):
            out.append((None, (name,)))
        else:
            pv = f" or a PV set ({list(design.pvs)})" if design is not None else ""
            raise DesignError(f"columns: {name!r} is not a column of the data{pv}")
    return out


def _group_means(V: np.ndarray, w: np.ndarray, codes: np.ndarray, G: int) -> np.ndarray:
    """(G, k) weighted means of the k columns of V per cluster code (one bincount for all)."""
    n, k = V.shape
    ok = ~np.isnan(V) & (codes >= 0)[:, None]
    idx = (np.where(codes >= 0, codes, 0)[:, None] * k + np.arange(k)).ravel()
    sw = np.bincount(idx, np.where(ok, w[:, None], 0.0).ravel(), G * k).reshape(G, k)
    sx = np.bincount(idx, np.where(ok, w[:, None] * np.where(ok, V, 0.0), 0.0).ravel(), G * k).reshape(G, k)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sw > 0, sx / sw, np.nan)


def _apply(data, columns, by, kind: str, weights, suffix: str, what: str):
    design = data if isinstance(data, SurveyDesign) else None
    frame = design.data if design is not None else check_frame(data)
    check_name(suffix, "suffix")
    if not suffix:
        raise LsaError("suffix must be a non-empty string (it names the new columns)")
    sources = _sources(frame, design, columns)
    w = _weights(frame, design, weights)
    if kind == "group":
        if by is None:
            raise LsaError(f"{what} needs by= (the cluster id column{' or design level' if design else ''})")
        codes, G = _cluster_codes(frame, design, by)
    elif by is not None:
        raise LsaError(f"by={by!r} with kind='grand': grand-mean centering uses one mean over all rows; "
                       f"use kind='group' to centre within clusters")
    new, new_sets = {}, {}
    for pv_name, cols in sources:
        V = np.column_stack([numeric_column(frame, c, "columns") for c in cols])
        if kind == "grand":
            ok = ~np.isnan(V)
            mean = (np.where(ok, V, 0.0) * w[:, None]).sum(0) / np.where(ok, w[:, None], 0.0).sum(0)
            out = V - mean
        else:
            means = _group_means(V, w, codes, G)
            spread = np.where((codes >= 0)[:, None], means[np.where(codes >= 0, codes, 0)], np.nan)
            out = spread if what == "cluster_means" else V - spread
        names = [f"{c}{suffix}" for c in cols]
        for nm, v in zip(names, out.T):
            new[nm] = v
        if pv_name is not None:
            new_sets[f"{pv_name}{suffix}"] = names
    clash = [c for c in list(new) + list(new_sets) if c in frame.columns or (design is not None and design.is_pv(c))]
    if clash:
        raise DesignError(f"{what}: the new name(s) {clash} already exist in the data; choose another suffix= "
                          f"(got {suffix!r})")
    result = pd.concat([frame, pd.DataFrame(new, index=frame.index)], axis=1)
    if design is None:
        return result
    return SurveyDesign(result, design.ids, design.weights or None, {**design.pvs, **new_sets}, design.replicates,
                        design.strata, conditional_weights=design.conditional_weights,
                        pv_variance=design.pv_variance, benchmarks=design.benchmarks or None, study=design.study,
                        cycle=design.cycle, domain=design.domain, fpc=design.fpc, lonely_psu=design.lonely_psu)


@reads_named_columns
def center(data, columns, by: str | None = None, *, kind: str = "group", weights: str | None = None,
           suffix: str | None = None):
    """Weighted group-mean (``kind="group"``, within the clusters ``by``) or grand-mean
    (``kind="grand"``) centering of ``columns`` (formulas in the module docstring).

    ``data``: a DataFrame (returned as a new DataFrame with the added columns) or a
    :class:`lsa.SurveyDesign` (returned as a new design; ``by`` may be a design level such as
    ``"school"``; a PV set name in ``columns`` is centred within each PV and added as a new PV
    set). ``weights``: a weight column; default: unweighted for a DataFrame, the design's final
    (observation-level total) weight for a design. New columns are named ``<column><suffix>``
    with ``suffix`` ``"_cwc"`` (group) or ``"_cgm"`` (grand) by default.
    """
    check_choice(kind, KINDS, "kind")
    suffix = ("_cwc" if kind == "group" else "_cgm") if suffix is None else suffix
    return _apply(data, columns, by, kind, weights, suffix, "center")


@reads_named_columns
def cluster_means(data, columns, by: str, *, weights: str | None = None, suffix: str = "_mean"):
    """Weighted cluster means of ``columns`` within the clusters ``by``, added as new columns
    ``<column><suffix>`` (every row gets its cluster's mean; module docstring). On a design a PV set
    gives a new PV set of the cluster means computed within each PV (``MATH`` → ``MATH_mean``),
    which :func:`lsa.mix_pv` pairs PV by PV. ``data``, ``weights`` as :func:`center`."""
    return _apply(data, columns, by, "group", weights, suffix, "cluster_means")
