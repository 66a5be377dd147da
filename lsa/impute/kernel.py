"""Every contact of :mod:`lsa.impute` with miceforest and LightGBM, in this one module.

The rest of the package sees :class:`TableKernel` (one table's chain: build, overwrite a
predictor column, run one iteration, read the imputed values), the LightGBM parameters
(:data:`DEFAULT_LGB_PARAMS`, :func:`lgb_parameters`, :func:`lgb_parameter_names`) and
:func:`quiet` (the warnings of these libraries that say nothing to a user). Nothing else in
``lsa`` imports miceforest or LightGBM.

miceforest 6.0.5 (``miceforest>=6.0.5`` in ``pyproject.toml``) is used through
--------------------------------------------------------------------------------------------
* its public API: ``ImputationKernel(data, num_datasets=1, variable_schema=..., mean_match_candidates=...,
  save_all_iterations_data=False, random_state=...)``; ``kernel.mice(1, variable_parameters=...,
  **lgb_params)`` for one iteration over the variables of the schema; ``kernel.complete_data(0)``;
  ``kernel[variable, iteration, 0]`` (the imputed values of an iteration, indexed by row);
  ``kernel.iteration_count(dataset=0, variable=...)``; and the attribute ``kernel.working_data``,
  whose non-imputed columns (cluster means, the cluster's level-2 values) are overwritten between
  iterations with values recomputed from the current completed data — miceforest's ``mice()``
  starts every iteration from ``complete_data(dataset, inplace=True)``, which keeps them;
* a subclass that overrides **two private methods** of ``ImputationKernel``:

  - ``_get_nonmissing_subset_index(variable, seed)``, which ``_make_features_label`` calls to
    choose the training rows of a variable's model (miceforest: every row where the variable is
    observed, or a subset drawn without replacement). The override draws a **bootstrap of whole
    groups** among those rows — clusters on the student table, rows (= clusters) on the cluster
    table — with ``numpy.random.RandomState(seed)``, where ``seed`` is the per-model seed
    miceforest draws from the kernel's random state (so a chain stays reproducible). It calls the
    private ``_get_nonmissing_index(variable=...)`` of miceforest's ``ImputedData``. This is the
    parameter-draw step that makes the imputations proper (approximate Bayesian bootstrap, Rubin
    1987): without it the between-imputation variance misses the uncertainty of the fitted models
    and pooled standard errors are too small (coverage check in ``tests/test_impute.py``);
  - ``_mean_match_mice(variable, lgbmodel, bachelor_features, candidate_features,
    candidate_values, dataset, iteration)``, which ``mice()`` calls after a model is trained to
    produce the values of the missing rows. For a ``numeric="norm"`` variable the override
    returns :func:`lsa.impute.norm.norm_draw` (Bayesian linear-normal draw from the same
    predictors, random numbers from the kernel's private ``_random_state``, a
    ``numpy.random.RandomState``) as a Series on ``bachelor_features.index``; every other variable
    goes to miceforest's own predictive mean matching (``super()``). Norm variables skip the
    bootstrap (their posterior draw is the parameter step), and their LightGBM model, which is
    trained but not used, is cut to one tree with two leaves.

Why LightGBM is pinned (``lightgbm==4.6.0``)
--------------------------------------------
miceforest's predictive mean matching (``ImputationKernel._get_candidate_preds_mice``, reached
from ``_mean_match_mice`` for every variable that is not ``norm``) reads the training-set
predictions through LightGBM's name-mangled private method
``lgbmodel._Booster__inner_predict(0)``. LightGBM 4.7 changed that private method and
imputation fails there; 4.6.0 is the last release that works with miceforest 6.0.5. The pin
is miceforest's coupling, not ours: lsa calls no LightGBM function to fit or predict. lsa reads
one other LightGBM internal, ``lightgbm.basic._ConfigAliases._get_all_param_aliases()``, only to
name an unknown key of ``lgb_params`` (:func:`lgb_parameter_names`; if it is gone, names are not
checked). Before lifting the pin: check the two overridden methods' signatures and callers in
the new miceforest, and run ``tests/test_impute.py`` (the coverage study).
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import numpy as np
import pandas as pd

from ..errors import LsaError
from .norm import norm_draw

__all__ = ["DEFAULT_LGB_PARAMS", "TableKernel", "lgb_parameter_names", "lgb_parameters", "quiet"]

#: LightGBM settings used for every model (small boosted trees with bagging, one thread per
#: model: the data are small and joblib parallelises over chains). Override with lgb_params=.
DEFAULT_LGB_PARAMS: dict[str, Any] = {
    "boosting": "gbdt", "num_iterations": 50, "learning_rate": 0.1, "num_leaves": 16, "max_depth": -1,
    "min_data_in_leaf": 20, "bagging_fraction": 0.632, "bagging_freq": 1, "feature_fraction_bynode": 0.8,
    "num_threads": 1, "verbosity": -1,
}

#: LightGBM parameters of a norm variable's model, which miceforest trains but lsa does not use
_UNUSED_MODEL: dict[str, Any] = {"num_iterations": 1, "num_leaves": 2}


def lgb_parameters(lgb_params: dict | None, lgb_params_level2: dict | None,
                   n_clusters: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The LightGBM parameters of the student-table and the cluster-table models: the defaults,
    smaller trees on the cluster table (8 leaves, at least 3 and at most 20 clusters per leaf,
    n_clusters/15 in between), then the user's overrides."""
    lgb1 = {**DEFAULT_LGB_PARAMS, **(lgb_params or {})}
    lgb2 = {**DEFAULT_LGB_PARAMS, "num_leaves": 8, "min_data_in_leaf": int(max(3, min(20, n_clusters // 15))),
            **(lgb_params_level2 or {})}
    return lgb1, lgb2


def lgb_parameter_names() -> set[str] | None:
    """Every LightGBM parameter name and alias (None if this LightGBM does not list them: then
    names are not checked)."""
    try:
        from lightgbm.basic import _ConfigAliases

        aliases = _ConfigAliases._get_all_param_aliases()
        return set(aliases) | {a for names in aliases.values() for a in names}
    except Exception:  # pragma: no cover - a LightGBM without the alias table
        return None


@contextmanager
def quiet() -> Iterator[None]:
    """Silence the warnings of miceforest 6.0.5 that say nothing to a user: it calls
    ``DataFrame.drop(inplace=True)`` (deprecated from pandas 3.1) and warns about rare categories
    (which predictive mean matching handles)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*inplace keyword.*")
        warnings.filterwarnings("ignore", message=".*have very rare categories.*")
        yield


_KERNEL_CLASS = None


def _kernel_class():
    """miceforest's ImputationKernel with the cluster bootstrap and the norm draw (the two
    private-method overrides described in the module docstring); miceforest is imported on
    first use."""
    global _KERNEL_CLASS
    if _KERNEL_CLASS is not None:
        return _KERNEL_CLASS
    import miceforest as mf

    missing = [name for name in ("_get_nonmissing_subset_index", "_mean_match_mice", "_get_nonmissing_index")
               if not callable(getattr(mf.ImputationKernel, name, None))]
    if missing:  # the overrides would be silently bypassed: no bootstrap, no norm draw
        raise LsaError(f"miceforest {getattr(mf, '__version__', '?')} has no ImputationKernel.{missing[0]}, which "
                       f"lsa.impute overrides (see lsa.impute.kernel); install miceforest 6.0.5 and lightgbm 4.6.0.")

    class _BootstrapKernel(mf.ImputationKernel):
        def __init__(self, *args, groups: np.ndarray | None = None, norm: Sequence[str] = (), **kwargs):
            self._lsa_groups = groups
            self._lsa_norm = frozenset(norm)
            super().__init__(*args, **kwargs)

        def _get_nonmissing_subset_index(self, variable: str, seed: int):
            idx = self._get_nonmissing_index(variable=variable)
            groups = self._lsa_groups
            if groups is None or variable in self._lsa_norm:  # norm: the posterior draw is the parameter step
                return idx
            rs = np.random.RandomState(seed)
            g = groups[idx]
            uniq, inv = np.unique(g, return_inverse=True)
            draw = np.bincount(rs.randint(len(uniq), size=len(uniq)), minlength=len(uniq))
            return np.repeat(idx, draw[inv])

        def _mean_match_mice(self, variable, lgbmodel, bachelor_features, candidate_features, candidate_values,
                             dataset, iteration):
            if variable not in self._lsa_norm:
                return super()._mean_match_mice(variable, lgbmodel, bachelor_features, candidate_features,
                                                candidate_values, dataset, iteration)
            vals = norm_draw(candidate_features, candidate_values.to_numpy(dtype=float), bachelor_features,
                             self._random_state)
            return pd.Series(vals, index=bachelor_features.index, name=variable)

    _KERNEL_CLASS = _BootstrapKernel
    return _KERNEL_CLASS


class TableKernel:
    """One table's chain in a miceforest kernel (one data set).

    Parameters
    ----------
    table : the student or cluster table (:class:`lsa.impute.tables.Tables`).
    schema : imputed variable → its predictor columns.
    lgb : LightGBM parameters of every model of this table.
    mean_match_candidates : donors of predictive mean matching.
    seed : the kernel's random state (an integer from the chain's seed sequence).
    groups : (rows,) group of every row for the bootstrap of the training rows (None: no bootstrap).
    norm : the variables drawn by :func:`lsa.impute.norm.norm_draw` instead of predictive mean
        matching.
    """

    def __init__(self, table: pd.DataFrame, schema: dict[str, list[str]], *, lgb: dict[str, Any],
                 mean_match_candidates: int, seed: int, groups: np.ndarray | None, norm: Sequence[str]):
        with quiet():
            self._kernel = _kernel_class()(table, num_datasets=1, variable_schema=schema,
                                           mean_match_candidates=mean_match_candidates,
                                           save_all_iterations_data=False, random_state=seed, groups=groups,
                                           norm=norm)
        self._lgb = lgb
        self._variable_parameters = {nm: dict(_UNUSED_MODEL) for nm in norm}

    def completed(self) -> pd.DataFrame:
        """The table with the current imputations filled in."""
        return self._kernel.complete_data(0)

    def set_column(self, column: str, values: Any) -> None:
        """Overwrite a predictor column (not an imputed one) before the next iteration."""
        self._kernel.working_data[column] = values

    def iterate(self) -> None:
        """One chained-equation iteration over the imputed variables of the table."""
        self._kernel.mice(1, variable_parameters=self._variable_parameters, **self._lgb)

    def imputed(self, variable: str, iteration: int | None = None) -> pd.Series:
        """The values imputed for ``variable`` at its missing rows in ``iteration`` (0: the
        starting values; None: the last iteration)."""
        if iteration is None:
            iteration = self._kernel.iteration_count(dataset=0, variable=variable)
        return self._kernel[variable, iteration, 0]
