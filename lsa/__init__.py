"""lsa: secondary analysis of large-scale assessments in Python.

The public API, nothing else: see the README and docs/ for how to use it.

Every name is loaded when it is first used (PEP 562 ``__getattr__``), so ``import lsa`` -- and the
command line ``lsa search`` -- does not pay for statsmodels, scipy.stats or formulaic until an
estimator needs them. ``from lsa import X``, ``lsa.X`` and ``dir(lsa)`` work as with eager imports.
Three functions share their name with the submodule that defines them (``lsa.mixed``,
``lsa.mix_pv``, ``lsa.model_inputs``): ``lsa.<name>`` is always the function; the submodule stays
reachable with ``import lsa.mixed.fit`` / ``from lsa.mixed import X`` (through ``sys.modules``).
"""

import sys as _sys
from importlib import import_module as _import_module
from pathlib import Path as _Path
from types import ModuleType as _ModuleType

# the module that defines each exported name (a submodule of lsa for the names exported as modules)
_WHERE = {
    **dict.fromkeys(["datasets", "impute", "io", "pooling", "robust", "weights"], None),
    **dict.fromkeys(["SurveyDesign", "design_from_study"], "design"),
    **dict.fromkeys(["DictionaryError", "StudyInfo", "studies", "study_info"], "dictionaries"),
    **dict.fromkeys(["ConvergenceWarning", "DesignError", "EstimationError", "FormulaError", "LsaError",
                     "LsaWarning", "MissingDataWarning", "StudyError"], "errors"),
    **dict.fromkeys(["DesignResult", "benchmarks", "contrast", "correlation", "covariance", "estimate", "gap",
                     "group_wald_test", "iqr", "lm", "logit", "mean", "percentages", "quantiles", "sd"],
                    "estimators"),
    **dict.fromkeys(["CrosstabResult", "crosstab"], "estimators.crosstab"),
    **dict.fromkeys(["odds_ratios", "r_squared", "risk_ratios", "standardized"], "estimators.regression_extras"),
    **dict.fromkeys(["poisson", "probit"], "estimators.glm"),
    **dict.fromkeys(["multinom", "ordinal"], "estimators.multinomial"),
    "quantreg": "estimators.quantreg",
    **dict.fromkeys(["ComparisonResult", "average", "compare", "trend"], "international"),
    **dict.fromkeys(["MixPVResult", "lrt_pv", "mix_pv"], "mix_pv"),
    **dict.fromkeys(["MixedControl", "MixedResult", "mixed"], "mixed"),
    **dict.fromkeys(["ModelInputs", "model_inputs"], "model_inputs"),
    "Replicates": "replicates",
    **dict.fromkeys(["center", "cluster_means"], "centering"),
}
# exported functions named like the submodule that defines them: the import system's binding of the
# submodule as an attribute of lsa must not replace the function
_SHADOWED = frozenset(n for n, m in _WHERE.items() if m == n)

__all__ = [
    "ComparisonResult", "ConvergenceWarning", "DesignError", "DictionaryError", "StudyInfo", "DesignResult", "EstimationError", "FormulaError", "LsaError",
    "LsaWarning", "MissingDataWarning", "MixPVResult", "MixedControl", "MixedResult", "ModelInputs", "Replicates", "StudyError", "SurveyDesign", "benchmarks",
    "CrosstabResult", "crosstab",
    "odds_ratios", "r_squared", "risk_ratios", "standardized",
    "poisson", "probit",
    "multinom", "ordinal", "quantreg",
    "center", "cluster_means",
    "average", "compare", "contrast", "correlation", "covariance", "datasets", "design_from_study", "estimate", "gap", "group_wald_test", "impute", "iqr", "io", "lm", "logit", "lrt_pv", "mean", "mix_pv", "mixed", "model_inputs", "percentages", "pooling", "quantiles", "robust", "sd", "studies", "study_info", "trend", "weights",
]


def _version() -> str:
    from importlib import metadata

    try:  # the one source of the version is pyproject.toml; installed metadata carries it
        return metadata.version("lsa")
    except metadata.PackageNotFoundError:  # imported from a source tree that was never installed
        return "0+unknown"


def __getattr__(name: str):
    if name in _WHERE:
        where = _WHERE[name]
        value = _import_module(f"{__name__}.{name}" if where is None else f"{__name__}.{where}")
        if where is not None:
            value = getattr(value, name)
    elif name == "__version__":
        value = _version()
    elif not name.startswith("_") and ((_Path(__file__).parent / f"{name}.py").is_file()
                                       or (_Path(__file__).parent / name / "__init__.py").is_file()):
        return _import_module(f"{__name__}.{name}")   # a submodule not in __all__ (lsa.design, ...)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value                      # once loaded, a plain attribute (no __getattr__ again)
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(_ModuleType):
    """The module type of ``lsa``: binding the submodule ``lsa.mixed`` (``lsa.mix_pv``,
    ``lsa.model_inputs``) as an attribute, which the import system does when it first loads it, is
    ignored, so that ``lsa.mixed`` stays (or, via ``__getattr__``, becomes) the function."""

    def __setattr__(self, name, value):
        if name in _SHADOWED and isinstance(value, _ModuleType):
            return
        super().__setattr__(name, value)

    def __reduce__(self):
        # pickled by name, as cloudpickle pickles plain modules: a function that refers to ``lsa``
        # can be sent to loky or Dask workers
        return _import_module, (self.__name__,)


_sys.modules[__name__].__class__ = _Package
