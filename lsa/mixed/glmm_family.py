"""Response distributions and links of the GLMM engine (:mod:`lsa.mixed.glmm`), in log space.

For each family/link pair, elementwise in the linear predictor η:

* ``loglik(y, η)`` = log f(y | η) (binomial: y η − log(1 + e^η) for the logit,
  y log Φ(η) + (1 − y) log Φ(−η) for the probit, through ``log_ndtr``; Poisson:
  y η − e^η − log y!), never exp'd, so no weight can overflow it;
* ``derivatives(y, η)`` = (d1, d2, W, W') with d1 = ∂ log f/∂η, d2 = −∂² log f/∂η² (observed),
  W = (∂μ/∂η)² / V(μ) the working (Fisher) weight lme4's PIRLS uses for the curvature of the
  Laplace and adaptive-quadrature approximations, and W' = ∂W/∂η. For canonical links
  (logit, log) d2 = W: μ(1 − μ) resp. μ, and W' = μ(1 − μ)(1 − 2μ) resp. μ. For the probit,
  with λ₁ = φ/Φ(η) and λ₀ = φ/Φ(−η): d1 = y λ₁ − (1 − y) λ₀, d2 = y λ₁(η + λ₁) +
  (1 − y) λ₀(λ₀ − η), W = λ₁λ₀ and W' = W (λ₀ − λ₁ − 2η).

:func:`get_family` checks the ``family``/``link`` names; :func:`check_response` checks the
response (0/1 for the binomial, non-negative integers for the Poisson), naming the column and
the offending values.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
import scipy.special as sc

from lsa.errors import FormulaError, LsaError
from lsa.formula import load_formula_columns

__all__ = ["Family", "get_family", "check_response", "with_response", "FAMILIES"]

_LOG_PHI0 = -0.5 * np.log(2 * np.pi)


@dataclass(frozen=True)
class Family:
    """A response distribution with its link: ``name``, ``link``, ``loglik``, ``derivatives``
    ``mean`` (the inverse link) and ``value_and_d1``, all elementwise."""

    name: str
    link: str
    loglik: Callable[[np.ndarray, np.ndarray], np.ndarray]
    derivatives: Callable[[np.ndarray, np.ndarray], tuple]
    mean: Callable[[np.ndarray], np.ndarray]
    loglik_d1: Callable[[np.ndarray, np.ndarray], tuple] | None = None

    def value_and_d1(self, y, eta) -> tuple[np.ndarray, np.ndarray]:
        """(log f, ∂ log f/∂η) in one pass."""
        if self.loglik_d1 is not None:
            return self.loglik_d1(y, eta)
        return self.loglik(y, eta), self.derivatives(y, eta)[0]


def _logit_parts(eta):
    t = np.exp(-np.abs(eta))                  # one exp and one log1p: far faster than logaddexp/expit
    r = 1.0 / (1.0 + t)
    return t, np.where(eta >= 0, r, t * r)


def _logit_loglik(y, eta):
    t = np.exp(-np.abs(eta))
    return y * eta - np.maximum(eta, 0.0) - np.log1p(t)


def _logit_derivatives(y, eta):
    mu = _logit_parts(eta)[1]
    v = mu * (1.0 - mu)
    return y - mu, v, v, v * (1.0 - 2.0 * mu)


def _logit_loglik_d1(y, eta):
    t, mu = _logit_parts(eta)
    return y * eta - np.maximum(eta, 0.0) - np.log1p(t), y - mu


def _probit_loglik(y, eta):
    return y * sc.log_ndtr(eta) + (1.0 - y) * sc.log_ndtr(-eta)


def _probit_derivatives(y, eta):
    logphi = _LOG_PHI0 - 0.5 * eta * eta
    lam1 = np.exp(logphi - sc.log_ndtr(eta))
    lam0 = np.exp(logphi - sc.log_ndtr(-eta))
    d1 = y * lam1 - (1.0 - y) * lam0
    d2 = y * lam1 * (eta + lam1) + (1.0 - y) * lam0 * (lam0 - eta)
    W = lam1 * lam0
    return d1, d2, W, W * (lam0 - lam1 - 2.0 * eta)


def _clip(eta):
    return np.minimum(eta, 700.0)


def _poisson_loglik(y, eta):
    return y * eta - np.exp(_clip(eta)) - sc.gammaln(y + 1.0)


def _poisson_loglik_d1(y, eta):
    mu = np.exp(_clip(eta))
    return y * eta - mu - sc.gammaln(y + 1.0), y - mu


def _poisson_derivatives(y, eta):
    mu = np.exp(_clip(eta))
    return y - mu, mu, mu, mu


FAMILIES = {
    ("binomial", "logit"): Family("binomial", "logit", _logit_loglik, _logit_derivatives, sc.expit,
                                    _logit_loglik_d1),
    ("binomial", "probit"): Family("binomial", "probit", _probit_loglik, _probit_derivatives, sc.ndtr),
    ("poisson", "log"): Family("poisson", "log", _poisson_loglik, _poisson_derivatives,
                               lambda eta: np.exp(_clip(eta)), _poisson_loglik_d1),
}
_DEFAULT_LINK = {"binomial": "logit", "poisson": "log"}


def get_family(family: str, link: str | None = None) -> Family:
    """The :class:`Family` of ``family`` (``"binomial"``, ``"poisson"``) and ``link`` (default
    the canonical link; ``"logit"``/``"probit"`` for the binomial, ``"log"`` for the Poisson)."""
    if not isinstance(family, str) or family not in _DEFAULT_LINK:
        raise LsaError(f"family must be 'gaussian', 'binomial' or 'poisson'; got {family!r}")
    link = _DEFAULT_LINK[family] if link is None else link
    fam = FAMILIES.get((family, link))
    if fam is None:
        allowed = [k[1] for k in FAMILIES if k[0] == family]
        raise LsaError(f"link {link!r} is not available for family={family!r}; allowed: {allowed}")
    return fam


_I_EXPR = re.compile(r"^I\((.*)\)$", re.S)


def with_response(data: pd.DataFrame, response: str) -> pd.DataFrame:
    """``data`` with the response column: unchanged when ``response`` is a column; for R's
    ``I(expr)`` (e.g. ``I(MATH < 420.07)``) a column named ``response`` holding ``expr``
    evaluated by :meth:`pandas.DataFrame.eval` as float (True = 1), missing wherever a column
    it uses is missing (pandas compares NaN as False)."""
    load_formula_columns(data, response)
    if response in data.columns:
        return data
    m = _I_EXPR.match(response.strip())
    if m is None:
        raise FormulaError(f"response {response!r} is not a column of the data (an expression must "
                           f"be written I(...), e.g. I(MATH < 420.07))")
    expr = m.group(1)
    used = [c for c in data.columns if isinstance(c, str) and re.search(rf"(?<![\w.]){re.escape(c)}(?![\w.])", expr)]
    try:
        val = pd.to_numeric(pd.Series(data.eval(expr), index=data.index), errors="coerce").astype(float)
    except Exception as exc:                             # pandas raises many types here
        raise FormulaError(f"response {response!r}: cannot evaluate {expr!r} on the data ({exc})") from None
    if used:
        val[data[used].isna().any(axis=1).to_numpy()] = np.nan
    return data.assign(**{response: val.to_numpy()})


def check_response(y: np.ndarray, family: Family, column: str) -> None:
    """Raise :class:`lsa.errors.FormulaError` when the response does not fit the family: a
    binomial response must be 0/1 (or False/True), a Poisson response a non-negative integer.
    The message names the column and up to five offending values with their count."""
    y = np.asarray(y, float)
    if family.name == "binomial":
        bad = (y != 0) & (y != 1)
        allowed = "0 or 1 (a binary outcome; e.g. I(MATH < 420.07) or a 0/1 column)"
    else:
        bad = (y < 0) | (y != np.round(y))
        allowed = "non-negative integers (counts)"
    if bad.any():
        vals = list(dict.fromkeys(y[bad].tolist()))
        raise FormulaError(f"response {column!r} must be {allowed} for family={family.name!r}; it has "
                           f"{int(bad.sum())} other value(s), e.g. {vals[:5]}")
