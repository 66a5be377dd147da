"""Deprecated: the legacy tuple form of :func:`lsa.model_inputs`.

Every model, :func:`lsa.mixed` and :func:`lsa.mix_pv` included, now reads its data through
:func:`lsa.model_inputs` (the one seam; the rule for designs with more levels than the model
and the domain rule are documented in :mod:`lsa.model_inputs`: rows outside a domain keep
their place with weight 0). :func:`design_inputs` is no longer used by lsa; it is kept, with
its old behaviour and a ``DeprecationWarning``, for code that called it.
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from lsa.errors import warn
from lsa.model_inputs import formula_groups, model_inputs

__all__ = ["design_inputs", "formula_groups"]


def design_inputs(data, weights: Sequence[str] | str | None, conditional_weights: bool,
                  groups: Sequence[str] | None = None) -> tuple[pd.DataFrame, list[str] | None, bool]:
    """Deprecated: use :func:`lsa.model_inputs` (``inp.data``, ``inp.weights``,
    ``inp.conditional``; a domain's rows kept with weight 0, ``inp.domain`` marks them).

    (data frame, weight columns level 1 first or None, conditional flag) of a fit. ``data`` a
    DataFrame (``weights`` returned as given) or an ``lsa.SurveyDesign``: as before, only its
    rows in the domain (:meth:`lsa.ModelInputs.domain_rows`), with the level names added as
    columns and the weights of the levels the model uses (``groups``: the formula's grouping
    factors).
    """
    warn("lsa.mixed.inputs.design_inputs is deprecated: use lsa.model_inputs(data, formula, "
         "weights) (it keeps a domain's rows with weight 0; .domain_rows() drops them)",
         DeprecationWarning)
    if isinstance(data, pd.DataFrame):
        return data, ([weights] if isinstance(weights, str) else weights), conditional_weights
    inp = model_inputs(data, weights=weights, conditional_weights=conditional_weights,
                       groups=groups or None).domain_rows()
    return inp.data, (list(inp.weights) if inp.weights is not None else None), inp.conditional
