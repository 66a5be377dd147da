"""lsa.model_inputs, the one seam from a DataFrame or a design to a model, and its domain rule.

Oracle: closed-form equalities. Under the domain rule (rows outside a domain keep their place
with weight 0) a zero-weight row contributes nothing to any weighted sum, score or leverage, and a
cluster without a row of positive weight contributes nothing and is not counted, so the fit on
``design.subset(mask)`` must equal the fit on the rows ``mask`` to rounding (1e-8 relative, on
estimates, sandwich / CR2 / replicate SEs and their df), for lsa.mixed (pisa2012, random
intercept and random slope), lsa.robust.clustered / lpm / modified_poisson and gee. The seam's
level-weight rule for a design with more levels than the model is checked against the column
products it must form (TIMSS 2011 extract).
"""
import numpy as np
import pytest

from conftest import read_reference_csv, rel_to_scale

import lsa
from lsa.mixed.inputs import design_inputs
from lsa.robust import clustered, gee, lpm, modified_poisson

W = ["w_fstuwt", "w_fschwt"]
RI = "pv1math ~ st29q03 + sc14q02 + st04q01 + escs + (1 | schoolid)"
RS = "pv1math ~ st29q03 + sc14q02 + st04q01 + escs + (1 + escs | schoolid)"


@pytest.fixture(scope="module")
def pisa():
    return read_reference_csv("pisa2012")


@pytest.fixture(scope="module")
def design(pisa):
    reps = [c for c in pisa.columns if c.startswith("w_fsturwt")]
    return lsa.SurveyDesign(pisa, ids={"school": "schoolid"}, weights={"student": W[0], "school": W[1]},
                            replicates=lsa.Replicates.fay(reps, k=0.5))


@pytest.fixture(scope="module")
def mask(pisa):
    """A student-level condition and a third of the schools left out entirely (empty clusters)."""
    schools = np.sort(pisa.schoolid.unique())
    return (pisa.escs > -0.5).to_numpy() & ~pisa.schoolid.isin(schools[::3]).to_numpy()


# --- the seam -------------------------------------------------------------------------------------

def test_frame_inputs(pisa):
    inp = lsa.model_inputs(pisa, RI, W)
    assert isinstance(inp, lsa.ModelInputs) and inp.design is None and inp.data is pisa
    assert inp.weights == tuple(W) and not inp.conditional and inp.domain.all()
    assert inp.replicates is None and dict(inp.pvs) == {} and inp.cluster is None
    assert rel_to_scale(inp.row_weights(), pisa[W[0]]) < 1e-15                  # level-1 total weight
    with pytest.raises(AttributeError):
        inp.weights = None                                                # frozen


def test_design_inputs_keep_every_row(design, mask):
    sub = design.subset(mask)
    inp = lsa.model_inputs(sub, RI)
    assert inp.design is sub and len(inp.data) == design.n and inp.n_domain == int(mask.sum())
    assert inp.weights == (W[0], W[1]) and inp.cluster == "schoolid"
    assert inp.replicates is design.replicates
    w = inp.row_weights()
    assert (w[~mask] == 0).all() and rel_to_scale(w[mask], design.full_weight()[mask]) < 1e-15
    single = lsa.model_inputs(sub, "pv1math ~ escs")                     # single-level: full weight
    assert single.weights == (W[0],)
    legacy, cols, cond = design_inputs(sub, None, False, ("schoolid",))   # mix_pv: domain rows only
    assert len(legacy) == int(mask.sum()) and cols == W and cond is False


def test_levels_collapsed_timss():
    """School/class/student design (total weights), school/student model: the school weight and
    the student's total weight; with conditional weights, the class stage folds into the student
    weight as the product column."""
    d = lsa.datasets.load("timss2011_aut_g4")
    des = lsa.SurveyDesign.from_study("TIMSS", 2011, d)
    assert des.levels == ("school", "class", "student") and not des.conditional_weights
    assert lsa.model_inputs(des, "ASMMAT01 ~ 1 + (1 | school)").weights == ("TOTWGT", "SCHWGT")
    d = d.assign(cw=1.5, sw=d["TOTWGT"] / d["SCHWGT"] / 1.5)              # conditional by hand
    cond = lsa.SurveyDesign(d, ids=des.ids, weights={"school": "SCHWGT", "class": "cw", "student": "sw"},
                            conditional_weights=True)
    inp = lsa.model_inputs(cond, "ASMMAT01 ~ 1 + (1 | school)")
    assert inp.weights == ("cw*sw", "SCHWGT") and inp.conditional
    assert rel_to_scale(inp.data["cw*sw"], d["TOTWGT"] / d["SCHWGT"]) < 1e-12   # = total / school weight


# --- lsa.mixed: zero weights outside the domain = the fit on the domain's rows --------------------

@pytest.mark.parametrize("formula", [RI, RS], ids=["intercept", "slope"])
def test_mixed_domain_equals_subset(pisa, design, mask, formula):
    a = lsa.mixed(formula, design.subset(mask))
    b = lsa.mixed(formula, pisa[mask], weights=W)
    assert len(a.model_frame.y) == len(pisa)                              # every row kept
    out = ~np.isin(a.model_frame.order, np.flatnonzero(mask))
    assert out.sum() == (~mask).sum() and (a.level_weights.w1[out] == 0).all()
    assert a.nobs == b.nobs and a.ngroups == b.ngroups and a.n_dropped == b.n_dropped == 0
    assert rel_to_scale(a.params, b.params) < 1e-8                                 # closed form: 1e-8
    assert rel_to_scale(a.bse, b.bse) < 1e-8                                       # sandwich SEs
    assert rel_to_scale(a.bse_model, b.bse_model) < 1e-8
    assert rel_to_scale(a.variance_components.estimate, b.variance_components.estimate) < 1e-8
    assert rel_to_scale(a.variance_components.std_error, b.variance_components.std_error) < 1e-6  # numerical Hessian
    assert abs(a.llf - b.llf) < 1e-8 * abs(b.llf)


def test_mixed_domain_cr2_and_replicate(pisa, design, mask):
    a = lsa.mixed(RI, design.subset(mask))
    b = lsa.mixed(RI, pisa[mask], weights=W)
    ca, cb = a.with_vcov("CR2"), b.with_vcov("CR2")
    assert rel_to_scale(ca.bse, cb.bse) < 1e-8 and rel_to_scale(ca.df, cb.df) < 1e-8       # CR2 and Satterthwaite df
    on_rows = lsa.SurveyDesign(pisa[mask], ids=design.ids, weights=design.weights,
                               replicates=design.replicates)
    ra = a.with_vcov("replicate", design=design.subset(mask))
    rb = b.with_vcov("replicate", design=on_rows)
    assert rel_to_scale(ra.bse, rb.bse) < 1e-8


def test_mixed_domain_factor_level_absent(pisa, design):
    """A category present only outside the domain has no weighted variation: an error naming it."""
    with pytest.raises(lsa.EstimationError, match="st04q01Male"):
        lsa.mixed(RI, design.subset(pisa.st04q01.eq("Female").to_numpy()))


# --- single-level cluster-robust fits and GEE -----------------------------------------------------

@pytest.mark.parametrize("fit, kw", [(clustered, {}), (clustered, {"type": "CR1"}), (lpm, {}),
                                     (modified_poisson, {})], ids=["clustered", "CR1", "lpm", "poisson"])
def test_robust_domain_equals_subset(pisa, design, mask, fit, kw):
    d = pisa.assign(high=(pisa.pv1math > 500).astype(float))
    des = lsa.SurveyDesign(d, ids=design.ids, weights=design.weights)
    f = "high ~ escs + st04q01" if fit is not clustered else "pv1math ~ escs + st04q01"
    a = fit(f, des.subset(mask), **kw)                                    # cluster: the design's id
    b = fit(f, d[mask], cluster="schoolid", weights=W[0], **kw)
    assert a.nobs == b.nobs and a.n_clusters == b.n_clusters
    assert rel_to_scale(a.params, b.params) < 1e-8 and rel_to_scale(a.bse, b.bse) < 1e-8 and rel_to_scale(a.df, b.df) < 1e-8


def test_gee_domain_equals_subset(pisa, mask):
    des = lsa.SurveyDesign(pisa, ids={"school": "schoolid"})
    a = gee("pv1math ~ escs", des.subset(mask), type="CR2", df="satterthwaite")
    b = gee("pv1math ~ escs", pisa[mask], cluster="schoolid", type="CR2", df="satterthwaite")
    assert rel_to_scale(a.params, b.params) < 1e-8 and rel_to_scale(a.bse, b.bse) < 1e-8 and rel_to_scale(a.df, b.df) < 1e-8


# --- lsa.mix_pv: the same domain rule, sandwich and replicate SEs ---------------------------------
# Oracle: the same closed-form equality. mix_pv(formula, design.subset(mask)) keeps every row with
# weight 0 outside the domain; the fit on the rows `mask` (a design of those rows with the same
# replicate columns) must give the same pooled estimates, SEs and df to 1e-8 relative. The replicate
# refits of a school outside the domain have factor 0/0 := 0 (lsa/mixed/replicate.py).

PV_RI = "MATH ~ escs + st04q01 + (1 | school)"
PV_RS = "MATH ~ scale(escs) + st04q01 + (1 + escs | school)"       # scale() on the rows analysed


@pytest.fixture(scope="module")
def pv_data():
    return lsa.datasets.load("pisa2012_usa")                        # 80 Fay replicates (README)


def pv_design(d, n_pvs=5):
    return lsa.SurveyDesign(d, ids={"school": "schoolid"}, weights={"student": W[0], "school": W[1]},
                            pvs={"MATH": [f"pv{i}math" for i in range(1, n_pvs + 1)]},
                            replicates=lsa.Replicates.fay([f"w_fsturwt{r}" for r in range(1, 81)], k=0.5))


@pytest.fixture(scope="module")
def pv_mask(pv_data):
    """As ``mask``: a student-level condition and a third of the schools entirely outside."""
    schools = np.sort(pv_data.schoolid.unique())
    return (pv_data.escs > -0.5).to_numpy() & ~pv_data.schoolid.isin(schools[::3]).to_numpy()


def assert_pooled_equal(a, b, tol=1e-8):
    assert a.nobs == b.nobs and a.n_dropped == b.n_dropped and a.df_complete == b.df_complete
    assert a.fixed_terms == b.fixed_terms and a.random_terms == b.random_terms
    for blk in ("fixed", "random"):
        pa, pb = getattr(a, blk), getattr(b, blk)
        assert rel_to_scale(pa.estimate, pb.estimate) < tol, blk                  # closed form: 1e-8
        assert rel_to_scale(pa.std_error, pb.std_error) < tol, blk
        assert rel_to_scale(pa.df, pb.df) < tol, blk


@pytest.mark.parametrize("formula, df_method", [(PV_RI, "barnard_rubin"), (PV_RS, "barnard_rubin"),
                                                (PV_RI, "cluster")], ids=["intercept", "slope-scale", "cluster-df"])
def test_mix_pv_domain_equals_subset(pv_data, pv_mask, formula, df_method):
    a = lsa.mix_pv(formula, pv_design(pv_data).subset(pv_mask), df_method=df_method)
    b = lsa.mix_pv(formula, pv_design(pv_data[pv_mask]), df_method=df_method)
    f0 = a.fits[0]
    assert len(f0.model_frame.y) == len(pv_data)                            # every row kept
    out = ~pv_mask[f0.model_frame.order]
    assert out.sum() == (~pv_mask).sum() and (f0.level_weights.w1[out] == 0).all()
    assert a.nobs == int(pv_mask.sum()) and f0.ngroups == b.fits[0].ngroups
    assert_pooled_equal(a, b)
    if df_method == "cluster":      # ν_com = G − p₂ − 1: the domain's schools, less intercept and variance
        assert a.df_complete == (pv_data.schoolid[pv_mask].nunique() - 2.0,) * 2
    if "scale" in formula:                                                 # R's scale on the domain's rows
        x = f0.model_frame.X[~out, f0.model_frame.xnames.index("scale(escs)")]
        assert abs(x.mean()) < 1e-12 and abs(x.std(ddof=1) - 1) < 1e-12


def test_mix_pv_domain_replicate_equals_subset(pv_data, pv_mask):
    """se="replicate": the domain fit refits with the design's replicate weights (zero outside the
    domain, schools outside it with factor 0/0 := 0), the rows fit with the same columns on its rows."""
    a = lsa.mix_pv(PV_RI, pv_design(pv_data, 3).subset(pv_mask), se="replicate", progress=False)
    b = lsa.mix_pv(PV_RI, pv_design(pv_data[pv_mask], 3), se="replicate", progress=False)
    assert a.df_complete == (79.0, 79.0)                                  # design df: R − 1
    assert np.all(np.isfinite(a.replicate_estimates))
    assert_pooled_equal(a, b)
    scale = np.abs(b.replicate_estimates).max(axis=(0, 1))                 # per estimate
    assert np.max(np.abs(a.replicate_estimates - b.replicate_estimates) / scale) < 1e-8


def test_mix_pv_domain_missing_values(pv_data, pv_mask):
    """Missing values inside and outside the domain: only the domain's are counted as dropped."""
    d = pv_data.copy()
    d.loc[d.index[:40], "escs"] = np.nan                                  # rows in and out of the domain
    with pytest.warns(lsa.errors.MissingDataWarning) as wa:
        a = lsa.mix_pv(PV_RI, pv_design(d).subset(pv_mask))
    with pytest.warns(lsa.errors.MissingDataWarning) as wb:
        b = lsa.mix_pv(PV_RI, pv_design(d[pv_mask]))
    n_in = int((pv_mask & d.escs.isna().to_numpy()).sum())
    assert 0 < n_in < 40 and a.n_dropped == (n_in,) * 5
    assert str(wa[0].message) == str(wb[0].message)
    assert_pooled_equal(a, b)
