"""Multinomial logit, ordinal logit/probit and quantile regression over PVs × replicates (issue 13
item 5).

Oracle: ``tests/reference/categorical_models_piaac.json``, computed by
``categorical_models_piaac.R`` beside it: PIAAC 2012 Flanders (bundled extract), JK2 with 80
replicates, ``survey::withReplicates`` with ``nnet::multinom``, ``MASS::polr`` (logistic and
probit) and ``quantreg::rq`` (``method = "br"``, the exact LP), one fit per PV, pooled by
``mitools::MIcombine``. Tolerances: 1e-5 relative for the iterative fits (multinom, polr: R's
BFGS run to reltol 1e-16); quantile regression is an LP solved exactly on both sides, compared at
1e-8. Closed forms: a one-factor median regression is each group's weighted median (1e-12); a
PV-expression response equals the fit on derived columns (1e-12).
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import lsa
from conftest import piaac_flanders_edu, rel_entrywise

REF = Path(__file__).parent / "reference"


@pytest.fixture(scope="module")
def ref():
    return json.loads((REF / "categorical_models_piaac.json").read_text())


@pytest.fixture(scope="module")
def flanders():
    return lsa.design_from_study("piaac", 2012, piaac_flanders_edu())


def quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lsa.MissingDataWarning)
        return fn(*args, **kw)


def test_multinom_matches_nnet_multinom_with_replicates(flanders, ref):
    tab = quiet(lsa.multinom, flanders, "EDU ~ I(PVLIT / 100) + GENDER_R").tidy()
    want = ref["multinom"]
    assert tab["term"].tolist()[:3] == ["2:(Intercept)", "2:I(PVLIT / 100)", "2:GENDER_RMale"]
    assert len(tab) == 15
    assert rel_entrywise(tab["estimate"], want["estimate"]) < 1e-5          # iterative fit
    assert rel_entrywise(tab["std_error"], want["std_error"]) < 1e-5
    assert tab["converged"].all()


@pytest.mark.parametrize("link, key", [("logit", "polr_logistic"), ("probit", "polr_probit")])
def test_ordinal_matches_mass_polr_with_replicates(flanders, ref, link, key):
    tab = quiet(lsa.ordinal, flanders, "EDU ~ I(PVLIT / 100) + GENDER_R", link=link).tidy()
    want = ref[key]
    assert tab["term"].tolist() == ["I(PVLIT / 100)", "GENDER_RMale", "1|2", "2|3", "3|4", "4|5", "5|6"]
    assert rel_entrywise(tab["estimate"], want["estimate"]) < 1e-5          # iterative fit
    assert rel_entrywise(tab["std_error"], want["std_error"]) < 1e-5


@pytest.fixture(scope="module")
def edu_rows():
    """The design on the rows of the R script (EDCAT6 not missing; the replicate weights are columns,
    so dropping rows is R's subsetting before svrepdesign)."""
    d = piaac_flanders_edu()
    return lsa.design_from_study("piaac", 2012, d[d["EDU"].notna()])


def test_quantreg_matches_rq_with_replicates_for_every_quantile(edu_rows, ref):
    tab = quiet(lsa.quantreg, edu_rows, "PVLIT ~ AGE_R + GENDER_R", q=[0.25, 0.5, 0.9]).tidy()
    assert tab["term"].tolist()[:3] == ["q0.25:(Intercept)", "q0.25:AGE_R", "q0.25:GENDER_RMale"]
    assert rel_entrywise(tab["estimate"], ref["rq"]["estimate"]) < 1e-8     # exact LP on both sides
    assert rel_entrywise(tab["std_error"], ref["rq"]["std_error"]) < 1e-8


def test_quantreg_one_quantile_of_one_factor_is_the_weighted_median():
    """Closed form: with one factor the fit is each group's weighted quantile, averaged over PVs."""
    d = piaac_flanders_edu()
    three = lsa.design_from_study("piaac", 2012, d, pvs={"PVLIT": [f"PVLIT{i}" for i in range(1, 4)]})
    res = quiet(lsa.quantreg, three, "PVLIT ~ GENDER_R", q=0.5)
    assert res.tidy()["term"].tolist() == ["(Intercept)", "GENDER_RMale"]
    data = three.data
    female = (data["GENDER_R"] == "Female").to_numpy() & data["PVLIT1"].notna().to_numpy()
    w = data["SPFWT0"].to_numpy()[female]

    def wmedian(x):
        o = np.argsort(x)
        return x[o][np.searchsorted(np.cumsum(w[o]) / w.sum(), 0.5)]
    want = np.mean([wmedian(data[f"PVLIT{i}"].to_numpy()[female]) for i in range(1, 4)])
    assert res.params["(Intercept)"] == pytest.approx(want, rel=1e-12)


def test_multinom_with_a_pv_expression_response(flanders):
    """A response built from a PV set, evaluated PV m with PV m: equals the fit on derived columns."""
    d = flanders.data.copy()
    for i in range(1, 11):
        pv = d[f"PVLIT{i}"]
        d[f"LEV{i}"] = ((pv > 250) * 1.0 + (pv > 300) * 1.0).where(pv.notna())
    pvs = dict(flanders.pvs)
    pvs["LEV"] = tuple(f"LEV{i}" for i in range(1, 11))
    derived = lsa.design_from_study("piaac", 2012, d, pvs=pvs)
    a = quiet(lsa.multinom, flanders, "I((PVLIT > 250) * 1 + (PVLIT > 300) * 1) ~ AGE_R").tidy()
    b = quiet(lsa.multinom, derived, "LEV ~ AGE_R").tidy()
    assert a["term"].tolist() == ["1:(Intercept)", "1:AGE_R", "2:(Intercept)", "2:AGE_R"]
    assert rel_entrywise(a["estimate"], b["estimate"]) < 1e-12               # the same computation
    assert rel_entrywise(a["std_error"], b["std_error"]) < 1e-12


def test_level_missing_in_a_replicate_is_a_clear_error(flanders):
    d = flanders.data.copy()
    zone = ((d["SPFWT1"] == 0) & (d["SPFWT0"] > 0) & d["PVLIT1"].notna() & d["EDU"].notna()).to_numpy()
    edu = d["EDU"].cat.add_categories([7.0])
    edu[np.flatnonzero(zone)[:3]] = 7.0                            # a level only where replicate 1 is zero
    d["EDU7"] = edu
    design = lsa.design_from_study("piaac", 2012, d)
    for fn in (lsa.multinom, lsa.ordinal):
        with pytest.raises(lsa.EstimationError, match=r"response level '7' has no weight in 1 of 80 replicates"):
            quiet(fn, design, "EDU7 ~ AGE_R")
