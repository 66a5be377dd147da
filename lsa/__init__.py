"""lsa: secondary analysis of large-scale assessments in Python.

The public API, nothing else: see the README and docs/ for how to use it.
"""

from importlib import metadata as _metadata

from . import datasets, impute, io, pooling, robust, weights
from .design import SurveyDesign, design_from_study
from .dictionaries import DictionaryError, StudyInfo, studies, study_info
from .errors import (ConvergenceWarning, DesignError, EstimationError, FormulaError, LsaError, LsaWarning,
                     MissingDataWarning, StudyError)
from .estimators import (DesignResult, benchmarks, contrast, correlation, covariance, estimate, gap, group_wald_test, iqr, lm, logit,
                         mean, percentages, quantiles, sd)
from .estimators.crosstab import CrosstabResult, crosstab
from .estimators.regression_extras import odds_ratios, r_squared, risk_ratios, standardized
from .estimators.glm import poisson, probit
from .estimators.multinomial import multinom, ordinal
from .estimators.quantreg import quantreg
from .international import ComparisonResult, average, compare, trend
from .mix_pv import MixPVResult, lrt_pv, mix_pv
from .mixed import MixedControl, MixedResult, mixed
from .model_inputs import ModelInputs, model_inputs
from .replicates import Replicates

try:  # the one source of the version is pyproject.toml; installed metadata carries it
    __version__ = _metadata.version("lsa")
except _metadata.PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "ComparisonResult", "ConvergenceWarning", "DesignError", "DictionaryError", "StudyInfo", "DesignResult", "EstimationError", "FormulaError", "LsaError",
    "LsaWarning", "MissingDataWarning", "MixPVResult", "MixedControl", "MixedResult", "ModelInputs", "Replicates", "StudyError", "SurveyDesign", "benchmarks",
    "CrosstabResult", "crosstab",
    "odds_ratios", "r_squared", "risk_ratios", "standardized",
    "poisson", "probit",
    "multinom", "ordinal", "quantreg",
    "average", "compare", "contrast", "correlation", "covariance", "datasets", "design_from_study", "estimate", "gap", "group_wald_test", "impute", "iqr", "io", "lm", "logit", "lrt_pv", "mean", "mix_pv", "mixed", "model_inputs", "percentages", "pooling", "quantiles", "robust", "sd", "studies", "study_info", "trend", "weights",
]
