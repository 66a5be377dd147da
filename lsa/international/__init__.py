"""International comparisons: averages over countries, country and cycle differences.

* :func:`average` — composite (mean of the countries, SE = √(Σ SE_c²)/N) or pooled averages;
* :func:`compare` — countries against each other or an average, as independent samples;
* :func:`trend` — differences between cycles with the linking error;
* :func:`linking_error`, :func:`benchmark_linking_error` — linking errors from a study
  dictionary, and for percentages at benchmarks.

Every function works on per-country estimates and standard errors (the national samples are
independent), read from a result computed with ``by=<country column>`` or from a dict of
per-country results.
"""

from .average import average
from .compare import compare
from .result import ComparisonResult, adjust_pvalues
from .trend import benchmark_linking_error, linking_error, trend

__all__ = ["ComparisonResult", "adjust_pvalues", "average", "benchmark_linking_error", "compare", "linking_error",
           "trend"]
