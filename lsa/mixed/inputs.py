"""Data and weight columns of a multilevel fit: the legacy tuple form of :func:`lsa.model_inputs`.

The rule for designs with more levels than the model, and the domain rule, are documented in
:mod:`lsa.model_inputs`, the one seam from a DataFrame or a design to a model's inputs.
:func:`lsa.mixed` fits through that seam directly (rows outside a domain kept with zero
weight); :func:`design_inputs` is the thin tuple wrapper that :func:`lsa.mix_pv` still uses,
and it fits on the domain's rows only.
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from lsa.model_inputs import formula_groups, model_inputs

__all__ = ["design_inputs", "formula_groups"]


def design_inputs(data, weights: Sequence[str] | str | None, conditional_weights: bool,
                  groups: Sequence[str] | None = None) -> tuple[pd.DataFrame, list[str] | None, bool]:
    """(data frame, weight columns level 1 first or None, conditional flag) of a fit.

    ``data`` a DataFrame (``weights`` returned as given) or an ``lsa.SurveyDesign``: its rows in
    the domain, with the level names added as columns (``(1 | school)`` works), and the
    weights of the levels the model uses (``groups``: the formula's grouping factors; see
    :mod:`lsa.model_inputs`). A product of conditional weight columns is added to the frame as a
    column named ``"a*b"``.
    """
    if isinstance(data, pd.DataFrame):
        return data, ([weights] if isinstance(weights, str) else weights), conditional_weights
    inp = model_inputs(data, weights=weights, conditional_weights=conditional_weights,
                       groups=groups or None).domain_rows()
    return inp.data, (list(inp.weights) if inp.weights is not None else None), inp.conditional
