"""What :func:`lsa.mix_pv` fits: the data, the weights and one formula per plausible value.

* :func:`expand_formula` splits a formula with plausible values into the M per-PV formulas
  (R form ``pv1 + ... + pv5 ~ x``, or a design's PV-set names on either side, PV m of every set
  paired with PV m of the others);
* :func:`draw_frame` builds the model frame of one PV data set (alias columns for PV-set names,
  R's ``scale`` evaluated within each PV data set on the rows analysed);
* :func:`plan_draws` turns ``mix_pv``'s ``formula``/``data``/``weights`` (a DataFrame, an
  :class:`lsa.SurveyDesign` or completed data sets) into a :class:`PVPlan`.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lsa.design import SurveyDesign
from lsa.errors import DesignError, EstimationError, FormulaError, LsaError
from lsa.mixed.formula import model_frame, parse_formula, split_top
from lsa.mixed.glmm_family import with_response
from lsa.mixed.pv_options import PVOptions
from lsa.model_inputs import ModelInputs, model_inputs

__all__ = ["Draw", "PVPlan", "expand_formula", "draw_frame", "plan_draws", "r_scale",
           "completed_datasets", "dataset_labels", "scaled_in_domain"]

_IDENT = r"(?<![\w.]){}(?![\w.])"


@dataclass(frozen=True)
class Draw:
    """One PV data set: its label, the formula fitted and the alias columns to add
    (PV-set name → the PV column of this draw)."""

    label: str
    formula: str
    alias: tuple[tuple[str, str], ...]
    response: str


def has_ident(text: str, name: str) -> bool:
    """``name`` occurs in ``text`` as a whole identifier (not inside a longer name)."""
    return re.search(_IDENT.format(re.escape(name)), text) is not None


def expand_formula(formula: str, df: pd.DataFrame, pvs: dict[str, tuple[str, ...]]) -> list[Draw]:
    """Split ``formula`` into the M per-PV formulas (see :func:`lsa.mix_pv`): an R-form
    left-hand side ``pv1 + ... + pvM`` gives one fit per column; a PV-set name of ``pvs`` on
    either side gives one fit per PV, PV m of every set paired with PV m of the others."""
    if not isinstance(formula, str) or formula.count("~") != 1:
        raise FormulaError(f"formula must be a string 'y ~ x + (1 | group)'; got {formula!r}")
    lhs, rhs = (s.strip() for s in formula.split("~"))
    if not lhs:
        raise FormulaError(f"formula {formula!r} has no response on the left of '~'")
    lhs_terms = [t for t in split_top(lhs, "+") if t]
    # a response expression I(...) (e.g. I(MATH < 420.07)) may use PV sets too
    expr_lhs = (len(lhs_terms) == 1 and lhs_terms[0] not in pvs and lhs_terms[0] not in df.columns
                and lhs_terms[0].startswith("I("))
    used_sets = [s for s in pvs if has_ident(rhs, s) or (expr_lhs and has_ident(lhs, s))]
    # a PV set together with one of its own PVs is ambiguous
    for s in set(used_sets) | {t for t in lhs_terms if t in pvs}:
        own = [c for c in pvs[s] if has_ident(formula, c)]
        if own:
            raise FormulaError(f"formula {formula!r} uses the plausible-value set {s!r} and its own "
                               f"plausible value(s) {own}: use either the set name (one fit per PV) "
                               f"or individual columns, not both")
    if len(lhs_terms) > 1:                                      # R form: pv1 + pv2 + ... ~ rhs
        bad = [t for t in lhs_terms if t not in df.columns]
        if bad:
            sets = [t for t in bad if t in pvs]
            hint = (f"; {sets} are PV-set names: write '{sets[0]} ~ ...' instead" if sets else "")
            raise FormulaError(f"plausible-value column(s) {bad} of the left-hand side are not "
                               f"columns of the data{hint}")
        responses = lhs_terms
        response_alias = None
    elif lhs_terms[0] in pvs:                                   # design PV set as outcome
        responses = list(pvs[lhs_terms[0]])
        response_alias = lhs_terms[0]
    else:
        if lhs_terms[0] not in df.columns and not expr_lhs:
            raise FormulaError(f"response {lhs_terms[0]!r} is neither a column of the data nor a "
                               f"plausible-value set" + (f" (sets: {list(pvs)})" if pvs else ""))
        responses = [lhs_terms[0]]
        response_alias = None
    lengths = {"left-hand side": len(responses)} if (len(lhs_terms) > 1 or response_alias) else {}
    lengths.update({s: len(pvs[s]) for s in used_sets})
    if len(set(lengths.values())) > 1:
        raise FormulaError(f"plausible-value sets of unequal length in {formula!r}: {lengths}; "
                           f"PV m of one set is paired with PV m of the others, so all need the "
                           f"same number of plausible values")
    m = max(lengths.values()) if lengths else 1
    draws = []
    for k in range(m):
        alias = [(s, pvs[s][k]) for s in used_sets]
        if response_alias is not None:
            alias.insert(0, (response_alias, responses[k]))
            resp, f = response_alias, formula
        elif len(responses) > 1:
            resp, f = responses[k], f"{responses[k]} ~ {rhs}"
        else:
            resp, f = responses[0], formula
        parts = ([responses[k]] if (response_alias or len(responses) > 1) else []) + \
                [f"{s}={c}" for s, c in alias if s != response_alias]
        label = ", ".join(parts) if parts else resp
        draws.append(Draw(label, f, tuple(alias), resp))
    return draws


_SCALE = re.compile(r"(?<![\w.])scale\(([^(),]+)\)")


def r_scale(formula: str) -> tuple[str, dict[str, str]]:
    """``scale(x)`` → patsy's ``scale(x, ddof=1)`` (R's scale: unweighted, n − 1), with the
    map back to the R names. Evaluated on the rows analysed, within each PV data set."""
    names = {}

    def sub(m):
        new = f"scale({m.group(1).strip()}, ddof=1)"
        names[new] = f"scale({m.group(1).strip()})"
        return new

    return _SCALE.sub(sub, formula), names


def rename_frame(frame, names: dict[str, str]):
    """The model frame with its column names mapped back to R's (``names`` of :func:`r_scale`)."""
    if not names:
        return frame

    def fix(n):
        for a, b in names.items():
            n = n.replace(a, b)
        return n

    return dataclasses.replace(frame, xnames=tuple(fix(n) for n in frame.xnames),
                               znames=tuple(tuple(fix(n) for n in z) for z in frame.znames))


# -- data and weights -----------------------------------------------------------------------

def draw_frame(draw: Draw, df: pd.DataFrame, weights, domain: np.ndarray | None = None):
    """(parsed formula, model frame, data with the alias columns) of one PV data set (R's
    ``scale``, on the rows analysed: with a ``domain`` mask, the domain's complete rows)."""
    dm = df.assign(**{a: df[c] for a, c in draw.alias}) if draw.alias else df
    f, names = r_scale(draw.formula)
    parsed = parse_formula(f)
    dm = with_response(dm, parsed.response)                        # a response I(expr), per PV
    frame = model_frame(parsed, dm, tuple(weights or ()))
    if names and domain is not None:
        frame = scaled_in_domain(frame, parsed, dm, tuple(weights or ()), domain)
    frame = rename_frame(frame, names)
    return dataclasses.replace(parse_formula(draw.formula), formula=draw.formula), frame, dm


def scaled_in_domain(frame, parsed, dm: pd.DataFrame, weights: tuple[str, ...], domain: np.ndarray):
    """The model frame of all rows whose X and Z rows in the domain are those of the frame of
    the domain's rows alone, so that R's ``scale`` takes its mean and SD from the rows analysed
    (as the fit on the domain's rows does); the rows outside the domain, of weight 0, keep the
    values of the whole data. Unchanged when the domain's frame has other columns (a category
    absent from the domain: :func:`lsa.mixed.fit.check_weighted_terms` then names it)."""
    rows = np.flatnonzero(domain)
    try:
        sub = model_frame(parsed, dm.iloc[rows], weights)
    except (DesignError, EstimationError, FormulaError):
        return frame
    if sub.xnames != frame.xnames or sub.znames != frame.znames:
        return frame
    at = np.full(len(dm), -1)
    at[frame.order] = np.arange(len(frame.order))
    at = at[rows[sub.order]]
    X = frame.X.copy()
    X[at] = sub.X
    Z = tuple(z.copy() for z in frame.Z)
    for z, zs in zip(Z, sub.Z):
        z[at] = zs
    return dataclasses.replace(frame, X=X, Z=Z)


def completed_datasets(data) -> list[pd.DataFrame] | None:
    """Completed data sets (a list of DataFrames or an lsa.impute.Imputed), else None."""
    if isinstance(data, (pd.DataFrame, SurveyDesign)):
        return None
    if isinstance(data, (list, tuple)) or hasattr(data, "pv_index"):
        sets = list(data)
        bad = [i for i, d in enumerate(sets) if not isinstance(d, pd.DataFrame)]
        if bad or not sets:
            raise DesignError(f"completed data sets must be DataFrames; items {bad[:5]} are not")
        return sets
    return None


def dataset_labels(data, n: int) -> list[str]:
    """"PV p, imputation i" for an ``Imputed``, "data set k" for a plain list."""
    if hasattr(data, "pv_index") and hasattr(data, "imp_index"):
        return [f"PV {p}, imputation {i}" for p, i in zip(data.pv_index, data.imp_index)]
    return [f"data set {k + 1}" for k in range(n)]


# -- the plan -------------------------------------------------------------------------------

@dataclass(frozen=True)
class PVPlan:
    """What ``mix_pv`` fits: the inputs (:func:`lsa.model_inputs`: every row of a design kept,
    rows outside a domain with weight 0), the M draws, the completed data sets (or None), the
    replicate weights of every row (n, R; zero outside a domain) with ``se="replicate"``, and the (PV,
    imputation) numbers of every draw for nested pooling."""

    inputs: ModelInputs
    draws: tuple[Draw, ...]
    datasets: tuple[pd.DataFrame, ...] | None
    replicate_weights: np.ndarray | None
    grid: tuple[np.ndarray, np.ndarray] | None

    @property
    def design(self):
        return self.inputs.design

    def frame_data(self, k: int) -> pd.DataFrame:
        """The data draw k is fitted on."""
        return self.datasets[k] if self.datasets else self.inputs.data


def plan_draws(formula: str, data, weights, opts: PVOptions) -> PVPlan:
    """Check ``formula``/``data``/``weights`` against the options and list the draws."""
    datasets = completed_datasets(data)
    if opts.pool == "nested" and (datasets is None or not hasattr(data, "pv_index")):
        raise LsaError("pool='nested' needs imputed data sets tagged by PV and imputation (lsa.impute.Imputed)")
    inp = model_inputs(datasets[0] if datasets else data, formula, weights,
                       conditional_weights=opts.conditional_weights)
    if datasets:
        if opts.replicate:
            raise LsaError("se='replicate' needs a design; with imputed data sets use the sandwich")
        one = expand_formula(formula, inp.data, {})
        if len(one) != 1:
            raise FormulaError(f"with completed data sets the formula has one response; got {formula!r}")
        draws = [dataclasses.replace(one[0], label=lab) for lab in dataset_labels(data, len(datasets))]
    else:
        draws = expand_formula(formula, inp.data, dict(inp.design.pvs) if inp.design is not None else {})
    if len(draws) < 2 and not opts.allow_single:
        raise LsaError(f"mix_pv needs at least 2 plausible values; formula {formula!r} gives {len(draws)} "
                       f"({draws[0].response!r}). Use lsa.mixed for one outcome, or allow_single=True")
    rep = None
    if opts.replicate:
        design = inp.design
        if design is None or design.replicates is None:
            raise DesignError("se='replicate' needs an lsa.SurveyDesign with replicate weights")
        rep = design.weight_matrix()[:, 1:]            # zero outside the domain
    grid = (np.asarray(data.pv_index), np.asarray(data.imp_index)) if opts.pool == "nested" else None
    return PVPlan(inp, tuple(draws), tuple(datasets) if datasets else None, rep, grid)
