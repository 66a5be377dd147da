"""The options of :func:`lsa.mix_pv`, checked once (:class:`PVOptions`).

``mix_pv`` keeps its keyword arguments; it packs them into a :class:`PVOptions`, whose
construction checks every value, so that the steps after it (:mod:`lsa.mixed.pv_formula`,
:mod:`lsa.mixed.pv_refits`, :mod:`lsa.mixed.pv_assemble`) read settled options.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from lsa.errors import DesignError, LsaError
from lsa.mixed.fit import MixedControl
from lsa.validation import check_n_jobs

__all__ = ["PVOptions", "DfRule", "check_df_rule"]

DfRule = Literal["barnard_rubin", "rubin", "cluster"]


def check_df_rule(value, argument: str = "df_method") -> None:
    """A df rule of :func:`lsa.mix_pv`: ``"barnard_rubin"``, ``"rubin"``, ``"cluster"`` or a
    positive number (ν_com); anything else is an :class:`~lsa.errors.LsaError` naming ``argument``."""
    if not (value in ("barnard_rubin", "rubin", "cluster") or
            (isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0)):
        raise LsaError(f"{argument} must be 'barnard_rubin', 'rubin', 'cluster' or a positive number; "
                       f"got {value!r}")


@dataclass(frozen=True)
class PVOptions:
    """Settings of a :func:`lsa.mix_pv` run (the keyword arguments of ``mix_pv``, same names
    and meaning, except ``df`` = ``mix_pv``'s ``df_method``); invalid values raise when the
    options are made."""

    conditional_weights: bool = False
    scaling: str = "none"
    df: DfRule | float = "barnard_rubin"
    se: Literal["sandwich", "replicate"] = "sandwich"
    legacy_alignment: bool = False
    allow_single: bool = False
    nonconverged: Literal["error", "warn", "drop"] = "error"
    control: MixedControl = field(default_factory=MixedControl)
    n_jobs: int | None = None
    progress: bool | None = None
    pool: Literal["flat", "nested"] = "flat"
    family: str = "gaussian"
    link: str | None = None
    n_quad: int = 13

    def __post_init__(self) -> None:
        if self.family != "gaussian":
            from lsa.mixed.glmm_family import get_family

            get_family(self.family, self.link)          # checks family and link names
            if not isinstance(self.n_quad, int) or isinstance(self.n_quad, bool) or self.n_quad < 1:
                raise LsaError(f"n_quad must be a positive integer (1 = Laplace); got {self.n_quad!r}")
        elif self.link not in (None, "identity"):
            raise LsaError(f"family='gaussian' has the identity link; got link={self.link!r}")
        if self.scaling not in ("none", "cluster", "ecluster"):
            raise DesignError(f"scaling must be 'none', 'cluster' or 'ecluster'; got {self.scaling!r}")
        if self.se not in ("sandwich", "replicate"):
            raise LsaError(f"se must be 'sandwich' or 'replicate'; got {self.se!r}")
        if self.nonconverged not in ("error", "warn", "drop"):
            raise LsaError(f"nonconverged must be 'error', 'warn' or 'drop'; got {self.nonconverged!r}")
        check_df_rule(self.df, "df_method")
        check_n_jobs(self.n_jobs)
        if self.control is None:
            object.__setattr__(self, "control", MixedControl())
        if self.pool not in ("flat", "nested"):
            raise LsaError(f"pool must be 'flat' or 'nested'; got {self.pool!r}")
        if self.legacy_alignment and self.se == "replicate":
            raise LsaError("legacy_alignment reproduces mixPV's sandwich-SE table; it cannot be "
                           "combined with se='replicate'")

    @property
    def replicate(self) -> bool:
        """Replicate-weight standard errors (``se="replicate"``)."""
        return self.se == "replicate"
