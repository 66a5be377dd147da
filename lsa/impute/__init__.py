"""Multiple imputation for large-scale assessment data (Huang & Keller 2025 pipeline).

diagnose → impute → analyze → pool:

>>> import lsa.impute as li                                                   # doctest: +SKIP
>>> print(li.diagnose(df, cluster="cntschid"))                                # doctest: +SKIP
>>> imp = li.impute(df, m=20, cluster="cntschid", level2=["stubeha", "lackstaff"],
...                 pvs=[f"pv{i}math" for i in range(1, 11)], weight="w_fstuwt",
...                 variables=["gender", "escs", "immig2"], seed=1234)        # doctest: +SKIP
>>> fits = li.analyze(imp, "math ~ gender + escs + immig2 + stubeha + lackstaff + (1|cntschid)",
...                   weights=["w_fstuwt", "w_schgrnrabwt"])                  # doctest: +SKIP
>>> print(li.pool(fits, method="flat"))                                       # doctest: +SKIP

See :mod:`lsa.impute.pipeline` for the imputation model, what it approximates and what it
cannot capture, and where each step lives (spec, tables, chains, and :mod:`lsa.impute.kernel`,
the only module that touches miceforest and LightGBM); :mod:`lsa.impute.convergence` for chain
diagnostics. Users' own imputations
(Blimp, mice, ...) enter through :func:`from_long`.
"""

from .analysis import Analyses, PooledMI, analyze, pool
from .completed import Imputed, from_long
from .convergence import Trace, convergence_summary, rhat, trace_svg
from .diagnostics import MissingReport, diagnose, missing_share, pattern_svg, suggested_m
from .pipeline import DEFAULT_LGB_PARAMS, impute

__all__ = ["Analyses", "DEFAULT_LGB_PARAMS", "Imputed", "MissingReport", "PooledMI", "Trace", "analyze",
           "convergence_summary", "diagnose", "from_long", "impute", "missing_share", "pattern_svg", "pool",
           "rhat", "suggested_m", "trace_svg"]


def load_belgium_wmiss():
    """Deprecated: use ``lsa.datasets.load("pisa2018_bel_wmiss")``, which returns the same data
    (the module ``lsa.impute.tutorial_data`` that held this function was removed in issue 11)."""
    from .. import datasets
    from ..errors import warn

    warn('lsa.impute.load_belgium_wmiss() is deprecated; use lsa.datasets.load("pisa2018_bel_wmiss"), which '
         'returns the same data.', DeprecationWarning)
    return datasets.load("pisa2018_bel_wmiss")
