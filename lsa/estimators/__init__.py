"""Design-based estimators: each takes a SurveyDesign first and returns a DesignResult."""

from ._core import DesignResult
from .custom import estimate
from .descriptive import benchmarks, correlation, gap, mean, percentages, quantiles, sd
from .regression import lm, logit

__all__ = ["DesignResult", "benchmarks", "correlation", "estimate", "gap", "lm", "logit", "mean", "percentages",
           "quantiles", "sd"]
