"""Weighted linear mixed models by multilevel pseudo-maximum likelihood (WeMix-compatible).

``mixed(formula, data, weights=[level1, level2(, level3)])`` — see :func:`lsa.mixed.fit.mixed`.

The steps are public, cut where lme4 cuts (``lFormula → mkLmerDevfun → optimizeLmer →
mkMerMod``; Bates et al. 2015, JSS 67(1), §1.1):

* :func:`parse_formula` → :func:`model_frame` (``lFormula``): y, X, Z and the groups, rows sorted
  by cluster;
* :func:`level_weights` → :func:`build_stats` (:class:`ClusterStats`: per-cluster weighted
  cross-products of [Z, X, y]; a new plausible value changes only the y-parts,
  :meth:`ClusterStats.with_y`) → :func:`profiled` over a :class:`ThetaMap` (``mkLmerDevfun``:
  ℓ(θ) with β and σ² profiled out);
* :func:`optimize` (``optimizeLmer``);
* :func:`lsa.mixed.fit.fit_prepared` (``mkMerMod``): the one fit step with every check
  (identifiability, convergence, boundary notes) → :class:`MixedResult`.

``docs/tutorials/mixed_steps.md`` runs them by hand and checks the result equals :func:`mixed`.
"""
from lsa.mixed.fit import MixedControl, build_stats, level_weights, mixed, optimize
from lsa.mixed.formula import model_frame, parse_formula
from lsa.mixed.pml import ThetaMap, profiled
from lsa.mixed.results import MixedResult
from lsa.mixed.stats import ClusterStats, cluster_stats
from lsa.mixed.caterpillar import plot_caterpillar
from lsa.mixed import covariance  # noqa: F401  (registers the with_vcov estimators)
from lsa.mixed import glmm_fit  # noqa: F401  (registers the GLMM engine of mixed(family=))

__all__ = ["mixed", "MixedControl", "MixedResult", "parse_formula", "model_frame",
           "level_weights", "build_stats", "optimize", "profiled", "ThetaMap", "ClusterStats",
           "cluster_stats", "plot_caterpillar"]
