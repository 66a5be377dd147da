"""Weighted multilevel models over plausible values, pooled with Rubin's rules (``mix_pv``).

The implementation lives in :mod:`lsa.mixed`, one module per job: :mod:`lsa.mixed.pv` (the
driver, :func:`mix_pv`), :mod:`lsa.mixed.pv_options`, :mod:`lsa.mixed.pv_formula` (PV formula
expansion), :mod:`lsa.mixed.pv_refits` (the per-PV fits and replicate refits),
:mod:`lsa.mixed.pv_assemble` (within-PV variances and df, handed to :mod:`lsa.pooling`) and
:mod:`lsa.mixed.pv_result` (:class:`MixPVResult`, :func:`lrt_pv`). This module keeps the
historical import path ``from lsa.mix_pv import mix_pv, lrt_pv, MixPVResult``.
"""
from lsa.mixed.pv import mix_pv
from lsa.mixed.pv_result import MixPVResult, lrt_pv
from lsa.mixed.replicate import replicate_level_weights

__all__ = ["mix_pv", "lrt_pv", "MixPVResult", "replicate_level_weights"]
