"""Design-based estimators: each takes a SurveyDesign first and returns a DesignResult."""

from ._core import DesignResult
from .contrasts import contrast, gap, group_wald_test
from .correlations import covariance
from .custom import estimate
from .descriptive import benchmarks, correlation, mean, percentages, quantiles, sd
from .percentiles import iqr
from .regression import lm, logit

__all__ = ["DesignResult", "benchmarks", "contrast", "correlation", "covariance", "estimate", "gap", "group_wald_test", "iqr", "lm", "logit",
           "mean", "percentages", "quantiles", "sd"]
