"""Bad input across the API and the command line.

Oracle: the contract of ``lsa.validation`` and AGENTS.md: every bad input raises an
:class:`lsa.LsaError` subclass (or, where the input is usable, a warning) whose message names
the argument, column or file that is wrong. No raw numpy, pandas, patsy or pyreadstat exception
may reach the user, and the CLI exits with code 2 and a one-line message, never a traceback.
Each case asserts the exception class and a fragment of the message that names the culprit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lsa

# --- designs, estimators and formulas (the validation layer) ---------------------------

_DV_PV = [f"pv{i}math" for i in range(1, 6)]
_DV_REP = [f"w_fsturwt{r}" for r in range(1, 81)]


@pytest.fixture(scope="module")
def dv_pisa():
    """PISA 2012 USA (bundled) and its design: school/student weights, 5 PVs, 80 Fay replicates."""
    d = lsa.datasets.load("pisa2012_usa")
    return d, _dv_design(d)


def _dv_design(d, **kw):
    args = dict(ids={"school": "schoolid"}, weights={"student": "w_fstuwt", "school": "w_fschwt"},
                pvs={"MATH": _DV_PV}, replicates=lsa.Replicates.fay(_DV_REP, k=0.5))
    args.update(kw)
    return lsa.SurveyDesign(d, **args)


def _dv_set(d, column, rows, value):
    """A copy of ``d`` with ``column`` set to ``value`` in the given row positions."""
    x = d.copy()
    x.loc[x.index[rows], column] = value
    return x


def _dv_text(d, column):
    """A copy of ``d`` with a numeric column stored as text (missing values stay missing)."""
    return d.assign(**{column: d[column].map("{:.2f}".format, na_action="ignore").astype(object)})


def _dv_dup(d):
    x = d.copy()
    x.columns = list(x.columns[:-1]) + ["escs"]
    return x


_DV_DESIGN = [
    ("data not a DataFrame", lambda d: lsa.SurveyDesign(d.to_numpy(), weights="w_fstuwt"),
     lsa.DesignError, "data must be a pandas DataFrame; got ndarray"),
    ("empty data", lambda d: lsa.SurveyDesign(d.iloc[:0], weights="w_fstuwt"), lsa.DesignError, "data has no rows"),
    ("duplicate column names", lambda d: _dv_design(_dv_dup(d)), lsa.DesignError, r"duplicate column names \['escs'\]"),
    ("weights as a list", lambda d: _dv_design(d, weights=["w_fstuwt"]), lsa.DesignError,
     r"weights must be a mapping .*single weight column name.*weights='w_fstuwt'"),
    ("weights as a number", lambda d: _dv_design(d, weights=3), lsa.DesignError, "weights must be a mapping.*got int"),
    ("weight column absent", lambda d: _dv_design(d, weights={"student": "W_FSTUWT"}), lsa.DesignError,
     "weight column 'W_FSTUWT'"),
    ("ids as a list", lambda d: _dv_design(d, ids=["schoolid"]), lsa.DesignError, r"ids must be a mapping .*\['schoolid'\]"),
    ("id column absent", lambda d: _dv_design(d, ids={"school": "school_id"}), lsa.DesignError, "id column 'school_id'"),
    ("pvs as a list", lambda d: _dv_design(d, pvs=_DV_PV), lsa.DesignError, "pvs must be a mapping set name"),
    ("PV set as a string", lambda d: _dv_design(d, pvs={"MATH": "pv1math"}), lsa.DesignError,
     "PV set 'MATH' must list its columns"),
    ("PV set empty", lambda d: _dv_design(d, pvs={"MATH": []}), lsa.DesignError, "PV set 'MATH' must be a non-empty list"),
    ("strata as a list", lambda d: _dv_design(d, strata=["vstratum"]), lsa.DesignError,
     r"strata must be the name of a column.*\['vstratum'\]"),
    ("strata column absent", lambda d: _dv_design(d, strata="stratum"), lsa.DesignError, "strata .*'stratum'"),
    ("replicates as a list", lambda d: _dv_design(d, replicates=_DV_REP), lsa.DesignError,
     "replicates must be an lsa.Replicates scheme"),
    ("pv_variance unknown", lambda d: _dv_design(d, pv_variance="mean"), lsa.DesignError, "pv_variance .*'mean'"),
    ("conditional_weights as text", lambda d: _dv_design(d, conditional_weights="yes"), lsa.DesignError,
     "conditional_weights must be True or False; got 'yes'"),
    ("weight stored as text", lambda d: _dv_design(_dv_text(d, "w_fstuwt")), lsa.DesignError,
     r"'w_fstuwt' holds numbers stored as text.*pd.to_numeric"),
    ("weight with inf", lambda d: _dv_design(_dv_set(d, "w_fstuwt", [3, 9], np.inf)), lsa.DesignError,
     r"'w_fstuwt' has 2 infinite value"),
    ("school weight with -inf", lambda d: _dv_design(_dv_set(d, "w_fschwt", [0], -np.inf)), lsa.DesignError,
     r"'w_fschwt' has 1 infinite value"),
    ("weight with text", lambda d: _dv_design(d, weights={"student": "st04q01"}), lsa.DesignError,
     "'st04q01' is not numeric"),
    ("replicate weight stored as text", lambda d: _dv_design(_dv_text(d, "w_fsturwt5")), lsa.DesignError,
     r"replicates: column 'w_fsturwt5' holds numbers stored as text"),
    ("replicate weight with inf", lambda d: lsa.mean(_dv_design(_dv_set(d, "w_fsturwt7", [5], np.inf)), "MATH"),
     lsa.DesignError, r"replicate weight column 'w_fsturwt7' has 1 missing, infinite"),
    ("PV with inf", lambda d: _dv_design(_dv_set(d, "pv2math", [1, 2], np.inf)), lsa.DesignError,
     r"pvs\['MATH'\]: column 'pv2math' has 2 infinite value"),
    ("PV stored as text", lambda d: _dv_design(_dv_text(d, "pv4math")), lsa.DesignError,
     r"'pv4math' holds numbers stored as text.*pd.to_numeric\(df\['pv4math'\]\)"),
    ("PV set of text columns", lambda d: _dv_design(d, pvs={"MATH": ["st04q01", "st29q03"]}), lsa.DesignError,
     "'st04q01' is not numeric"),
    ("benchmark cuts as text", lambda d: _dv_design(d, benchmarks={"MATH": "400"}), lsa.LsaError,
     r"benchmarks\['MATH'\] must be a number or a list"),
    ("benchmark labels miscounted", lambda d: _dv_design(d, benchmarks={"MATH": {"cuts": [400, 500], "labels": ["a"]}}),
     lsa.DesignError, r"benchmarks\['MATH'\]: 2 cut points but 1 labels"),
    ("domain of the wrong length", lambda d: _dv_design(d).subset(np.ones(5, dtype=bool)), lsa.DesignError,
     r"one value per row \(3136\)"),
    ("from_study with duplicate columns", lambda d: lsa.SurveyDesign.from_study("PISA", 2012, _dv_dup(d)),
     lsa.DesignError, r"duplicate column names \['escs'\]"),
]


@pytest.mark.parametrize("build,exc,match", [c[1:] for c in _DV_DESIGN], ids=[c[0] for c in _DV_DESIGN])
def test_design_bad_input(dv_pisa, build, exc, match):
    with pytest.raises(exc, match=match):
        build(dv_pisa[0])


_DV_REPLICATES = [
    ("Fay k as text", lambda: lsa.Replicates.fay(_DV_REP, k="0.5"), r"Fay coefficient k must be a finite number; got '0.5'"),
    ("Fay k = 1", lambda: lsa.Replicates.fay(_DV_REP, k=1.0), "Fay coefficient k must be >= 0 and < 1; got 1.0"),
    ("Fay k negative", lambda: lsa.Replicates.fay(_DV_REP, k=-0.1), "Fay coefficient k must be >= 0"),
    ("Fay factor negative", lambda: lsa.Replicates.fay(_DV_REP, factor=-1), r"Replicates.fay: factor must be > 0; got -1"),
    ("BRR columns a number", lambda: lsa.Replicates.brr(80), r"Replicates.brr: columns must be a list .*got int 80"),
    ("BRR columns a string", lambda: lsa.Replicates.brr("w_fsturwt1"), "got the string 'w_fsturwt1'"),
    ("JK1 one column", lambda: lsa.Replicates.jk1(["w1"]), r"Replicates.jk1: columns: at least 2"),
    ("JK1 repeated columns", lambda: lsa.Replicates.jk1(["w1", "w1"]), r"repeated: \['w1'\]"),
    ("JK1 column numbers", lambda: lsa.Replicates.jk1([1, 2]), r"columns must be column names \(strings\)"),
    ("JK2 zone a number", lambda: lsa.Replicates.jk2(zone=3, rep="JKREP"), "zone must be a column name .*got 3"),
    ("JK2 both_halves as text", lambda: lsa.Replicates.jk2(zone="JKZONE", rep="JKREP", both_halves="yes"),
     "both_halves must be True or False; got 'yes'"),
    ("JK2 columns and zones", lambda: lsa.Replicates.jk2(["a", "b"], zone="JKZONE", rep="JKREP"), "not both"),
    ("custom factor as text", lambda: lsa.Replicates.custom(["a", "b"], factor="1"), r"Replicates.custom: factor must be"),
    ("bootstrap factor inf", lambda: lsa.Replicates.bootstrap(["a", "b"], factor=np.inf), r"Replicates.bootstrap: factor"),
    ("unknown method", lambda: lsa.Replicates("jk3", ("a", "b")), r"method must be one of .*'jk3'"),
]


@pytest.mark.parametrize("build,match", [c[1:] for c in _DV_REPLICATES], ids=[c[0] for c in _DV_REPLICATES])
def test_replicates_bad_input(build, match):
    with pytest.raises(lsa.LsaError, match=match):
        build()


def _dv_constant_statistic(value):
    return lambda data, w: np.full((w.shape[1], 1), value)


_DV_ESTIMATORS = [
    ("quantiles probs as text", lambda d, des: lsa.quantiles(des, "MATH", probs="0.5"), lsa.LsaError,
     "probs must be a number or a list of numbers; got '0.5'"),
    ("quantiles probs above 1", lambda d, des: lsa.quantiles(des, "MATH", probs=[0.5, 1.5]), lsa.LsaError,
     r"probs\[1\] must be > 0 and < 1; got 1.5"),
    ("quantiles probs 0", lambda d, des: lsa.quantiles(des, "MATH", probs=0), lsa.LsaError, "probs must be > 0"),
    ("quantiles probs empty", lambda d, des: lsa.quantiles(des, "MATH", probs=[]), lsa.LsaError, "probs must hold at least one"),
    ("quantiles of two variables", lambda d, des: lsa.quantiles(des, ["MATH", "escs"]), lsa.LsaError,
     "variable must be one column or plausible-value set name"),
    ("benchmarks cuts as text", lambda d, des: lsa.benchmarks(des, "MATH", cuts="400"), lsa.LsaError,
     "cuts must be a number or a list of numbers; got '400'"),
    ("benchmarks cuts decreasing", lambda d, des: lsa.benchmarks(des, "MATH", cuts=[500, 400]), lsa.DesignError,
     r"cuts: cut points must increase"),
    ("benchmarks labels miscounted", lambda d, des: lsa.benchmarks(des, "MATH", cuts=[400, 500], labels=["a"]),
     lsa.DesignError, "labels: give a list with one label per cut point"),
    ("benchmarks without cuts", lambda d, des: lsa.benchmarks(des, "MATH"), lsa.DesignError, "no cut points .*'MATH'"),
    ("by not a column", lambda d, des: lsa.mean(des, "MATH", by="gender"), lsa.DesignError,
     r"by: column\(s\) \['gender'\] not in the data"),
    ("by a number", lambda d, des: lsa.mean(des, "MATH", by=3), lsa.LsaError, "by must be a column name .*got 3"),
    ("unknown variable", lambda d, des: lsa.mean(des, "MAHT"), lsa.DesignError,
     r"variables: 'MAHT' is neither a column nor a plausible-value set \(did you mean \['MATH'\]"),
    ("variable a number", lambda d, des: lsa.sd(des, 3), lsa.LsaError, "variables must be a column name .*got 3"),
    ("variable named twice", lambda d, des: lsa.mean(des, ["escs", "escs"]), lsa.DesignError, "more than once"),
    ("string column in mean", lambda d, des: lsa.mean(des, "st04q01"), lsa.DesignError,
     r"'st04q01' is not numeric.*lsa.percentages"),
    ("text-stored number in mean", lambda d, des: lsa.mean(_dv_design(_dv_text(d, "escs")), "escs"), lsa.DesignError,
     r"'escs' holds numbers stored as text.*pd.to_numeric\(df\['escs'\]\)"),
    ("inf in sd", lambda d, des: lsa.sd(_dv_design(_dv_set(d, "escs", [0, 1, 2], -np.inf)), "escs"), lsa.DesignError,
     r"'escs' has 3 infinite value"),
    ("inf in correlation", lambda d, des: lsa.correlation(_dv_design(_dv_set(d, "escs", [4], np.inf)), ["MATH", "escs"]),
     lsa.DesignError, r"'escs' has 1 infinite value"),
    ("correlation of one variable", lambda d, des: lsa.correlation(des, ["MATH"]), lsa.DesignError, "at least two variables"),
    ("gap of a text column", lambda d, des: lsa.gap(des, "st29q03", between="st04q01"), lsa.DesignError,
     "'st29q03' is not numeric"),
    ("gap between a number", lambda d, des: lsa.gap(des, "MATH", between=3), lsa.DesignError,
     "between must name a column of the data .*got 3"),
    ("gap unknown group", lambda d, des: lsa.gap(des, "MATH", between="st04q01", groups=("Female", "Other")),
     lsa.DesignError, r"groups must be two values of 'st04q01'"),
    ("percentages of a text-stored number", lambda d, des: lsa.percentages(_dv_design(_dv_text(d, "escs")), "escs"),
     lsa.DesignError, r"column 'escs' has \d+ distinct values; at most 100 .*pd.to_numeric\(df\['escs'\]\)"),
    ("percentages of a PV set", lambda d, des: lsa.percentages(des, "MATH"), lsa.DesignError,
     r"column 'pv1math' has \d+ distinct values.*continuous"),
    ("percentages of a column with inf", lambda d, des: lsa.percentages(
        _dv_design(_dv_set(d.assign(noise1=d.noise1.round(0).clip(-2, 2)), "noise1", [0], np.inf)), "noise1"),
     lsa.DesignError, r"'noise1' has 1 infinite"),
    ("percentages of two variables", lambda d, des: lsa.percentages(des, ["st04q01", "st29q03"]), lsa.LsaError,
     "variable must be one column"),
    ("percentages max_levels as text", lambda d, des: lsa.percentages(des, "st04q01", max_levels="5"), lsa.LsaError,
     "max_levels must be an integer"),
    ("df_method unknown", lambda d, des: lsa.mean(des, "MATH", df_method="satterthwaite"), lsa.DesignError,
     "df_method must be 'barnard_rubin' or 'rubin'"),
    ("not a design", lambda d, des: lsa.mean(d, "MATH"), lsa.DesignError, "mean needs a SurveyDesign"),
    ("estimate statistic not callable", lambda d, des: lsa.estimate(des, "mean"), lsa.EstimationError,
     "statistic must be a function"),
    ("estimate wrong shape", lambda d, des: lsa.estimate(des, lambda data, w: np.ones(3)), lsa.EstimationError,
     r"one row per weight column: shape \(81, k\)"),
    ("estimate returns inf", lambda d, des: lsa.estimate(des, _dv_constant_statistic(np.inf)), lsa.EstimationError,
     "statistic returned 81 infinite value"),
    ("estimate returns text", lambda d, des: lsa.estimate(des, lambda data, w: ["a"] * w.shape[1]), lsa.EstimationError,
     "statistic must return numbers"),
    ("estimate terms a string", lambda d, des: lsa.estimate(des, _dv_constant_statistic(1.0), terms="ratio"),
     lsa.EstimationError, "terms must be a list of term names"),
    ("weights.conditional text weight", lambda d, des: lsa.weights.conditional(_dv_text(d, "w_fschwt"),
                                                                               ["w_fstuwt", "w_fschwt"]),
     lsa.DesignError, r"'w_fschwt' holds numbers stored as text"),
    ("weights.scale_within lengths", lambda d, des: lsa.weights.scale_within(np.ones(3), np.ones(4)), lsa.DesignError,
     r"w and cluster must be 1-d and of equal length"),
    ("weights.timss_weights case", lambda d, des: lsa.weights.timss_weights(d, "UPPER"), lsa.LsaError,
     r"prefix_case must be one of \['upper', 'lower'\]"),
    ("weights.dumouchel_duncan log(0)", lambda d, des: lsa.weights.dumouchel_duncan(
        "pv1math ~ np.log(escs - escs.min())", d, "w_fstuwt"), lsa.DesignError, r"'np.log\(escs - escs.min\(\)\)' has \d+ infinite"),
]


@pytest.mark.parametrize("call,exc,match", [c[1:] for c in _DV_ESTIMATORS], ids=[c[0] for c in _DV_ESTIMATORS])
def test_estimator_bad_input(dv_pisa, call, exc, match):
    with pytest.raises(exc, match=match):
        call(*dv_pisa)


def test_nan_in_a_pv_is_missing_and_counted(dv_pisa):
    """The other half of the non-finite rule: NaN is a missing value, excluded and counted.
    Oracle: the closed-form weighted mean Σwy/Σw of PV1 over the rows left (1e-12 relative)."""
    d = _dv_set(dv_pisa[0], "pv1math", [0, 5, 7], np.nan)
    with pytest.warns(lsa.MissingDataWarning, match="3 rows"):
        t = lsa.mean(_dv_design(d), "pv1math").tidy()
    keep = d["pv1math"].notna()
    w, y = d.loc[keep, "w_fstuwt"], d.loc[keep, "pv1math"]
    np.testing.assert_allclose(t["estimate"].iloc[0], (w * y).sum() / w.sum(), rtol=1e-12)
    assert t["n_missing"].iloc[0] == 3 and t["n_obs"].iloc[0] == len(d) - 3


def test_percentages_refuse_many_levels_before_allocating():
    """1,261 text-stored values in 3,892 rows (the PIAAC case of the issue): refused by counting
    distinct values, before any one-hot matrix is built."""
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"w": np.ones(3892), "earn": (rng.integers(0, 1261, 3892)).astype(str)})
    df.loc[:1260, "earn"] = np.arange(1261).astype(str)            # every one of 1,261 values present
    with pytest.raises(lsa.DesignError, match=r"'earn' has 1261 distinct values.*pd.to_numeric"):
        lsa.percentages(lsa.SurveyDesign(df, weights="w"), "earn")


# --- multilevel models and mix_pv -------------------------------------------------------

@pytest.fixture(scope="module")
def ml_timss():
    """TIMSS 2011 Austria grade 4 (bundled): a school/class/student design with school and
    student weights only, and the same data as a DataFrame."""
    d = lsa.datasets.load("timss2011_aut_g4")
    d = d.assign(xc=d.groupby("idschool").books.transform("mean"))   # constant within schools
    return d, lsa.SurveyDesign.from_study("TIMSS", 2011, d)


_ML_W = ["TOTWGT", "SCHWGT"]
_ML_PV = "ASMMAT1 + ASMMAT2"
_ML_CASES = [
    # a level the formula uses has no weight in the design: names the level
    ("class level without weight (mixed)", lambda d, des: lsa.mixed("ASMMAT1 ~ female + (1|school/class)", des),
     lsa.DesignError, r"no weight for \['class'\]"),
    ("class level without weight (mix_pv)", lambda d, des: lsa.mix_pv("ASMMAT ~ female + (1|class)", des),
     lsa.DesignError, r"no weight for \['class'\]"),
    # a random slope on a school-constant variable: refused by both, naming the column
    ("non-identified slope (mixed)", lambda d, des: lsa.mixed("ASMMAT1 ~ books + (1 + xc|idschool)", d, weights=_ML_W),
     lsa.DesignError, r"'xc'\] of .* linearly dependent"),
    ("non-identified slope (mix_pv)", lambda d, des: lsa.mix_pv(f"{_ML_PV} ~ books + (1 + xc|idschool)", d, weights=_ML_W),
     lsa.DesignError, r"'xc'\] of .* linearly dependent"),
    ("scaling (mixed)", lambda d, des: lsa.mixed("ASMMAT1 ~ books + (1|idschool)", d, scaling="within"),
     lsa.DesignError, "scaling must be .*'within'"),
    ("scaling (mix_pv)", lambda d, des: lsa.mix_pv(f"{_ML_PV} ~ books + (1|idschool)", d, scaling="within"),
     lsa.DesignError, "scaling must be .*'within'"),
    ("nonconverged", lambda d, des: lsa.mix_pv(f"{_ML_PV} ~ books + (1|idschool)", d, nonconverged="ignore"),
     lsa.LsaError, "nonconverged must be .*'ignore'"),
    ("se", lambda d, des: lsa.mix_pv(f"{_ML_PV} ~ books + (1|idschool)", d, se="jackknife"),
     lsa.LsaError, "se must be .*'jackknife'"),
    ("pool", lambda d, des: lsa.mix_pv(f"{_ML_PV} ~ books + (1|idschool)", d, pool="stacked"),
     lsa.LsaError, "pool must be .*'stacked'"),
    ("weight column missing", lambda d, des: lsa.mixed("ASMMAT1 ~ books + (1|idschool)", d, weights=["TOTWGT", "nope"]),
     lsa.DesignError, "'nope'"),
    ("design and weights=", lambda d, des: lsa.mixed("ASMMAT1 ~ books + (1|school)", des, weights=_ML_W),
     lsa.DesignError, "weights through the design, not both"),
    ("reml on a weighted fit", lambda d, des: lsa.mixed("ASMMAT1 ~ books + (1|idschool)", d, weights=_ML_W, reml=True),
     lsa.DesignError, "reml=True"),
    ("data not a frame", lambda d, des: lsa.mixed("ASMMAT1 ~ books + (1|idschool)", [1, 2, 3]),
     lsa.DesignError, "data must be a DataFrame or an lsa.SurveyDesign; got list"),
    ("grouping factor not a column", lambda d, des: lsa.mixed("ASMMAT1 ~ books + (1|nosuch)", d),
     lsa.FormulaError, "'nosuch'"),
    ("lrt_pv of a non-mix_pv result", lambda d, des: lsa.lrt_pv("model", "other"),
     lsa.LsaError, "model_full must be a mix_pv result; got str"),
    # options refused before any fit (lsa.mixed.pv_options.PVOptions)
    ("legacy_alignment with se='replicate'",
     lambda d, des: lsa.mix_pv(f"{_ML_PV} ~ books + (1|idschool)", d, legacy_alignment=True, se="replicate"),
     lsa.LsaError, "legacy_alignment .* cannot be combined with se='replicate'"),
    ("df as a string", lambda d, des: lsa.mix_pv(f"{_ML_PV} ~ books + (1|idschool)", d, df="kenward"),
     lsa.LsaError, "df must be .*got 'kenward'"),
    ("pool='nested' on one frame", lambda d, des: lsa.mix_pv(f"{_ML_PV} ~ books + (1|idschool)", d, pool="nested"),
     lsa.LsaError, "pool='nested' needs imputed data sets"),
    ("se='replicate' without a design",
     lambda d, des: lsa.mix_pv(f"{_ML_PV} ~ books + (1|idschool)", d, weights=_ML_W, se="replicate"),
     lsa.DesignError, "se='replicate' needs an lsa.SurveyDesign"),
    # lsa.pooling: the pooled table and flat/nested pooling
    ("t_table: alpha", lambda d, des: lsa.pooling.t_table(lsa.pooling.rubin(np.ones((2, 1)), np.ones((2, 1))), alpha=5),
     lsa.LsaError, "alpha must be > 0 and < 1; got 5"),
    ("t_table: unknown column", lambda d, des: lsa.pooling.t_table(lsa.pooling.rubin(np.ones((2, 1)), np.ones((2, 1))),
                                                               columns=["estimate", "se"]),
     lsa.LsaError, r"columns must be among .*got \['se'\]"),
    ("pool_estimates: method", lambda d, des: lsa.pooling.pool_estimates(np.ones((2, 1)), np.ones((2, 1)), method="stack"),
     lsa.LsaError, "method must be 'flat' or 'nested'; got 'stack'"),
    ("pool_estimates: nested without PV numbers",
     lambda d, des: lsa.pooling.pool_estimates(np.ones((4, 1)), np.ones((4, 1)), method="nested"),
     lsa.LsaError, "nested pooling needs the PV and imputation number"),
    ("pv_imputation_grid: incomplete grid", lambda d, des: lsa.pooling.pv_imputation_grid([1, 1, 2], [1, 2, 1]),
     lsa.LsaError, r"same imputation numbers for every PV \(a full PV × imputation grid\)"),
]


@pytest.mark.parametrize("case", _ML_CASES, ids=[c[0] for c in _ML_CASES])
def test_multilevel_bad_input(ml_timss, case):
    _, call, err, match = case
    with pytest.raises(err, match=match):
        call(*ml_timss)


def test_lrt_pv_weighted_against_unweighted(ml_timss):
    d, _ = ml_timss
    with pytest.warns(lsa.errors.MissingDataWarning):
        a = lsa.mix_pv(f"{_ML_PV} ~ books + female + (1|idschool)", d, weights=_ML_W)
    with pytest.warns(lsa.errors.MissingDataWarning):
        b = lsa.mix_pv(f"{_ML_PV} ~ books + (1|idschool)", d)
    with pytest.raises(lsa.LsaError, match="one model is weighted"):
        lsa.lrt_pv(a, b)


# --- cluster-robust fits, GEE and imputation --------------------------------------------

def _separated_frame():
    """``grp == 1`` implies ``y == 1`` and ``count == 0``: separation on ``grp`` by construction."""
    rng = np.random.default_rng(11)
    d = pd.DataFrame({"g": np.repeat(np.arange(20), 10), "x": rng.normal(size=200)})
    d["grp"] = (rng.random(200) < 0.25).astype(float)
    d["y"] = np.where(d.grp == 1, 1.0, (rng.random(200) < 0.5).astype(float))
    d["count"] = np.where(d.grp == 1, 0, rng.poisson(2.0, 200))
    d["yc"] = (d.x > 0).astype(float)
    return d


def test_bad_clustered_binomial_separation_warns_and_names_term():
    with pytest.warns(lsa.errors.SeparationWarning, match=r"\['grp'\]"):
        r = lsa.robust.clustered("y ~ x + grp", _separated_frame(), cluster="g", family="binomial")
    assert r.separation == ("grp",) and np.isnan(r.bse["grp"])


def test_bad_clustered_complete_separation_no_silent_p_value():
    with pytest.warns(lsa.errors.SeparationWarning, match=r"complete separation.*\['x'\]"):
        r = lsa.robust.clustered("yc ~ x", _separated_frame(), cluster="g", family="binomial")
    assert r.pvalues.isna().all()


def test_bad_clustered_poisson_separation_warns():
    with pytest.warns(lsa.errors.SeparationWarning, match=r"poisson.*\['grp'\]"):
        lsa.robust.clustered("count ~ x + grp", _separated_frame(), cluster="g", family="poisson")


def test_bad_gee_separation_warns():
    with pytest.warns(lsa.errors.SeparationWarning, match=r"gee binomial.*\['grp'\]"):
        r = lsa.robust.gee("y ~ x + grp", _separated_frame(), cluster="g", family="binomial")
    assert np.isnan(r.bse["grp"])


def test_bad_logit_separation_warns_not_linalgerror():
    d = _separated_frame()
    d["w"] = 1.0
    for r in range(8):
        d[f"rw{r}"] = np.where(d.g % 8 == r, 0.5, 1.5)
    design = lsa.SurveyDesign(d, ids={"g": "g"}, weights="w",
                              replicates=lsa.Replicates.fay([f"rw{r}" for r in range(8)], k=0.5))
    with pytest.warns(lsa.errors.SeparationWarning, match=r"complete separation.*\['x'\]"):
        r = lsa.logit(design, "yc ~ x")
    assert r.tidy()["std_error"].isna().all() and r.tidy()["separation"].all()


def _rb_frame():
    """12 clusters of 10 rows: continuous ``y``, 0/1 ``b``, 3-valued ``y3``, weights ``w``, text ``txt``."""
    rng = np.random.default_rng(5)
    d = pd.DataFrame({"g": np.repeat(np.arange(12), 10), "x": rng.normal(size=120)})
    d["y"] = d.x + rng.normal(size=12).repeat(10) + rng.normal(size=120)
    d["b"] = (d.y > 0).astype(float)
    d["y3"] = rng.integers(0, 3, 120).astype(float)
    d["w"] = rng.uniform(0.5, 2.0, 120)
    d["txt"] = np.where(d.x > 0, "hi", "lo")
    return d


def _rb_set(column, row, value):
    d = _rb_frame()
    d.loc[row, column] = value
    return d


@pytest.fixture(scope="module")
def rb_fits():
    """A clustered OLS fit and an lsa.mixed random-intercept fit of the same frame."""
    d = _rb_frame()
    return lsa.robust.clustered("y ~ x", d, cluster="g"), lsa.mixed("y ~ x + (1|g)", d)


_RB = lsa.robust
_RB_CASES = [
    # (id, call(fits), exception, fragment naming the culprit)
    ("clustered: empty frame", lambda f: _RB.clustered("y ~ x", _rb_frame().iloc[:0], cluster="g"),
     lsa.DesignError, "data has no rows"),
    ("clustered: data not a DataFrame", lambda f: _RB.clustered("y ~ x", _rb_frame().to_numpy(), cluster="g"),
     lsa.DesignError, "data must be a pandas DataFrame; got ndarray"),
    ("clustered: duplicate column names", lambda f: _RB.clustered("y ~ x", pd.concat([_rb_frame(), _rb_frame()[["x"]]],
                                                                                  axis=1), cluster="g"),
     lsa.DesignError, r"duplicate column names \['x'\]"),
    ("clustered: unknown cluster column", lambda f: _RB.clustered("y ~ x", _rb_frame(), cluster="school"),
     lsa.DesignError, r"cluster: column\(s\) \['school'\] not in the data"),
    ("clustered: cluster array of wrong length", lambda f: _RB.clustered("y ~ x", _rb_frame(), cluster=np.arange(10)),
     lsa.DesignError, "cluster has 10 values but data has 120 rows"),
    ("clustered: cluster None", lambda f: _RB.clustered("y ~ x", _rb_frame(), cluster=None),
     lsa.DesignError, "cluster must be a column name or an array"),
    ("clustered: unknown weights column", lambda f: _RB.clustered("y ~ x", _rb_frame(), cluster="g", weights="wt"),
     lsa.DesignError, r"weights: column\(s\) \['wt'\] not in the data"),
    ("clustered: weights of wrong length", lambda f: _RB.clustered("y ~ x", _rb_frame(), cluster="g",
                                                                   weights=np.ones(5)),
     lsa.DesignError, "weights has 5 values but data has 120 rows"),
    ("clustered: text weights", lambda f: _RB.clustered("y ~ x", _rb_frame(), cluster="g", weights="txt"),
     lsa.DesignError, "weights: column 'txt' is not numeric"),
    ("clustered: infinite weight", lambda f: _RB.clustered("y ~ x", _rb_set("w", 3, np.inf), cluster="g", weights="w"),
     lsa.DesignError, r"weights 'w' must be finite and > 0; 1 value\(s\) are not \(e.g. \[inf\]\)"),
    ("clustered: negative weight", lambda f: _RB.clustered("y ~ x", _rb_set("w", 3, -1.0), cluster="g", weights="w"),
     lsa.DesignError, r"weights 'w' must be finite and > 0.*-1.0"),
    ("clustered: zero weight", lambda f: _RB.clustered("y ~ x", _rb_set("w", 3, 0.0), cluster="g", weights="w"),
     lsa.DesignError, r"weights 'w' must be finite and > 0.*0.0"),
    ("clustered: a single cluster", lambda f: _RB.clustered("y ~ x", _rb_frame().assign(g=1), cluster="g"),
     lsa.DesignError, "cluster variable 'g' has a single cluster"),
    ("clustered: cluster all missing", lambda f: _RB.clustered("y ~ x", _rb_frame().assign(g=np.nan), cluster="g"),
     lsa.DesignError, "cluster variable 'g' has 120 missing value"),
    ("clustered: unknown type", lambda f: _RB.clustered("y ~ x", _rb_frame(), cluster="g", type="CR9"),
     lsa.LsaError, r"type must be one of \['CR0'.*got 'CR9'"),
    ("clustered: unknown df", lambda f: _RB.clustered("y ~ x", _rb_frame(), cluster="g", df="kenward-roger"),
     lsa.LsaError, "df must be one of .*got 'kenward-roger'"),
    ("clustered: unknown family", lambda f: _RB.clustered("y ~ x", _rb_frame(), cluster="g", family="gamma"),
     lsa.LsaError, "family must be None or one of .*got 'gamma'"),
    ("clustered: inf in a predictor", lambda f: _RB.clustered("y ~ x", _rb_set("x", 3, np.inf), cluster="g"),
     lsa.DesignError, r"term 'x' has 1 infinite value"),
    ("clustered: text response", lambda f: _RB.clustered("txt ~ x", _rb_frame(), cluster="g"),
     lsa.DesignError, "column 'txt' is not numeric"),
    ("clustered: 3-valued response, binomial", lambda f: _RB.clustered("y3 ~ x", _rb_frame(), cluster="g",
                                                                       family="binomial"),
     lsa.FormulaError, r"response 'y3' of 'y3 ~ x': family 'binomial' needs 0/1"),
    ("modified_poisson: negative response", lambda f: _RB.modified_poisson("y ~ x", _rb_frame(), cluster="g"),
     lsa.FormulaError, r"response 'y' of 'y ~ x': family 'poisson' needs counts >= 0"),
    ("lpm: unknown type", lambda f: _RB.lpm("b ~ x", _rb_frame(), cluster="g", type="HC3"),
     lsa.LsaError, "type must be one of .*got 'HC3'"),
    ("gee: unknown corstr", lambda f: _RB.gee("y ~ x", _rb_frame(), cluster="g", corstr="ar1"),
     lsa.LsaError, r"corstr must be one of \['exchangeable', 'independence'\]; got 'ar1'"),
    ("gee: data not a DataFrame", lambda f: _RB.gee("y ~ x", _rb_frame().to_numpy(), cluster="g"),
     lsa.DesignError, "data must be a pandas DataFrame; got ndarray"),
    ("gee: unknown cluster column", lambda f: _RB.gee("y ~ x", _rb_frame(), cluster="school"),
     lsa.DesignError, r"cluster: column\(s\) \['school'\]"),
    ("gee: maxit 0", lambda f: _RB.gee("y ~ x", _rb_frame(), cluster="g", maxit=0), lsa.LsaError, "maxit must be >= 1"),
    ("gee: tol as text", lambda f: _RB.gee("y ~ x", _rb_frame(), cluster="g", tol="1e-8"),
     lsa.LsaError, "tol must be a finite number; got '1e-8'"),
    ("gee: 3-valued response, binomial", lambda f: _RB.gee("y3 ~ x", _rb_frame(), cluster="g", family="binomial"),
     lsa.FormulaError, "response 'y3'.*binomial"),
    ("wald_test: unknown term", lambda f: f[0].wald_test(["z"]), lsa.LsaError, r"unknown term\(s\) \['z'\]"),
    ("wald_test: matrix of wrong width", lambda f: f[0].wald_test(np.ones((1, 3))),
     lsa.LsaError, r"must have 2 columns; got shape \(1, 3\)"),
    ("wald_test: NaN in the matrix", lambda f: f[0].wald_test([[np.nan, 1.0]]), lsa.LsaError,
     "constraints: the constraint matrix has non-finite"),
    ("wald_test: 3-d matrix", lambda f: f[0].wald_test(np.ones((1, 2, 2))), lsa.LsaError,
     r"constraints must be term names or a numeric q x 2 matrix.*\(1, 2, 2\)"),
    ("wald_test: no constraint", lambda f: f[0].wald_test([]), lsa.LsaError, "constraints must name at least one"),
    ("wald_test: term twice", lambda f: f[0].wald_test(["x", "x"]), lsa.LsaError,
     r"constraints name term\(s\) \['x'\] more than once"),
    ("wald_test: dependent rows", lambda f: f[0].wald_test([[0, 1.0], [0, 2.0]]), lsa.LsaError,
     "constraints: the 2 hypotheses .* are linearly dependent"),
    ("wald_test: rhs of wrong length", lambda f: f[0].wald_test(["x"], rhs=[1, 2]), lsa.LsaError,
     r"rhs must hold one number per constraint \(1\); got 2"),
    ("wald_test: unknown test", lambda f: f[0].wald_test(["x"], test="LR"), lsa.LsaError,
     r"test must be one of \['HTZ', 'chi2', 'naive-F'\]; got 'LR'"),
    ("conf_int: alpha as text", lambda f: f[0].conf_int(alpha="0.05"), lsa.LsaError,
     "alpha must be a finite number; got '0.05'"),
    ("conf_int: alpha outside (0, 1)", lambda f: f[0].conf_int(alpha=1.5), lsa.LsaError, "alpha must be > 0 and < 1"),
    ("tidy: conf_level in percent", lambda f: f[0].tidy(conf_level=95), lsa.LsaError,
     "conf_level must be > 0 and < 1; got 95"),
    ("with_vcov: unknown type", lambda f: f[0].with_vcov("CR7"), lsa.LsaError, "type must be one of .*got 'CR7'"),
    ("mixed with_vcov: unknown option", lambda f: f[1].with_vcov("CR2", df="z"), lsa.LsaError,
     r"with_vcov\('CR2'\): unknown option\(s\) \['df'\]"),
    ("mixed with_vcov: replicate without design", lambda f: f[1].with_vcov("replicate"), lsa.LsaError,
     "with_vcov.'replicate'. needs design=.*got NoneType"),
    ("robust_mixed: unknown type", lambda f: _RB.robust_mixed(f[1], type="CR9"), lsa.LsaError,
     "type must be one of .*got 'CR9'"),
    ("robust_mixed: unknown df", lambda f: _RB.robust_mixed(f[1], df="kr"), lsa.LsaError, "df must be one of .*got 'kr'"),
    ("robust_mixed: unknown target", lambda f: _RB.robust_mixed(f[1], target="sample"), lsa.LsaError,
     r"target must be one of \['model', 'weighted'\]; got 'sample'"),
    ("robust_mixed: not a mixed fit", lambda f: _RB.robust_mixed(f[0]), lsa.LsaError,
     "fit must be a fit returned by lsa.mixed .*got ClusteredResult"),
    ("robust_mixed: cluster as a number", lambda f: _RB.robust_mixed(f[1], cluster=3), lsa.DesignError,
     "cluster must be a column name or an array"),
    ("ncv_mlm: not a mixed fit", lambda f: _RB.ncv_mlm(f[0]), lsa.LsaError, "fit must be a fit returned by lsa.mixed"),
    ("random_slope_diagnostic: alpha as text", lambda f: _RB.random_slope_diagnostic(f[0], alpha="0.05"),
     lsa.LsaError, "alpha must be a finite number"),
    ("se_ratio: a mixed fit", lambda f: _RB.se_ratio(f[1]), lsa.LsaError, "result must be a result of lsa.robust"),
    ("risk_ratios: not a result", lambda f: _RB.risk_ratios("fit"), lsa.LsaError, "result must be a result of lsa.robust"),
    ("effective_clusters: unknown cluster", lambda f: _RB.effective_clusters("y ~ x", _rb_frame(), "school"),
     lsa.DesignError, r"cluster: column\(s\) \['school'\]"),
    ("effective_clusters: no data", lambda f: _RB.effective_clusters("y ~ x"), lsa.LsaError,
     "data \\(and cluster\\) must be given"),
    ("effective_clusters_simple: no ids", lambda f: _RB.effective_clusters_simple([]), lsa.DesignError,
     "cluster variable 'cluster' is empty"),
    ("check_effective_clusters: threshold as text", lambda f: _RB.check_effective_clusters(f[0].effective_clusters(),
                                                                                             threshold="30"),
     lsa.LsaError, "threshold must be a finite number"),
    ("h_test: data not a DataFrame", lambda f: _RB.h_test("y ~ x", _rb_frame(), "g"), lsa.DesignError,
     "data must be a pandas DataFrame; got str"),
    ("h_test: min_df as text", lambda f: _RB.h_test(_rb_frame(), "y ~ x", "g", min_df="5"), lsa.LsaError,
     "min_df must be an integer"),
]


@pytest.mark.parametrize("case, call, exc, match", _RB_CASES, ids=[c[0] for c in _RB_CASES])
def test_robust_bad_input(rb_fits, case, call, exc, match):
    with pytest.raises(exc, match=match):
        call(rb_fits)


def test_robust_missing_weight_dropped_and_counted():
    """A missing weight is a missing value (R's ``lm(weights=)``): the row is dropped, counted
    and the warning names the weights; the fit equals the fit without that row (1e-10 relative)."""
    d = _rb_set("w", [3, 4], np.nan)
    with pytest.warns(lsa.errors.MissingDataWarning, match=r"2 of 120 rows dropped.*2 of them for a missing weight in 'w'"):
        r = lsa.robust.clustered("y ~ x", d, cluster="g", weights="w")
    cc = lsa.robust.clustered("y ~ x", d.dropna(subset=["w"]), cluster="g", weights="w")
    assert r.n_dropped == 2 and r.nobs == 118
    np.testing.assert_allclose(r.bse, cc.bse, rtol=1e-10)


def test_robust_wald_under_separation_tests_the_finite_terms():
    """Under separation the diverging term has NaN covariance: its Wald test is NaN, never a
    number, while a test of another term is still its t test (HTZ for q = 1 is F = t^2 on the
    Satterthwaite df; closed form, 1e-10 relative)."""
    with pytest.warns(lsa.errors.SeparationWarning):
        r = lsa.robust.clustered("y ~ x + grp", _separated_frame(), cluster="g", family="binomial")
    assert np.isnan(r.wald_test(["grp"]).p_value) and np.isnan(r.wald_test(["x", "grp"], test="chi2").statistic)
    w = r.wald_test(["x"])
    assert np.isfinite(w.p_value)
    np.testing.assert_allclose([w.statistic, w.df_denom], [r.tvalues["x"] ** 2, r.df["x"]], rtol=1e-10)


def _rb_rare_category_design(pv_response=False, pv_predictor=False):
    """Jackknife (JK1) design of 20 zones; the category ``rare`` lives only in zone 7, so the
    replicate that drops zone 7 has no weight on it. With ``pv_response``/``pv_predictor`` the
    response/``x`` is a plausible-value set of two identical copies (no between-PV variance)."""
    rng = np.random.default_rng(3)
    d = pd.DataFrame({"zone": np.repeat(np.arange(20), 10), "x": rng.normal(size=200)})
    d["cat"] = pd.Categorical(np.where(d.zone == 7, "rare", np.where(rng.random(200) < .5, "a", "b")),
                              categories=["a", "b", "rare"])
    d["y"] = 1 + 2 * d.x + 0.5 * (d.cat == "b") + 3 * (d.cat == "rare") + rng.normal(size=200)
    d["w"] = rng.uniform(1, 2, 200)
    reps = [f"rw{r}" for r in range(20)]
    for r, col in enumerate(reps):
        d[col] = np.where(d.zone == r, 0.0, d.w * 20 / 19)
    pvs = {}
    if pv_response:
        d["y1"], d["y2"] = d.y, d.y
        pvs["Y"] = ["y1", "y2"]
    if pv_predictor:
        d["x1"], d["x2"] = d.x, d.x
        pvs["X"] = ["x1", "x2"]
    design = lsa.SurveyDesign(d, weights="w", pvs=pvs or None, replicates=lsa.Replicates.jk1(reps))
    return d, design, reps


def _rb_jk1_oracle(d, reps):
    """Independent oracle: WLS per replicate by numpy lstsq on the rows with weight, the rare
    category's column dropped where it has no weight; JK1 variance (R-1)/R sum (b_r - b)^2."""
    X = np.column_stack([np.ones(len(d)), d.x, d.cat == "b", d.cat == "rare"]).astype(float)

    def wls(w):
        keep = w > 0
        cols = [j for j in range(4) if np.any(X[keep, j] != 0)]
        sw = np.sqrt(w[keep])
        b = np.full(4, np.nan)
        b[cols] = np.linalg.lstsq(X[keep][:, cols] * sw[:, None], d.y.to_numpy()[keep] * sw, rcond=None)[0]
        return b

    full = wls(d.w.to_numpy())
    rep = np.array([wls(d[c].to_numpy()) for c in reps])
    return full, np.sqrt((len(reps) - 1) / len(reps) * np.sum((rep - full) ** 2, axis=0))


@pytest.mark.parametrize("pv", [{}, {"pv_response": True}, {"pv_predictor": True}], ids=["no PV", "PV response",
                                                                                          "PV predictor"])
def test_lm_replicate_without_a_category_warns_not_linalgerror(pv):
    """lsa.lm: a replicate that zeroes the only rows of a category has a singular X'W_r X; no
    LinAlgError: that term's SE is NaN, a MissingDataWarning names it and the replicate count,
    and the other terms equal the oracle (they are estimable in that replicate; 1e-8 relative)."""
    d, design, reps = _rb_rare_category_design(**pv)
    y, x = ("Y" if pv.get("pv_response") else "y"), ("X" if pv.get("pv_predictor") else "x")
    with pytest.warns(lsa.errors.MissingDataWarning, match=r"\['catrare'\] have no weighted variation in 1 of 20 "
                      if not pv.get("pv_predictor") else r"\['catrare'\] have no weighted variation in 2 of 40 "):
        t = lsa.lm(design, f"{y} ~ {x} + cat").tidy().set_index("term")
    full, se = _rb_jk1_oracle(d, reps)
    np.testing.assert_allclose(t["estimate"].to_numpy(), full, rtol=1e-8)
    assert np.isnan(t.loc["catrare", "std_error"]) and np.isnan(t.loc["catrare", "p_value"])
    np.testing.assert_allclose(t["std_error"].to_numpy()[:3], se[:3], rtol=1e-8)


# --- files, readers and the command line ------------------------------------------------
@pytest.fixture(scope="module")
def io_bad(tmp_path_factory):
    """Broken data files made from the bundled TIMSS 2019 USA student file (1,114,889 bytes,
    7,986 rows x 31 variables): cut to half its bytes, cut by 10 bytes, the first 200 bytes,
    0 bytes, a CSV renamed to .sav/.dta/.sas7bdat, a folder named .sav, a CSV and a text file."""
    from pathlib import Path

    d = tmp_path_factory.mktemp("io_bad")
    raw = (Path(__file__).parent / "data" / "STU_USA_2018.sav").read_bytes()
    (d / "half.sav").write_bytes(raw[: len(raw) // 2])
    (d / "short.sav").write_bytes(raw[:-10])
    (d / "header_cut.sav").write_bytes(raw[:200])
    (d / "empty.sav").write_bytes(b"")
    for ext in ("sav", "dta", "sas7bdat"):
        (d / f"fake.{ext}").write_text("id,score\n1,500\n2,510\n")
    (d / "folder.sav").mkdir()
    (d / "data.csv").write_text("id,score\n1,500\n")
    (d / "notes.txt").write_text("not data")
    (d / "a_file").write_text("x")
    return d


_IO_READ_CASES = [
    # (id, reader, file, message fragment that names the file and the fault)
    ("missing", "read_spss", "nope.sav", r"nope\.sav: no such file"),
    ("folder", "read_spss", "folder.sav", r"folder\.sav is a folder, not a data file"),
    ("empty", "read_spss", "empty.sav", r"empty\.sav is empty \(0 bytes\)"),
    ("half", "read_spss", "half.sav",
     r"half\.sav is truncated or damaged: its header declares 7,986 rows x 31 variables, .* \(557,444 bytes"),
    ("cut 10 bytes", "read_spss", "short.sav", r"short\.sav is truncated or damaged"),
    ("header cut", "read_spss", "header_cut.sav", r"header_cut\.sav: cannot read the header .* \(200 bytes\)"),
    ("text renamed .sav", "read_spss", "fake.sav", r"fake\.sav is not an SPSS file: it starts with b'id,score"),
    ("text renamed .dta", "read_stata", "fake.dta", r"fake\.dta is not an Stata file"),
    ("text renamed .sas7bdat", "read_sas", "fake.sas7bdat", r"fake\.sas7bdat is not an SAS file"),
    ("csv to read_any", "read_any", "data.csv", r"data\.csv: lsa reads SPSS .* got the extension '\.csv'"),
    ("half, with columns", "read_spss_columns", "half.sav", r"half\.sav is truncated or damaged"),
    ("describe half", "describe", "half.sav",
     r"half\.sav is truncated or damaged: its header declares 7,986 rows x 31 variables, but the data stop early"),
    ("describe cut 10 bytes", "describe", "short.sav", r"short\.sav is truncated or damaged"),
    ("describe txt", "describe", "notes.txt", r"notes\.txt: lsa reads SPSS .* '\.txt' \(convert fixed-width"),
    ("describe empty", "describe", "empty.sav", r"empty\.sav is empty"),
    ("read_study of a file", "read_study", "a_file", r"a_file is a file, not a folder"),
    ("read_study missing folder", "read_study", "no_folder", r"no_folder: no such folder"),
]


@pytest.mark.parametrize("case", _IO_READ_CASES, ids=[c[0] for c in _IO_READ_CASES])
def test_reader_bad_files(io_bad, case):
    from lsa import io
    from lsa.errors import ReadError

    _, reader, name, match = case
    path = io_bad / name
    call = {"read_spss": io.read_spss, "read_stata": io.read_stata, "read_sas": io.read_sas,
            "read_any": io.read_any, "describe": io.describe,
            "read_spss_columns": lambda p: io.read_spss(p, columns=["IDSTUD", "ITSEX"]),
            "read_study": lambda p: io.read_study(p, "timss", 2019)}[reader]
    with pytest.raises(ReadError, match=match) as err:
        call(path)
    assert isinstance(err.value, OSError) and str(path.name) in str(err.value)


_CLI_CASES = [
    # (id, argv built from the folder of bad files, message fragment naming the file or argument)
    ("describe missing", lambda d: ["describe", str(d / "nope.sav")], r"nope\.sav: no such file"),
    ("describe truncated", lambda d: ["describe", str(d / "half.sav")], r"half\.sav is truncated or damaged"),
    ("describe fake", lambda d: ["describe", str(d / "fake.sav")], r"fake\.sav is not an SPSS file"),
    ("describe folder", lambda d: ["describe", str(d / "folder.sav")], r"folder\.sav is a folder"),
    ("describe csv", lambda d: ["describe", str(d / "data.csv")], r"data\.csv: lsa reads SPSS"),
    ("demo out under a file", lambda d: ["demo", "--quiet", "--out", str(d / "a_file" / "out")],
     r"cannot create the output folder .*a_file/out: a part of the path is a file"),
    ("demo out is a file", lambda d: ["demo", "--quiet", "--out", str(d / "a_file")],
     r"output folder .*a_file is a file"),
    ("demo out in /proc", lambda d: ["demo", "--quiet", "--out", "/proc/nope"],
     r"cannot create the output folder /proc/nope"),
    ("run missing recipe", lambda d: ["run", str(d / "none.toml")], r"recipe .*none\.toml does not exist"),
    ("run a folder", lambda d: ["run", str(d)], r"recipe .*io_bad\d* is a folder"),
    ("run invalid toml", lambda d: ["run", str(d / "notes.txt")], r"notes\.txt: not valid TOML"),
    ("run binary recipe", lambda d: ["run", str(d / "half.sav")], r"recipe .*half\.sav is not a UTF-8 text file"),
    ("studies unknown", lambda d: ["studies", "PISSA"], r"unknown study 'PISSA'; known: pisa, timss"),
]


@pytest.mark.parametrize("case", _CLI_CASES, ids=[c[0] for c in _CLI_CASES])
def test_cli_bad_input_exits_2_with_one_line(io_bad, capsys, case):
    import re

    from lsa.cli import main

    _, argv, match = case
    assert main(argv(io_bad)) == 2
    err = capsys.readouterr().err
    assert err.startswith("lsa: error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert re.search(match, err), err


_RECIPE_HEAD = 'title = "t"\n[data]\n'
_RECIPE_CASES = [
    # (id, recipe text, message fragment naming the recipe key or the data file)
    ("truncated data file", 'file = "half.sav"\n[[analysis]]\nname = "m"\nfunction = "mean"\n',
     r"half\.sav is truncated or damaged"),
    ("replicate method", 'dataset = "pisa2003_nld"\n[design]\nweights = "W_FSTUWT"\n'
     '[design.replicates]\nmethod = "fey"\nprefix = "W_FSTR"\ncount = 80\n'
     '[[analysis]]\nname = "m"\nfunction = "mean"\n', r"line 7: \[design.replicates\] method must be one of"),
    ("design option", 'dataset = "pisa2003_nld"\n[design]\nweight = "W_FSTUWT"\n'
     '[[analysis]]\nname = "m"\nfunction = "mean"\n', r"line 5: \[design\] has no option 'weight'"),
    ("seed", 'dataset = "pisa2003_nld"\n[[analysis]]\nname = "m"\nfunction = "mean"\n', r"'seed' must be an integer"),
    ("analysis not a table", 'dataset = "pisa2003_nld"\n', r"'analysis' must be a list of tables"),
]


@pytest.mark.parametrize("case", _RECIPE_CASES, ids=[c[0] for c in _RECIPE_CASES])
def test_recipe_bad_input(io_bad, case, tmp_path):
    from lsa.report.recipe import RecipeError
    from lsa.report.runner import run_recipe

    name, text, match = case
    text = {"seed": 'seed = "42"\n', "analysis not a table": "analysis = 3\n"}.get(name, "") + _RECIPE_HEAD + text
    recipe = io_bad / f"{name.replace(' ', '_')}.toml"
    recipe.write_text(text)
    err = RecipeError if name != "truncated data file" else lsa.errors.ReadError
    with pytest.raises(err, match=match):
        run_recipe(recipe, tmp_path / "out", quiet=True)

# --- formulas (model matrices) ----------------------------------------------------------

@pytest.fixture(scope="module")
def fm_piaac():
    """PIAAC 2012 Russia (bundled) with an hourly wage that is 0 for some rows (as EARNHR in the
    full data), a wage stored as text, a text id and 40 clusters CL; the frame and its design."""
    d = lsa.datasets.load("piaac2012_rus")
    d = d.assign(EARNHR=(d["AGE_R"] - 16) * 1.5, EARN_TXT=(d["SEQID"] * 1.37).round(2).astype(str),
                 NEG=d["AGE_R"] - 30.5, HIGH=(d["PVLIT1"] > 275).astype(float),
                 EDU3=d["EDCAT6"].str[:5], ID="P" + d["SEQID"].astype(str), CL=d["SEQID"] % 40)
    return d, lsa.SurveyDesign.from_study("PIAAC", 2012, d)


def _rob(fn, formula):
    return lambda d, des: fn(formula, d, cluster="CL")


_FM_RANDOM = "lsa.mixed"            # every single-level estimator points to lsa.mixed
_FM_CASES = [
    # lme4 random-effect terms outside lsa.mixed: an error, not a bitwise OR of 1 and the id
    ("(1|g) in lm", lambda d, des: lsa.lm(des, "PVLIT ~ AGE_R + (1|CL)"), lsa.FormulaError, r"lsa\.lm: .*lsa\.mixed"),
    ("(1|g) in logit", lambda d, des: lsa.logit(des, "HIGH ~ AGE_R + (1|CL)"), lsa.FormulaError, r"lsa\.logit: .*lsa\.mixed"),
    ("(1|g) in robust.clustered", _rob(lsa.robust.clustered, "PVLIT1 ~ AGE_R + (1|CL)"), lsa.FormulaError, _FM_RANDOM),
    ("(1|g) in robust.lpm", _rob(lsa.robust.lpm, "HIGH ~ AGE_R + (1 | CL)"), lsa.FormulaError, _FM_RANDOM),
    ("(1|g) in modified_poisson", _rob(lsa.robust.modified_poisson, "HIGH ~ AGE_R + (1|CL)"), lsa.FormulaError, _FM_RANDOM),
    ("(1|g) in gee", _rob(lsa.robust.gee, "PVLIT1 ~ AGE_R + (1|CL)"), lsa.FormulaError, _FM_RANDOM),
    ("(1|g) in effective_clusters", _rob(lsa.robust.effective_clusters, "PVLIT1 ~ AGE_R + (1|CL)"),
     lsa.FormulaError, _FM_RANDOM),
    ("(1|g) in weights.dumouchel_duncan",
     lambda d, des: lsa.weights.dumouchel_duncan("PVLIT1 ~ AGE_R + (1|CL)", d, "SPFWT0"), lsa.FormulaError, _FM_RANDOM),
    ("(1|g) in weights.pfeffermann_sverchkov",
     lambda d, des: lsa.weights.pfeffermann_sverchkov("PVLIT1 ~ AGE_R + (1|CL)", d, "SPFWT0"), lsa.FormulaError,
     _FM_RANDOM),
    # a number stored as text: thousands of levels, refused before the matrix is allocated
    ("numbers as text (lm)", lambda d, des: lsa.lm(des, "PVLIT ~ EARN_TXT"), lsa.FormulaError,
     r"'EARN_TXT' has \d+ levels.*pd\.to_numeric"),
    ("numbers as text (logit)", lambda d, des: lsa.logit(des, "HIGH ~ AGE_R + EARN_TXT"), lsa.FormulaError,
     r"'EARN_TXT' has \d+ levels.*pd\.to_numeric"),
    ("numbers as text (robust)", _rob(lsa.robust.clustered, "PVLIT1 ~ EARN_TXT"), lsa.FormulaError,
     r"'EARN_TXT' has \d+ levels.*pd\.to_numeric"),
    ("numbers as text (mixed)", lambda d, des: lsa.mixed("PVLIT1 ~ EARN_TXT + (1|CL)", d), lsa.FormulaError,
     r"'EARN_TXT' has \d+ levels.*pd\.to_numeric"),
    ("id as a factor", lambda d, des: lsa.lm(des, "PVLIT ~ ID"), lsa.FormulaError, r"'ID' has \d+ levels.*an id"),
    ("C() of a continuous variable", lambda d, des: lsa.lm(des, "PVLIT ~ C(SEQID)"), lsa.FormulaError,
     r"'C\(SEQID\)' has \d+ levels.*as a number"),
    ("numbers as text response (lm)", lambda d, des: lsa.lm(des, "EARN_TXT ~ AGE_R"), lsa.DesignError,
     r"'EARN_TXT' holds numbers stored as text.*pd\.to_numeric"),
    ("text response (lm)", lambda d, des: lsa.lm(des, "GENDER_R ~ AGE_R"), lsa.DesignError, r"'GENDER_R' is not numeric"),
    ("numbers as text response (robust)", _rob(lsa.robust.clustered, "EARN_TXT ~ AGE_R"), lsa.DesignError,
     r"'EARN_TXT' holds numbers stored as text"),
    ("many-level response (logit)", lambda d, des: lsa.logit(des, "EDU3 ~ AGE_R"), lsa.FormulaError,
     r"'EDU3' gives \d columns"),
    # unknown names: one line naming the name
    ("unknown predictor (lm)", lambda d, des: lsa.lm(des, "PVLIT ~ AGE"), lsa.FormulaError,
     r"unknown variable 'AGE'.*did you mean"),
    ("unknown response (lm)", lambda d, des: lsa.lm(des, "PVLITX ~ AGE_R"), lsa.FormulaError, r"unknown variable 'PVLITX'"),
    ("unknown function (lm)", lambda d, des: lsa.lm(des, "PVLIT ~ log(AGE_R)"), lsa.FormulaError, r"unknown variable 'log'"),
    ("unknown predictor (robust)", _rob(lsa.robust.clustered, "PVLIT1 ~ AGE"), lsa.FormulaError, r"unknown variable 'AGE'"),
    ("unknown predictor (mixed)", lambda d, des: lsa.mixed("PVLIT1 ~ AGE + (1|CL)", d), lsa.FormulaError,
     r"unknown variable 'AGE'"),
    ("formula syntax", lambda d, des: lsa.lm(des, "PVLIT ~ AGE_R +"), lsa.FormulaError, r"cannot parse .*'AGE_R \+'"),
    ("formula not a string", lambda d, des: lsa.lm(des, ["PVLIT", "AGE_R"]), lsa.FormulaError, "formula must be a string"),
    # inf/-inf: an error naming the term or column and the count (the rule of lsa.validation)
    ("log(0) (lm)", lambda d, des: lsa.lm(des, "PVLIT ~ np.log(EARNHR)"), lsa.DesignError,
     r"'np\.log\(EARNHR\)' has \d+ infinite"),
    ("log(0) (logit)", lambda d, des: lsa.logit(des, "HIGH ~ np.log(EARNHR)"), lsa.DesignError,
     r"'np\.log\(EARNHR\)' has \d+ infinite"),
    ("log(0) (robust)", _rob(lsa.robust.clustered, "PVLIT1 ~ np.log(EARNHR)"), lsa.DesignError,
     r"'np\.log\(EARNHR\)' has \d+ infinite"),
    ("log(0) (mixed)", lambda d, des: lsa.mixed("PVLIT1 ~ np.log(EARNHR) + (1|CL)", d), lsa.DesignError,
     r"'np\.log\(EARNHR\)' has \d+ infinite"),
    ("log(0) response (lm)", lambda d, des: lsa.lm(des, "np.log(EARNHR) ~ AGE_R"), lsa.DesignError,
     r"'np\.log\(EARNHR\)' has \d+ infinite"),
    ("log(0) response (robust)", _rob(lsa.robust.clustered, "np.log(EARNHR) ~ AGE_R"), lsa.DesignError,
     r"'np\.log\(EARNHR\)' has \d+ infinite"),
    ("1/0 in an interaction", lambda d, des: lsa.lm(des, "PVLIT ~ AGE_R:I(1 / EARNHR)"), lsa.DesignError,
     r"'AGE_R:I\(1 / EARNHR\)' has \d+ infinite"),
    ("log of a negative", lambda d, des: lsa.lm(des, "PVLIT ~ np.log(NEG)"), lsa.DesignError,
     r"'np\.log\(NEG\)' is NaN in \d+ row"),
    ("inf in a predictor column", lambda d, des: lsa.lm(lsa.SurveyDesign.from_study(
        "PIAAC", 2012, d.assign(AGE_R=d["AGE_R"].where(d["AGE_R"] > 17, np.inf))), "PVLIT ~ AGE_R"),
     lsa.DesignError, r"'AGE_R' has \d+ infinite"),
    ("inf in a PV", lambda d, des: lsa.lm(lsa.SurveyDesign.from_study(
        "PIAAC", 2012, d.assign(PVLIT3=d["PVLIT3"].where(d["AGE_R"] > 17, -np.inf))), "PVLIT ~ AGE_R"),
     lsa.DesignError, r"'PVLIT3' has \d+ infinite"),
]


@pytest.mark.filterwarnings("ignore::lsa.errors.MissingDataWarning")
@pytest.mark.parametrize("case, call, exc, match", _FM_CASES, ids=[c[0] for c in _FM_CASES])
def test_formula_bad_input(fm_piaac, case, call, exc, match):
    d, des = fm_piaac
    with pytest.raises(exc, match=match) as info:
        call(d, des)
    assert "\n" not in str(info.value), str(info.value)      # one line, no parser frames
    assert info.value.__cause__ is None


# --- imputation ---------------------------------------------------------------------------
# lsa.impute: impute, diagnose/missing_share/suggested_m/pattern_svg, rhat/convergence_summary/
# trace_svg, from_long/Imputed.from_frames, analyze and pool. Every case is refused before any
# imputation work starts; the data are tiny (20 schools x 10 students).

_li = lsa.impute


def _im_frame():
    """20 clusters x 10 rows: x (20 % missing), categorical g, level-2 z, complete k, weight w, 2 PVs."""
    rng = np.random.default_rng(10)
    cl = np.repeat(np.arange(20), 10)
    d = pd.DataFrame({"school": cl, "x": rng.normal(size=200), "g": pd.Categorical(rng.choice(list("abc"), 200)),
                      "z": rng.normal(size=20)[cl], "k": rng.normal(size=200), "w": rng.uniform(0.5, 2, 200),
                      "pv1y": rng.normal(size=200), "pv2y": rng.normal(size=200)})
    d.loc[rng.random(200) < 0.2, "x"] = np.nan
    d.loc[d.school.isin([3, 7]), "z"] = np.nan
    return d


_IM_KW = dict(m=1, cluster="school", weight="w", variables=["x", "g", "k"], iterations=1, progress=False)


def _im(d, **kw):
    return _li.impute(d, **{**_IM_KW, **kw})


def _im_dup(d):
    x = d.copy()
    x.columns = list(x.columns[:-1]) + ["x"]
    return x


def _im_set(d, column, rows, value):
    x = d.copy()
    x[column] = x[column].astype(float)
    x.loc[x.index[rows], column] = value
    return x


def _im_text(d, column):
    return d.assign(**{column: d[column].map("{:.3f}".format, na_action="ignore").astype(object)})


def _im_trace():
    vals = np.random.default_rng(0).normal(size=(4, 6, 1, 2))
    return _li.Trace(vals, ["x"], ["x"], np.array([1, 1, 2, 2]), np.array([1, 2, 1, 2]))


class _ImFit:
    """A fitted result as pool() reads it: params and cov_params()."""

    params = pd.Series([1.0, 2.0], index=["a", "b"])

    def cov_params(self):
        return np.eye(2)


def _im_long(d, imp):
    return pd.concat([d.assign(**{".imp": i}) for i in imp], ignore_index=True)


_IM_CASES = [
    # impute: the data and column arguments
    ("data not a DataFrame", lambda d: _im(d.to_numpy()), lsa.DesignError, "data must be a pandas DataFrame or an "
     "lsa.SurveyDesign; got ndarray"),
    ("duplicate column names", lambda d: _im(_im_dup(d)), lsa.DesignError, r"data has duplicate column names \['x'\]"),
    ("empty data", lambda d: _im(d.iloc[:0]), lsa.DesignError, "data has no rows"),
    ("unknown cluster", lambda d: _im(d, cluster="schol"), lsa.DesignError, r"cluster: column\(s\) \['schol'\]"),
    ("cluster given as a list", lambda d: _im(d, cluster=["school"]), lsa.LsaError, r"cluster must be one column"),
    ("unknown weight", lambda d: _im(d, weight="wt"), lsa.DesignError, r"weight: column\(s\) \['wt'\]"),
    ("unknown variable", lambda d: _im(d, variables=["x", "nope"]), lsa.DesignError,
     r"variables: column\(s\) \['nope'\]"),
    ("unknown level-2 variable", lambda d: _im(d, level2=["zz"]), lsa.DesignError, r"level2: column\(s\) \['zz'\]"),
    ("unknown PV column", lambda d: _im(d, pvs=["pv1y", "pv9y"]), lsa.DesignError, r"pvs: column\(s\) \['pv9y'\]"),
    ("PV set not in the design", lambda d: _im(lsa.SurveyDesign(d, ids={"school": "school"}, weights="w",
                                                                pvs={"Y": ["pv1y", "pv2y"]}), pvs="Q"),
     lsa.DesignError, r"pvs='Q' is not a PV set of the design \(PV sets: \['Y'\]\)"),
    ("pvs an integer", lambda d: _im(d, pvs=3), lsa.DesignError, r"pvs must be a list of plausible-value columns.*"
     r"got 3 \(int\)"),
    ("pvs repeated", lambda d: _im(d, pvs=["pv1y", "pv1y"]), lsa.LsaError, r"pvs names \['pv1y'\] more than once"),
    ("cluster id as a variable", lambda d: _im(d, variables=["x", "school"]), lsa.DesignError,
     "variables: 'school' is the cluster id"),
    ("variable with every value missing", lambda d: _im(d.assign(x=np.nan)), lsa.DesignError,
     r"\['x'\] are entirely missing"),
    ("datetime variable", lambda d: _im(d.assign(t=pd.Timestamp("2020-01-01")), variables=["x", "t"]),
     lsa.DesignError, "variables: variable 't' has dtype datetime64"),
    # impute: non-finite values (NaN is imputed; inf is an error naming the column and the count)
    ("inf in a variable to impute", lambda d: _im(_im_set(d, "x", [0, 5, 9], np.inf)), lsa.DesignError,
     r"variables: column 'x' has 3 infinite value\(s\)"),
    ("-inf in a complete predictor", lambda d: _im(_im_set(d, "k", [4], -np.inf)), lsa.DesignError,
     r"variables: column 'k' has 1 infinite value\(s\)"),
    ("-inf in a level-2 variable", lambda d: _im(_im_set(d, "z", list(range(10, 20)), -np.inf), level2=["z"]),
     lsa.DesignError, r"level2: column 'z' has 10 infinite value\(s\)"),
    ("inf in a PV", lambda d: _im(_im_set(d, "pv2y", [1], np.inf), pvs=["pv1y", "pv2y"]), lsa.DesignError,
     r"pvs: column 'pv2y' has 1 infinite value\(s\)"),
    ("inf in the weight", lambda d: _im(_im_set(d, "w", [2, 3], np.inf)), lsa.DesignError,
     r"weight: column 'w' has 2 infinite value\(s\)"),
    ("negative weight", lambda d: _im(_im_set(d, "w", [6], -1.0)), lsa.DesignError,
     r"weight 'w' has 1 negative value\(s\) \(rows \[6\]\)"),
    # impute: text
    ("number stored as text in a variable", lambda d: _im(_im_text(d, "x")), lsa.DesignError,
     r"variables: column 'x' holds numbers stored as text.*pd\.to_numeric\(df\['x'\]\)"),
    ("number stored as text in the weight", lambda d: _im(_im_text(d, "w")), lsa.DesignError,
     r"weight: column 'w' holds numbers stored as text.*pd\.to_numeric"),
    ("number stored as text in a PV", lambda d: _im(_im_text(d, "pv1y"), pvs=["pv1y"]), lsa.DesignError,
     r"pvs: column 'pv1y' holds numbers stored as text"),
    ("categorical with too many levels", lambda d: _im(d.assign(sid=[f"s{i}" for i in range(200)]),
                                                       variables=["x", "sid"]),
     lsa.DesignError, r"variables: categorical variable 'sid' has 200 levels for 200 rows \(at most 20"),
    ("id picked by the default variables", lambda d: _im(d.assign(sid=[f"s{i}" for i in range(200)]).drop(
        columns=["pv1y", "pv2y"]), variables=None), lsa.DesignError,
     r"variables \(default: every column.*'sid' has 200 levels"),
    # impute: scalar arguments
    ("m as a string", lambda d: _im(d, m="2"), lsa.LsaError, r"m must be a positive integer; got '2' \(str\)"),
    ("m as a boolean", lambda d: _im(d, m=True), lsa.LsaError, r"m must be a positive integer; got True"),
    ("m zero", lambda d: _im(d, m=0), lsa.LsaError, r"m must be a positive integer; got 0"),
    ("iterations as a string", lambda d: _im(d, iterations="5"), lsa.LsaError,
     r"iterations must be a positive integer; got '5'"),
    ("iterations a float", lambda d: _im(d, iterations=2.5), lsa.LsaError, r"iterations must be a positive integer"),
    ("seed as a string", lambda d: _im(d, seed="1"), lsa.LsaError, r"seed must be None or a non-negative integer; "
     r"got '1' \(str\)"),
    ("seed a float", lambda d: _im(d, seed=1.5), lsa.LsaError, r"seed must be None or a non-negative integer; got 1.5"),
    ("seed negative", lambda d: _im(d, seed=-3), lsa.LsaError, r"seed must be None or a non-negative integer; got -3"),
    ("unknown numeric method", lambda d: _im(d, numeric="cart"), lsa.LsaError, r"numeric must be 'norm'.*got 'cart'"),
    ("n_jobs as a string", lambda d: _im(d, n_jobs="2"), lsa.LsaError, r"n_jobs must be an integer; got '2'"),
    ("n_jobs zero", lambda d: _im(d, n_jobs=0), lsa.LsaError, r"n_jobs must be a positive number"),
    ("bootstrap as a string", lambda d: _im(d, bootstrap="no"), lsa.LsaError,
     r"bootstrap must be True or False; got 'no'"),
    ("mean_match_candidates as a string", lambda d: _im(d, mean_match_candidates="5"), lsa.LsaError,
     r"mean_match_candidates must be an integer; got '5'"),
    ("misspelt LightGBM parameter", lambda d: _im(d, lgb_params={"num_leavs": 4}), lsa.LsaError,
     r"lgb_params: \['num_leavs'\] not LightGBM parameter.*num_leaves"),
    ("LightGBM parameters not a dict", lambda d: _im(d, lgb_params_level2=[("num_leaves", 4)]), lsa.LsaError,
     r"lgb_params_level2 must be a dict"),
    ("pv_column not a string", lambda d: _im(d, pvs=["pv1y"], pv_column=1), lsa.LsaError,
     r"pv_column must be one column .*got 1 \(int\)"),
    # diagnostics
    ("diagnose: data not a DataFrame", lambda d: _li.diagnose(d.to_dict()), lsa.DesignError,
     "data must be a pandas DataFrame or an lsa.SurveyDesign; got dict"),
    ("diagnose: duplicate column names", lambda d: _li.diagnose(_im_dup(d)), lsa.DesignError,
     r"data has duplicate column names \['x'\]"),
    ("diagnose: empty data", lambda d: _li.diagnose(d.iloc[:0]), lsa.DesignError, "data has no rows"),
    ("diagnose: unknown column", lambda d: _li.diagnose(d, columns=["x", "xx"]), lsa.DesignError,
     r"columns: column\(s\) \['xx'\]"),
    ("diagnose: unknown cluster", lambda d: _li.diagnose(d, cluster="schools"), lsa.DesignError,
     r"cluster: column\(s\) \['schools'\]"),
    ("missing_share: columns an integer", lambda d: _li.missing_share(d, columns=3), lsa.LsaError,
     r"columns must be a column name or a list of column names; got 3"),
    ("suggested_m: share as a string", lambda d: _li.suggested_m("0.5"), lsa.LsaError,
     r"complete_share must be a finite number; got '0.5'"),
    ("suggested_m: share above 1", lambda d: _li.suggested_m(40), lsa.LsaError, r"complete_share must be >= 0 and "
     r"<= 1; got 40"),
    ("pattern_svg: not a pattern table", lambda d: _li.pattern_svg(d.isna().to_numpy()), lsa.LsaError,
     r"patterns must be the table of MissingReport\.patterns.*got ndarray"),
    # convergence diagnostics
    ("rhat: no trace (user imputations)", lambda d: _li.rhat(None), lsa.LsaError,
     r"trace must be an lsa\.impute\.Trace .*from_long.*got NoneType"),
    ("rhat: window as a string", lambda d: _li.rhat(_im_trace(), window="0.5"), lsa.LsaError,
     r"window must be a finite number; got '0\.5'"),
    ("rhat: window zero", lambda d: _li.rhat(_im_trace(), window=0), lsa.LsaError, r"window must be > 0"),
    ("convergence_summary: threshold below 1", lambda d: _li.convergence_summary(_im_trace(), threshold=0.5),
     lsa.LsaError, r"threshold must be >= 1; got 0\.5"),
    ("trace_svg: unknown series", lambda d: _li.trace_svg(_im_trace(), series=["y"]), lsa.LsaError,
     r"unknown trace series \['y'\]"),
    ("trace_svg: pv as a string", lambda d: _li.trace_svg(_im_trace(), pv="1"), lsa.LsaError,
     r"pv must be an integer; got '1'"),
    # completed data from elsewhere
    ("from_long: not a DataFrame", lambda d: _li.from_long(d.to_numpy()), lsa.DesignError,
     "df must be a pandas DataFrame; got ndarray"),
    ("from_long: duplicate column names", lambda d: _li.from_long(_im_long(_im_dup(d), [1, 2])), lsa.DesignError,
     r"df has duplicate column names \['x'\]"),
    ("from_long: unknown index column", lambda d: _li.from_long(_im_long(d, [1, 2]), imp=".implist"), lsa.LsaError,
     r"imp: index column '\.implist' is not in the data"),
    ("from_long: index column as text", lambda d: _li.from_long(_im_long(d, ["1", "2"])), lsa.LsaError,
     r"imp: index column '\.imp' must hold imputation/PV numbers"),
    ("from_long: non-integer index", lambda d: _li.from_long(_im_long(d, [1.0, 1.5])), lsa.LsaError,
     r"imp: index column '\.imp' holds non-integer numbers \(e\.g\. \[1\.5"),
    ("from_long: original as a string", lambda d: _li.from_long(_im_long(d, [1, 2]), original="0"), lsa.LsaError,
     r"original must be None or the imputation number.*got '0'"),
    ("from_long: only the original data", lambda d: _li.from_long(_im_long(d, [0])), lsa.LsaError,
     r"df holds only the original data \(\.imp == 0\)"),
    ("from_frames: one DataFrame", lambda d: _li.Imputed.from_frames(d), lsa.LsaError,
     "frames must be a list of completed pandas DataFrames; got one DataFrame"),
    ("from_frames: duplicate column names", lambda d: _li.Imputed.from_frames([_im_dup(d)] * 2), lsa.DesignError,
     r"completed data set 1 has duplicate column names \['x'\]"),
    ("from_frames: empty data sets", lambda d: _li.Imputed.from_frames([d.iloc[:0]] * 2), lsa.DesignError,
     "completed data set 1 has no rows"),
    # analysis and pooling
    ("analyze: one DataFrame", lambda d: _li.analyze(d, "pv1y ~ x + (1|school)"), lsa.LsaError,
     "imputed must be an lsa.impute.Imputed or a list of completed DataFrames; got one DataFrame"),
    ("analyze: unknown weight", lambda d: _li.analyze([d, d], "pv1y ~ k + (1|school)", weights=["wt"]),
     lsa.DesignError, r"weights: column\(s\) \['wt'\]"),
    ("analyze: n_jobs as a string", lambda d: _li.analyze([d, d], "pv1y ~ k + (1|school)", n_jobs="2"),
     lsa.LsaError, r"n_jobs must be an integer; got '2'"),
    ("pool: a string", lambda d: _li.pool("fits"), lsa.LsaError, r"results must be the Analyses.*got str"),
    ("pool: unknown method", lambda d: _li.pool([_ImFit()] * 2, method="flatt"), lsa.LsaError,
     r"method must be 'flat' or 'nested'; got 'flatt'"),
    ("pool: negative df_complete", lambda d: _li.pool([_ImFit()] * 2, df_complete=-5), lsa.LsaError,
     r"df_complete must be > 0; got -5"),
    ("pool: df_complete as a string", lambda d: _li.pool([_ImFit()] * 2, df_complete="5"), lsa.LsaError,
     r"df_complete must be 'mixpv', a number or None; got '5'"),
    ("pool: pv_index of the wrong length", lambda d: _li.pool([_ImFit()] * 4, method="nested", pv_index=[1, 2],
                                                               imp_index=[1, 2, 1, 2]),
     lsa.LsaError, r"pv_index needs one entry per result \(4\)"),
]


@pytest.fixture(scope="module")
def im_frame():
    return _im_frame()


@pytest.mark.filterwarnings("ignore::lsa.errors.MissingDataWarning")
@pytest.mark.parametrize("case, call, exc, match", _IM_CASES, ids=[c[0] for c in _IM_CASES])
def test_impute_bad_input(im_frame, case, call, exc, match):
    d = im_frame.copy()
    with pytest.raises(exc, match=match) as info:
        call(d)
    assert "\n" not in str(info.value), str(info.value)
    assert im_frame.equals(_im_frame())                      # the user's data are never modified


def test_impute_nan_is_imputed_text_categories_kept():
    """The other half of the non-finite rule: NaN is the missing value that gets imputed; a text
    column of categories (not numbers) is converted to a categorical and the conversion recorded;
    a single name is accepted for ``variables``."""
    d = _im_frame()
    d["c"] = pd.Series(np.where(d["k"] > 0, "hi", "lo"), dtype=object).where(d.index % 7 != 0)
    imp = _li.impute(d, m=1, cluster="school", weight="w", variables=["x", "c"], level2="z", seed=1, iterations=1,
                     progress=False)
    out = imp[0]
    assert out[["x", "c", "z"]].notna().all().all()
    assert imp.info["converted_to_category"] == ["c"] and isinstance(out["c"].dtype, pd.CategoricalDtype)
    assert int(d["x"].isna().sum()) > 0 and set(imp.imputed_variables) == {"x", "c", "z"}


# --- model inputs ---------------------------------------------------------------------------------
# lsa.model_inputs, the seam every model reads its data through (lsa/model_inputs.py)

def _mi_data():
    rng = np.random.default_rng(11)
    d = pd.DataFrame({"g": np.repeat(np.arange(8), 6), "x": rng.normal(size=48),
                      "f": np.tile(["a", "b"], 24), "w": 1.0 + rng.uniform(size=48), "wg": 2.0})
    d["y"] = d.x + rng.normal(size=48)
    return d, lsa.SurveyDesign(d, ids={"school": "g"}, weights={"student": "w", "school": "wg"})


_MI_CASES = [
    ("not a frame", lambda d, des: lsa.model_inputs([1, 2, 3], "y ~ x"), lsa.DesignError,
     "data must be a DataFrame or an lsa.SurveyDesign; got list"),
    ("design and weights=", lambda d, des: lsa.model_inputs(des, "y ~ x", weights="w"), lsa.DesignError,
     "weights through the design, not both"),
    ("weights a number", lambda d, des: lsa.model_inputs(d, "y ~ x", weights=3), lsa.DesignError,
     "weights must be a weight column name .*got 3"),
    ("weights column missing", lambda d, des: lsa.model_inputs(d, "y ~ x", weights=["w", "nope"]),
     lsa.DesignError, "weights: column.*'nope'"),
    ("conditional_weights not bool", lambda d, des: lsa.model_inputs(d, "y ~ x", weights="w", conditional_weights="yes"),
     lsa.DesignError, "conditional_weights must be True or False; got 'yes'"),
    ("clustered: design and weights=", lambda d, des: lsa.robust.clustered("y ~ x", des, weights="w"),
     lsa.DesignError, "weights through the design, not both"),
    ("gee: weighted design", lambda d, des: lsa.robust.gee("y ~ x", des), lsa.DesignError,
     r"data: gee fits an unweighted GEE.*\['wg', 'w'\]|data: gee fits an unweighted GEE.*\['w', 'wg'\]"),
    ("mixed: category absent from the domain", lambda d, des: lsa.mixed("y ~ x + f + (1|g)", des.subset(d.f.eq("a").to_numpy())),
     lsa.EstimationError, r"no weighted variation in \['fb'\]"),
    ("mixed: domain without data", lambda d, des: lsa.mixed("y ~ x + (1|g)", des.with_data(d.assign(x=np.where(d.f == "a", np.nan, d.x))).subset(d.f.eq("a").to_numpy())),
     lsa.DesignError, "no row of the domain"),
    # mix_pv follows the same domain rule (rows outside kept with weight 0)
    ("mix_pv: category absent from the domain",
     lambda d, des: lsa.mix_pv("y + y2 ~ x + f + (1|g)", des.with_data(d.assign(y2=d.y + 1)).subset(d.f.eq("a").to_numpy())),
     lsa.EstimationError, r"no weighted variation in \['fb'\]"),
    ("mix_pv: domain without data",
     lambda d, des: lsa.mix_pv("y + y2 ~ x + (1|g)", des.with_data(d.assign(y2=d.y + 1, x=np.where(d.f == "a", np.nan, d.x))).subset(d.f.eq("a").to_numpy())),
     lsa.DesignError, "no row of the domain"),
]


@pytest.mark.filterwarnings("ignore::lsa.errors.MissingDataWarning")
@pytest.mark.parametrize("case, call, exc, match", _MI_CASES, ids=[c[0] for c in _MI_CASES])
def test_model_inputs_bad_input(case, call, exc, match):
    d, des = _mi_data()
    with pytest.raises(exc, match=match) as info:
        call(d, des)
    assert "\n" not in str(info.value), str(info.value)


# --- international comparisons: average, compare, trend (issue 12 items 2-4) ---------------------

def _ic_design():
    rng = np.random.default_rng(12)
    n = 120
    d = pd.DataFrame({"CNT": np.repeat(["AAA", "BBB", "CCC"], n // 3), "w": rng.uniform(1, 3, n),
                      "g": rng.integers(1, 3, n)})
    for m in (1, 2):
        d[f"PV{m}MATH"] = rng.normal(500, 100, n)
        d[f"PV{m}READ"] = rng.normal(480, 90, n)
    reps = []
    for r in range(1, 5):
        d[f"r{r}"] = d["w"] * np.where(rng.integers(0, 2, n) == 1, 1.5, 0.5)
        reps.append(f"r{r}")
    return lsa.SurveyDesign(d, weights={"student": "w"}, pvs={"MATH": ["PV1MATH", "PV2MATH"],
                            "READ": ["PV1READ", "PV2READ"]}, replicates=lsa.Replicates.fay(reps, k=0.5))


def _ic_one(des, cnt, var="MATH"):
    return lsa.mean(des.subset((des.data["CNT"] == cnt).to_numpy()), var)


_IC_CASES = [
    ("result not a result", lambda des, m: lsa.compare(m.tidy()), lsa.LsaError, "result must be a result of a design-based"),
    ("over not a group", lambda des, m: lsa.average(lsa.mean(des, "MATH")), lsa.LsaError, "over='CNT' is not a group"),
    ("different statistics", lambda des, m: lsa.compare({"AAA": _ic_one(des, "AAA"), "BBB": lsa.sd(des, "MATH")}),
     lsa.LsaError, r"result: the result for 'BBB' is not comparable .*statistic"),
    ("different PV sets", lambda des, m: lsa.average({"AAA": _ic_one(des, "AAA"), "BBB": _ic_one(des, "BBB", "READ")}),
     lsa.LsaError, r"result: the result for 'BBB' is not comparable .*variables \['READ'\]"),
    ("trend: different statistics", lambda des, m: lsa.trend(m, lsa.sd(des, "MATH", by="CNT"), linking_error=1),
     lsa.LsaError, "trend: result_now is 'Mean' and result_then 'Standard deviation'"),
    ("trend: different PV sets", lambda des, m: lsa.trend(m, lsa.mean(des, "READ", by="CNT"), linking_error=1),
     lsa.LsaError, r"trend: result_now is of \['MATH'\] and result_then of \['READ'\]"),
    ("trend: different terms", lambda des, m: lsa.trend(lsa.quantiles(des, "MATH", probs=[0.5], by="CNT"),
                                                         lsa.quantiles(des, "MATH", probs=[0.25], by="CNT"), linking_error=1),
     lsa.LsaError, "trend: the terms differ"),
    ("trend: no linking error in the dictionary", lambda des, m: lsa.trend(m, m, study="pisa", cycles=(2000, 2018)),
     lsa.StudyError, r"no linking error for pisa MATH between 2000 and 2018 in lsa/data_dictionaries/pisa.yaml.*linking_error="),
    ("trend: nothing to take the linking error from", lambda des, m: lsa.trend(m, m), lsa.LsaError,
     "give linking_error="),
    ("trend: scale LE on an SD", lambda des, m: lsa.trend(lsa.sd(des, "MATH", by="CNT"), lsa.sd(des, "MATH", by="CNT"),
                                                             linking_error=2.0),
     lsa.LsaError, "does not apply to 'Standard deviation'.*linking_error="),
    ("trend: mapping without the term", lambda des, m: lsa.trend(m, m, linking_error={"READ": 1.0}), lsa.LsaError,
     "linking_error has no value for term 'MATH'"),
    ("trend: negative linking error", lambda des, m: lsa.trend(m, m, linking_error=-1.0), lsa.LsaError,
     "linking_error must be >= 0"),
    ("trend: linking error as text", lambda des, m: lsa.trend(m, m, linking_error="2.3"), lsa.LsaError,
     "linking_error must be a number"),
    ("average: unknown countries", lambda des, m: lsa.average(m, countries=["AAA", "ZZZ"]), lsa.LsaError,
     r"countries: \['ZZZ'\] not among the CNT values"),
    ("average: one country", lambda des, m: lsa.average(m, countries=["AAA"]), lsa.LsaError,
     "countries: an average needs at least two countries"),
    ("average: bad method", lambda des, m: lsa.average(m, method="mean"), lsa.LsaError, "method must be one of"),
    ("average: label is a country", lambda des, m: lsa.average(m, label="AAA"), lsa.LsaError, "label='AAA' is already"),
    ("average: pooled without design", lambda des, m: lsa.average(m, method="pooled"), lsa.LsaError,
     "needs design="),
    ("average: pooled without estimator", lambda des, m: lsa.average(m, method="pooled", design=des), lsa.LsaError,
     "needs estimator="),
    ("average: pooled with other terms", lambda des, m: lsa.average(m, method="pooled", design=des,
                                                                    estimator=lambda d: lsa.mean(d, "READ")),
     lsa.LsaError, "the pooled estimate's terms"),
    ("compare: bad adjust", lambda des, m: lsa.compare(m, adjust="sidak"), lsa.LsaError, "adjust must be one of"),
    ("compare: bad alpha", lambda des, m: lsa.compare(m, alpha=5), lsa.LsaError, "alpha must be"),
    ("compare: unknown reference", lambda des, m: lsa.compare(m, against="ZZZ"), lsa.LsaError,
     r"against: \['ZZZ'\] not among the CNT values"),
    ("compare: min_obs as text", lambda des, m: lsa.compare(m, min_obs="30"), lsa.LsaError, "min_obs must be an integer"),
]


@pytest.mark.parametrize("case, call, exc, match", _IC_CASES, ids=[c[0] for c in _IC_CASES])
def test_international_bad_input(case, call, exc, match):
    des = _ic_design()
    with pytest.raises(exc, match=match) as info:
        call(des, lsa.mean(des, "MATH", by="CNT"))
    assert "\n" not in str(info.value), str(info.value)


# --- multi-country designs: replicates nested within country (issue 12 item 1) ------------------
def _mc_frame() -> pd.DataFrame:
    """Two countries whose zones 1-4 restart in each; school 3 of country B has a row marked A
    in ``BADCNT`` (a country column that is not constant within schools)."""
    rng = np.random.default_rng(12)
    n = 64
    df = pd.DataFrame({"CNT": np.repeat(["A", "B"], n // 2), "SCH": np.repeat(np.arange(16), 4),
                       "JKZONE": np.tile(np.repeat([1, 2, 3, 4], 8), 2), "JKREP": np.tile([0, 1], n // 2),
                       "W": rng.uniform(1, 2, n), "y": rng.normal(size=n)})
    df["BADCNT"] = df["CNT"].where(df.index != 45, "A")
    df["NACNT"] = df["CNT"].where(df.index != 3)
    for r in (1, 2):
        df[f"R{r}"] = df["W"] * rng.uniform(0.5, 1.5, n)
    return df


def _mc_design(rep, ids=None):
    return lsa.SurveyDesign(_mc_frame(), ids=ids, weights={"student": "W"} if ids else "W", replicates=rep)


_MC_ZONES = lsa.Replicates.jk2(zone="JKZONE", rep="JKREP")
_MC_CASES = [
    ("over column not constant within zones",
     lambda: lsa.multicountry.check_constant_within_zones(_mc_design(_MC_ZONES), "CNT"), lsa.DesignError,
     r"over: column 'CNT' is not constant within the design's strata \(replicate zones\).*within\('CNT'\)"),
    ("over column absent", lambda: lsa.multicountry.check_constant_within_zones(_mc_design(_MC_ZONES), "CNTRY"),
     lsa.DesignError, r"over: column\(s\) \['CNTRY'\] not in the data"),
    ("within: not a column name", lambda: _MC_ZONES.within(3), lsa.DesignError,
     "Replicates.within: country must be the name of the country column.*got 3"),
    ("within: column absent", lambda: _mc_design(_MC_ZONES.within("CNTRY")), lsa.DesignError,
     r"replicate columns missing from the data: \['CNTRY'\]"),
    ("within: country missing in a row", lambda: _mc_design(_MC_ZONES.within("NACNT")).replicate_weights(),
     lsa.DesignError, r"country column 'NACNT' .* has 1 missing values \(rows \[3\]\)"),
    ("within: country varies within a school", lambda: _mc_design(_MC_ZONES.within("BADCNT"), ids={"school": "SCH"}),
     lsa.DesignError, r"nested within 'BADCNT', but 'BADCNT' is not constant within 1 school units of 'SCH'"),
    ("by_country: a country without a scheme",
     lambda: _mc_design(lsa.Replicates.by_country("CNT", {"A": lsa.Replicates.jk1(["R1", "R2"])})).n_replicates,
     lsa.DesignError, r"no replicate scheme for CNT = \['B'\]"),
    ("by_country: schemes not a mapping", lambda: lsa.Replicates.by_country("CNT", ["R1", "R2"]), lsa.DesignError,
     "Replicates.by_country: schemes must be a non-empty mapping"),
    ("by_country: a scheme nested again",
     lambda: lsa.Replicates.by_country("CNT", {"A": _MC_ZONES.within("CNT")}), lsa.DesignError,
     "the scheme for CNT = 'A' must be a plain lsa.Replicates scheme"),
    ("within: a by_country scheme",
     lambda: lsa.Replicates.by_country("CNT", {"A": lsa.Replicates.jk1(["R1", "R2"])}).within("X"), lsa.DesignError,
     "already nested within 'CNT'"),
    ("PIAAC: variance method varies within a country", lambda: lsa.SurveyDesign.from_study("piaac", 2012, pd.concat(
        [lsa.datasets.load("piaac2012_bel_flanders").head(20), lsa.datasets.load("piaac2012_rus").head(20),
         lsa.datasets.load("piaac2012_rus").tail(20).assign(VEMETHOD="JK1")])),
     lsa.DesignError, r"PIAAC data in CNTRYID = 'Russian Federation' mix variance methods \['JK1', 'JK2'\] \(VEMETHOD\)"),
]


@pytest.mark.parametrize("case, call, exc, match", _MC_CASES, ids=[c[0] for c in _MC_CASES])
def test_multicountry_bad_input(case, call, exc, match):
    with pytest.raises(exc, match=match) as info:
        call()
    assert "\n" not in str(info.value), str(info.value)


# --- issue 12 items 6-7: reporting flags, Excel, exhibits and league tables -------------------

def _rt_design():
    rng = np.random.default_rng(4)
    n = 60
    d = pd.DataFrame({"CNT": np.repeat(["AAA", "BBB"], n // 2), "sch": np.arange(n) // 6, "w": rng.uniform(1, 2, n),
                      "g": rng.integers(1, 3, n), "y": rng.normal(size=n)})
    for r in range(4):
        d[f"r{r}"] = d["w"] * np.where(rng.integers(0, 2, n) == 1, 1.5, 0.5)
    return lsa.SurveyDesign(d, ids={"school": "sch"}, weights={"student": "w"},
                            replicates=lsa.Replicates.fay([f"r{r}" for r in range(4)], k=0.5))


def _rt_league(**kw):
    from lsa.report.exhibits import league_table

    est = pd.DataFrame({"CNT": ["AAA", "BBB"], "term": "y", "estimate": [1.0, 2.0], "std_error": [0.1, 0.2]})
    return league_table(est, **kw)


_RT_CASES = [
    ("to_excel: not .xlsx", lambda des, tmp: lsa.mean(des, "y").to_excel(tmp / "out.csv"), lsa.LsaError,
     r"path must end in \.xlsx.*out\.csv"),
    ("to_excel: folder missing", lambda des, tmp: lsa.mean(des, "y").to_excel(tmp / "no" / "o.xlsx"), lsa.LsaError,
     r"cannot write the workbook .*o\.xlsx: its folder .*no does not exist"),
    ("to_excel: path is a folder", lambda des, tmp: lsa.mean(des, "y").to_excel(tmp / "d.xlsx"), lsa.LsaError,
     r"cannot write the workbook .*d\.xlsx: it is a folder"),
    ("to_excel: path not a path", lambda des, tmp: lsa.mean(des, "y").to_excel(3), lsa.LsaError,
     "path must be a file path ending in .xlsx; got int 3"),
    ("exhibit: unknown group", lambda des, tmp: __import__("lsa.report.exhibits").report.exhibits.exhibit(
        des, "y", "gender"), lsa.DesignError, r"group: column\(s\) \['gender'\] not in the data"),
    ("exhibit: unknown over", lambda des, tmp: __import__("lsa.report.exhibits").report.exhibits.exhibit(
        des, "y", "g", over="cnt"), lsa.DesignError, r"over: column\(s\) \['cnt'\] not in the data"),
    ("exhibit: bad layout", lambda des, tmp: __import__("lsa.report.exhibits").report.exhibits.exhibit(
        des, "y", "g", layout="tall"), lsa.LsaError, "layout must be one of"),
    ("league: unknown term", lambda des, tmp: _rt_league(term="x"), lsa.LsaError,
     "league_table: term 'x' is not in the estimates"),
    ("league: over not a column", lambda des, tmp: _rt_league(over="IDCNTRY"), lsa.LsaError,
     r"estimates lacks the column\(s\) \['IDCNTRY'\]"),
    ("league: bad alpha", lambda des, tmp: _rt_league(alpha=1.5), lsa.LsaError, "alpha"),
    ("league: ambiguous reference", lambda des, tmp: _rt_league(comparison=pd.DataFrame(
        {"term": "y", "group": ["AAA", "BBB"], "reference": ["BBB", "AAA"], "estimate": [-1.0, 1.0],
         "std_error": 0.2, "p_value": 0.01})), lsa.LsaError, r"comparison: give reference= \(one of \['BBB', 'AAA'\]\)"),
]


@pytest.mark.parametrize("case, call, exc, match", _RT_CASES, ids=[c[0] for c in _RT_CASES])
def test_reporting_tables_bad_input(case, call, exc, match, tmp_path):
    (tmp_path / "d.xlsx").mkdir()
    with pytest.raises(exc, match=match) as info:
        call(_rt_design(), tmp_path)
    assert "\n" not in str(info.value), str(info.value)


# --- contrasts within one sample (issue 12 item 5) -------------------------------------------------
# lsa.gap(statistic=...), lsa.group_wald_test, lsa.contrast / DesignResult.contrast and
# DesignResult.wald_test, on the bundled PISA 2012 USA design of the first section.

def _ct_fit(des):
    return lsa.lm(des, "pv1math ~ escs + st04q01")


_CT_CASES = [
    ("gap: unknown statistic", lambda d, des: lsa.gap(des, "MATH", between="st04q01", statistic="median"),
     lsa.LsaError, r"statistic must be one of \['mean', .*got 'median'"),
    ("gap: formula for a mean", lambda d, des: lsa.gap(des, "MATH ~ escs", between="st04q01"), lsa.FormulaError,
     r"variable: a formula \('MATH ~ escs'\) is for statistic='lm' or 'logit'; got statistic='mean'"),
    ("gap: lm without a formula", lambda d, des: lsa.gap(des, "MATH", between="st04q01", statistic="lm"),
     lsa.FormulaError, r"variable: statistic='lm' needs a formula .*got 'MATH'"),
    ("gap: probs for a mean", lambda d, des: lsa.gap(des, "MATH", between="st04q01", probs=[0.5]), lsa.DesignError,
     r"probs= is an option of statistic='quantiles'; got statistic='mean'"),
    ("gap: cuts for quantiles", lambda d, des: lsa.gap(des, "MATH", between="st04q01", statistic="quantiles",
                                                        cuts=[400]),
     lsa.DesignError, r"cuts= is an option of statistic='benchmarks'; got statistic='quantiles'"),
    ("gap: bad probs passed through", lambda d, des: lsa.gap(des, "MATH", between="st04q01", statistic="quantiles",
                                                              probs=[1.5]),
     lsa.LsaError, "probs"),
    ("gap: correlation of one variable", lambda d, des: lsa.gap(des, "MATH", between="st04q01",
                                                                 statistic="correlation"),
     lsa.DesignError, r"variable: statistic='correlation' needs a list of two or more variables; got 'MATH'"),
    ("gap: between also in by", lambda d, des: lsa.gap(des, "MATH", between="st04q01", by="st04q01"),
     lsa.DesignError, r"between \('st04q01'\) cannot also be a by= column"),
    ("gap: the same group twice", lambda d, des: lsa.gap(des, "MATH", between="st04q01", groups=["Male", "Male"]),
     lsa.DesignError, r"groups must be two values of 'st04q01' among \['Female', 'Male'\]"),
    ("group test: group not present", lambda d, des: lsa.group_wald_test(des, "MATH", between="sc14q02",
                                                                          groups=["A lot", "Never"]),
     lsa.DesignError, r"groups must be two or more distinct values of 'sc14q02' .*got \['A lot', 'Never'\]"),
    ("group test: one group", lambda d, des: lsa.group_wald_test(des, "MATH", between="st04q01", groups="Male"),
     lsa.DesignError, "groups must be two or more distinct values of 'st04q01'"),
    ("group test: unknown term", lambda d, des: lsa.group_wald_test(des, "MATH", between="st04q01",
                                                                     statistic="quantiles", probs=[0.5],
                                                                     terms=["p99"]),
     lsa.DesignError, r"terms: \['p99'\] are not terms of the quantiles; its terms are \['p50'\]"),
    ("group test: between not a column", lambda d, des: lsa.group_wald_test(des, "MATH", between="gender"),
     lsa.DesignError, "between must name a column of the data .*got 'gender'"),
    ("contrast: not a result", lambda d, des: lsa.contrast("MATH", {"escs": 1}), lsa.DesignError,
     "result must be the result of a design-based estimator .*got str"),
    ("contrast: unknown term", lambda d, des: _ct_fit(des).contrast({"ESCS": 1}), lsa.LsaError,
     r"weights name unknown term\(s\) \['ESCS'\]; the result's terms are \['\(Intercept\)', 'escs', 'st04q01Male'\]"),
    ("contrast: vector of wrong length", lambda d, des: _ct_fit(des).contrast([1, -1]), lsa.LsaError,
     r"weights must have 3 columns, one per term of the result; got shape \(2,\)"),
    ("contrast: all weights zero", lambda d, des: _ct_fit(des).contrast({"escs": 0}), lsa.LsaError,
     r"weights: combination\(s\) \[1\] have no nonzero weight"),
    ("contrast: weight as text", lambda d, des: _ct_fit(des).contrast({"escs": "1"}), lsa.LsaError,
     "weights: the weight of 'escs' must be a finite number; got '1'"),
    ("contrast: weights a string", lambda d, des: _ct_fit(des).contrast("escs"), lsa.LsaError,
     "weights must be {term: weight}"),
    ("contrast: names of wrong length", lambda d, des: _ct_fit(des).contrast({"escs": 1}, names=["a", "b"]),
     lsa.LsaError, r"names must be a list of 1 strings, one per combination; got \['a', 'b'\]"),
    ("wald: unknown term", lambda d, des: _ct_fit(des).wald_test(["ESCS"]), lsa.LsaError,
     r"constraints name unknown term\(s\) \['ESCS'\]"),
    ("wald: r of wrong length", lambda d, des: _ct_fit(des).wald_test(["escs", "st04q01Male"], r=[0]), lsa.LsaError,
     r"r must hold 2 finite numbers, one per constraint; got \[0\]"),
    ("wald: unknown by-group", lambda d, des: lsa.lm(des, "pv1math ~ escs", by="st04q01").wald_test(
        ["escs"], group=("Other",)), lsa.DesignError, r"group must be the labels of one by-group, .*got \('Other',\)"),
    ("wald: dependent constraints", lambda d, des: _ct_fit(des).wald_test(["escs", "escs"]), lsa.LsaError,
     "the constraints are linearly dependent"),
]


@pytest.mark.parametrize("case, call, exc, match", _CT_CASES, ids=[c[0] for c in _CT_CASES])
def test_contrast_bad_input(case, call, exc, match, dv_pisa):
    with pytest.raises(exc, match=match) as info:
        call(*dv_pisa)
    assert "\n" not in str(info.value), str(info.value)


# --- issue 12 item 8: recipes of international tables; average/compare check over= against the design --
# TIMSS 1999 (three countries) with the JK zones NOT nested within country: zone h of every country is one
# replicate, so CNTRY is not constant within the replicate zones and the countries are not independent
# samples under that design.
@pytest.fixture(scope="module")
def timss_shared_zones():
    data = lsa.datasets.load("timss1999_g8_3cnt")
    design = lsa.SurveyDesign(data, weights="TOTWGT", pvs={"BSMMAT": [f"BSMMAT0{m}" for m in range(1, 6)]},
                              replicates=lsa.Replicates.jk2(zone="JKZONE", rep="JKREP"), pv_variance="first")
    return design, lsa.mean(design, "BSMMAT", by="CNTRY")


_INTL_RECIPE_CASES = [
    ("average pooled: over not constant within zones",
     lambda des, res: lsa.average(res, over="CNTRY", method="pooled", design=des,
                                  estimator=lambda d: lsa.mean(d, "BSMMAT")),
     lsa.DesignError, r"over: column 'CNTRY' is not constant within the design's strata \(replicate zones\)"),
    ("average composite with a design: over not constant within zones",
     lambda des, res: lsa.average(res, over="CNTRY", design=des),
     lsa.DesignError, r"over: column 'CNTRY' is not constant within the design's strata"),
    ("compare with a design: over not constant within zones",
     lambda des, res: lsa.compare(res, over="CNTRY", design=des),
     lsa.DesignError, r"over: column 'CNTRY' is not constant within the design's strata"),
    ("average: design not a SurveyDesign",
     lambda des, res: lsa.average(res, over="CNTRY", design=des.data),
     lsa.LsaError, "average: design must be the SurveyDesign of the countries .*got DataFrame"),
    ("compare: design without the over column",
     lambda des, res: lsa.compare(res, over="CNTRY", design=des.subset(des.data["CNTRY"] == "CHL").with_data(
         des.data.drop(columns="CNTRY"))),
     lsa.DesignError, r"over: column\(s\) \['CNTRY'\] not in the data"),
]


@pytest.mark.parametrize("case, call, exc, match", _INTL_RECIPE_CASES, ids=[c[0] for c in _INTL_RECIPE_CASES])
def test_international_over_checked_against_the_design(case, call, exc, match, timss_shared_zones):
    with pytest.raises(exc, match=match) as info:
        call(*timss_shared_zones)
    assert "\n" not in str(info.value), str(info.value)


# --- issue 13 items 4, 5, 8, 9: df rules, regression extras, more models, PV expressions ------------
_MODELS13_CASES = [
    ("df_method misspelt", lambda d, des: lsa.mean(des, "MATH", df_method="johnson-rust"), lsa.DesignError,
     r"df_method must be .*'johnson_rust' or 'welch_satterthwaite' \(the replicate df\); got 'johnson-rust'"),
    ("lm df_method unknown", lambda d, des: lsa.lm(des, "MATH ~ escs", df_method="satterthwaite"),
     lsa.DesignError, r"df_method must be .*got 'satterthwaite'"),
    ("standardized without predictors", lambda d, des: lsa.standardized(des, "MATH ~ 1"), lsa.EstimationError,
     r"lsa.standardized: 'MATH ~ 1' has no predictor"),
    ("odds_ratios of a linear fit", lambda d, des: lsa.odds_ratios(lsa.lm(des, "MATH ~ escs")), lsa.LsaError,
     r"odds_ratios needs the result of Logistic regression .*got 'Linear regression: MATH ~ escs'"),
    ("odds_ratios alpha out of range", lambda d, des: lsa.odds_ratios(lsa.logit(des, "I(MATH < 480) ~ escs"),
                                                                      alpha=2), lsa.LsaError, "alpha must be"),
    ("r_squared unknown variable", lambda d, des: lsa.r_squared(des, "MATH ~ escz"), lsa.FormulaError,
     r"unknown variable 'escz'"),
    ("poisson with a negative response", lambda d, des: lsa.poisson(des, "I(MATH - 500) ~ escs"), lsa.FormulaError,
     r"lsa.poisson: the response of 'I\(MATH - 500\) ~ escs' has negative values"),
    ("probit with a continuous response", lambda d, des: lsa.probit(des, "MATH ~ escs"), lsa.FormulaError,
     "needs a 0/1 response; 'MATH' has other values"),
]


@pytest.mark.parametrize("case, call, exc, match", _MODELS13_CASES, ids=[c[0] for c in _MODELS13_CASES])
def test_models13_bad_input(case, call, exc, match, dv_pisa):
    with pytest.raises(exc, match=match) as info:
        call(*dv_pisa)
    assert "\n" not in str(info.value), str(info.value)


# --- issue 13 item 3: lsa.crosstab and its Rao–Scott tests ------------------------------------------
_CROSSTAB_CASES = [
    ("row unknown", lambda d, des: lsa.crosstab(des, "st29q3", "sc14q02"), lsa.DesignError,
     r"row: 'st29q3' is neither a column nor a plausible-value set \(did you mean \['st29q03'\]\?\)"),
    ("col unknown", lambda d, des: lsa.crosstab(des, "st29q03", "gender"), lsa.DesignError,
     r"col: 'gender' is neither a column nor a plausible-value set"),
    ("row not a string", lambda d, des: lsa.crosstab(des, 3, "sc14q02"), lsa.LsaError,
     r"row must be one column or plausible-value set name \(a string\); got 3"),
    ("margin with too many levels", lambda d, des: lsa.crosstab(des, "schoolid", "st04q01"), lsa.DesignError,
     r"row: column 'schoolid' has 157 distinct values; at most 20 categories are tabulated"),
    ("continuous margin", lambda d, des: lsa.crosstab(des, "st04q01", "escs"), lsa.DesignError,
     r"col: column 'escs' has \d+ distinct values; at most 20 .*It looks continuous"),
    ("PV set without cut points", lambda d, des: lsa.crosstab(des, "MATH", "st04q01"), lsa.DesignError,
     r"row: 'MATH' is a plausible-value set; give cut points"),
    ("cuts not increasing", lambda d, des: lsa.crosstab(des, "MATH", "st04q01", cuts=[500, 400]), lsa.DesignError,
     r"cuts: cut points of 'MATH' must increase; got \[500, 400\]"),
    ("cuts as text", lambda d, des: lsa.crosstab(des, "MATH", "st04q01", cuts=["400"]), lsa.LsaError,
     "cuts must be a finite number; got '400'"),
    ("cuts without a PV margin", lambda d, des: lsa.crosstab(des, "st29q03", "sc14q02", cuts=[1, 2]),
     lsa.DesignError, r"cuts: neither row \('st29q03'\) nor col \('sc14q02'\) is a plausible-value set"),
    ("labels of wrong length", lambda d, des: lsa.crosstab(des, "MATH", "st04q01", cuts=[400, 500], labels=["a"]),
     lsa.DesignError, r"labels: give one label per cut point of 'MATH' \(2 cuts\); got \['a'\]"),
    ("same variable twice", lambda d, des: lsa.crosstab(des, "st04q01", "st04q01"), lsa.DesignError,
     "row and col must be two different variables; got 'st04q01' for both"),
    ("by repeats a margin", lambda d, des: lsa.crosstab(des, "st29q03", "st04q01", by="st04q01"), lsa.DesignError,
     r"by must not repeat a margin of the table"),
    ("max_levels below 2", lambda d, des: lsa.crosstab(des, "st29q03", "st04q01", max_levels=1), lsa.LsaError,
     "max_levels must be >= 2; got 1"),
    ("test method unknown", lambda d, des: lsa.crosstab(des, "st29q03", "st04q01").test("third_order"),
     lsa.LsaError, r"method must be one of \['first_order', 'second_order'\]; got 'third_order'"),
    ("test pv out of range", lambda d, des: lsa.crosstab(des, "st29q03", "st04q01").test(pv=2), lsa.LsaError,
     "pv must be >= 1 and <= 1; got 2"),
    ("test unknown group", lambda d, des: lsa.crosstab(des, "st29q03", "sc14q02", by="st04q01").test(
        group=("Other",)), lsa.DesignError, r"group must be the labels of one by-group, .*got \('Other',\)"),
]


@pytest.mark.parametrize("case, call, exc, match", _CROSSTAB_CASES, ids=[c[0] for c in _CROSSTAB_CASES])
def test_crosstab_bad_input(case, call, exc, match, dv_pisa):
    with pytest.raises(exc, match=match) as info:
        call(*dv_pisa)
    assert "\n" not in str(info.value), str(info.value)


def test_crosstab_zero_cell_warns_and_the_test_is_finite(dv_pisa):
    d, _ = dv_pisa
    keep = ~((d["st29q03"] == "Strongly disagree") & (d["sc14q02"] == "A lot"))
    des = _dv_design(d[keep].reset_index(drop=True))
    with pytest.warns(lsa.LsaWarning, match=r"cell\(s\) \['Strongly disagree:A lot'\] have zero weighted count"):
        ct = lsa.crosstab(des, "st29q03", "sc14q02")
    for order in ("first_order", "second_order"):
        t = ct.test(order)
        assert np.isfinite([t.statistic, t.df_num, t.df_den if order == "second_order" else 0, t.p_value]).all()


def test_crosstab_empty_level_in_a_group_warns_and_is_dropped_from_the_test(dv_pisa):
    d, _ = dv_pisa
    des = _dv_design(d[~((d["st04q01"] == "Male") & (d["sc14q02"] == "A lot"))].reset_index(drop=True))
    with pytest.warns(lsa.LsaWarning, match=r"levels with no weight in group \{'st04q01': 'Male'\} "
                                            r"\(row \[\], col \['A lot'\]\)"):
        ct = lsa.crosstab(des, "st29q03", "sc14q02", by="st04q01")
    t = ct.test("first_order", group=("Male",))
    assert t.df_num == 3 * 2 and np.isfinite(t.statistic)         # a 4 x 3 table once 'A lot' is dropped


# --- issue 15 items 1 and 5: TIMSS/PIRLS file sets (read_study files=, allow_unmatched=, link_design) ---
def _timss_g4_folder(tmp_path):
    from pathlib import Path as _Path

    import pandas as _pd
    import pyreadstat as _prs

    src = _Path(__file__).resolve().parent / "reference" / "data" / "timss2019_g4_links"
    for p in src.glob("*.csv"):
        _prs.write_sav(_pd.read_csv(p).astype(float), str(tmp_path / f"{p.stem}.sav"))
    return tmp_path


_STUDY_FILES_CASES = [
    ("files: unknown role", dict(files=["student", "teachers"]), lsa.LsaError,
     r"files: \['teachers'\] are not file roles of TIMSS 2019 grade 4; allowed: \[.*'teacher'"),
    ("files: not a list of names", dict(files=[4]), lsa.LsaError, r"files must be a list of file roles.*got \[4\]"),
    ("files: empty", dict(files=[]), lsa.LsaError, r"files must be a list of file roles.*got \[\]"),
    ("files: grade 8 role at grade 4", dict(files=["teacher_math"]), lsa.LsaError,
     r"files: \['teacher_math'\] are not file roles of TIMSS 2019 grade 4"),
    ("allow_unmatched: not a bool", dict(files=["teacher"], allow_unmatched="yes"), lsa.LsaError,
     r"allow_unmatched must be True or False; got 'yes'"),
]


@pytest.mark.parametrize("case, kwargs, exc, match", _STUDY_FILES_CASES, ids=[c[0] for c in _STUDY_FILES_CASES])
def test_study_files_bad_input(case, kwargs, exc, match, tmp_path):
    from lsa.io import read_study

    with pytest.raises(exc, match=match) as info:
        read_study(_timss_g4_folder(tmp_path), "TIMSS", 2019, **kwargs)
    assert "\n" not in str(info.value), str(info.value)


def test_link_design_bad_input(tmp_path):
    from lsa.io import link_design, read_study

    df = read_study(_timss_g4_folder(tmp_path), "TIMSS", 2019, files=["teacher"])
    with pytest.raises(lsa.LsaError, match=r"link_design: weight must be a link weight column .*\['TCHWGT'\]; "
                                           r"got 'MATWGTX'"):
        link_design(df, weight="MATWGTX")
    with pytest.raises(lsa.LsaError, match=r"got 'TCHWGT' \(it is not among the columns\)"):
        link_design(df.drop(columns="TCHWGT"))
    with pytest.raises(lsa.LsaError, match=r"link_design needs a frame read by lsa.io.read_study"):
        link_design(pd.DataFrame({"x": [1.0]}))


# --- issue 15 item 3: variable search and codebook (lsa.io.search / variables / codebook) -------
def _search_folder(tmp_path):
    import pyreadstat

    pyreadstat.write_sav(pd.DataFrame({"ASBGSB": [1.0]}), str(tmp_path / "asgautm7.sav"),
                         column_labels=["STUDENT BULLYING/SCL"])
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("x")
    return tmp_path


_SEARCH_CASES = [
    ("search: pattern not a string", lambda t: lsa.io.search(t, 3), lsa.LsaError,
     "pattern must be a non-empty string .*got 3"),
    ("search: empty pattern", lambda t: lsa.io.search(t, ""), lsa.LsaError, "pattern must be a non-empty string"),
    ("search: bad regex", lambda t: lsa.io.search(t, "[a", regex=True), lsa.LsaError,
     r"pattern '\[a' is not a valid regular expression"),
    ("search: regex not bool", lambda t: lsa.io.search(t, "a", regex="yes"), lsa.LsaError,
     r"regex must be one of \[True, False\]; got 'yes'"),
    ("search: in_values not bool", lambda t: lsa.io.search(t, "a", in_values=1.5), lsa.LsaError,
     r"in_values must be one of \[True, False\]; got 1.5"),
    ("search: missing folder", lambda t: lsa.io.search(t / "nowhere", "a"), lsa.LsaError,
     "nowhere: no such file or folder"),
    ("search: folder without data", lambda t: lsa.io.search(t / "empty", "a"), lsa.LsaError,
     r"empty: the folder holds no SPSS \(.sav, .zsav\), Stata \(.dta\) or SAS"),
    ("search: not a path", lambda t: lsa.io.search(42, "a"), lsa.LsaError,
     r"folder_or_files must be a folder, a file or a list of files; got 42"),
    ("search: empty list", lambda t: lsa.io.search([], "a"), lsa.LsaError, "folder_or_files is an empty list"),
    ("search: list of non-paths", lambda t: lsa.io.search([t, 1], "a"), lsa.LsaError,
     r"folder_or_files must hold paths .*got 1 \(int\)"),
    ("search: a text file", lambda t: lsa.io.search(t / "notes.txt", "a"), lsa.LsaError,
     r"notes.txt: lsa reads SPSS .* got the extension '.txt'"),
    ("codebook: unknown format", lambda t: lsa.io.codebook(t, t / "cb", formats="pdf"), lsa.LsaError,
     r"formats must be one of \['html', 'markdown'\]; got 'pdf'"),
    ("codebook: empty formats", lambda t: lsa.io.codebook(t, t / "cb", formats=[]), lsa.LsaError,
     "formats must be 'html', 'markdown' or a list of them; got \\[\\]"),
    ("codebook: title not a string", lambda t: lsa.io.codebook(t, t / "cb", title=1), lsa.LsaError,
     "title must be a string or None; got 1"),
    ("codebook: out not a path", lambda t: lsa.io.codebook(t, 3), lsa.LsaError,
     r"out must be a folder path .*got 3 \(int\)"),
    ("codebook: out is a file", lambda t: lsa.io.codebook(t, t / "notes.txt"), lsa.LsaError,
     "out: .*notes.txt is a file, not a folder"),
]


@pytest.mark.parametrize("case, call, exc, match", _SEARCH_CASES, ids=[c[0] for c in _SEARCH_CASES])
def test_search_bad_input(case, call, exc, match, tmp_path):
    with pytest.raises(exc, match=match) as info:
        call(_search_folder(tmp_path))
    assert "\n" not in str(info.value), str(info.value)


# --- issue 15 item 2: PISA 2000-2012 fixed-width text files with SPSS/SAS read-in syntax -------------
# lsa.io.read_fixed and read_study on PISA text cycles; a 3-variable text file and its SPSS syntax.
_FW_SYNTAX = 'DATA LIST FILE "d.txt" /\n  CNT 1-3 (A)\n  ST04Q01 4 (F,0)\n  PV1MATH 5-12 (F,4).\n'


def _fw_folder(d):
    (d / "d.txt").write_text("AUS1472.7834\nAUT24727834\n")  # line 2 is one column short
    (d / "ok.txt").write_text("AUS1472.7834\nAUT2 4727834\n")
    (d / "d.sps").write_text(_FW_SYNTAX)
    (d / "wide.sps").write_text(_FW_SYNTAX.replace("5-12 (F,4).", "5-12 (F,4)\n  W_FSTUWT 13-21 (F,4)."))
    (d / "INT_STQ09_DEC11.txt").write_text("AUS1472.7834\n")
    return d


_FW_CASES = [
    ("uneven lines", lambda d: lsa.io.read_fixed(d / "d.txt", d / "d.sps"), lsa.errors.ReadError,
     r"d\.txt, line 2: 11 characters where line 1 has 12"),
    ("columns beyond the line", lambda d: lsa.io.read_fixed(d / "ok.txt", d / "wide.sps"), lsa.errors.ReadError,
     r"ok\.txt, line 1: 12 characters, but wide\.sps places \['W_FSTUWT'\] up to column 21"),
    ("missing syntax file", lambda d: lsa.io.read_fixed(d / "ok.txt", d / "none.sps"), lsa.errors.ReadError,
     r"none\.sps: no such syntax file"),
    ("unknown variable", lambda d: lsa.io.read_fixed(d / "ok.txt", d / "d.sps", columns=["ST04Q1"]),
     lsa.io.ColumnNotFoundError, r"columns not in the syntax: \['ST04Q1'\] \('ST04Q1': nearest \['ST04Q01'\]\)"),
    ("labels", lambda d: lsa.io.read_fixed(d / "ok.txt", d / "d.sps", labels="names"), lsa.LsaError,
     r"labels must be one of \['categorical', 'codes', 'strings'\]; got 'names'"),
    ("read_study text without syntax", lambda d: lsa.io.read_study(d, "pisa", 2009), lsa.errors.StudyError,
     r"INT_STQ09_DEC11\.txt is fixed-width text and needs its OECD read-in syntax"),
]


@pytest.mark.parametrize("case, call, exc, match", _FW_CASES, ids=[c[0] for c in _FW_CASES])
def test_fixed_width_bad_input(case, call, exc, match, tmp_path):
    with pytest.raises(exc, match=match) as info:
        call(_fw_folder(tmp_path))
    assert "\n" not in str(info.value), str(info.value)


# --- issue 13 items 6 and 7: percentile methods, Woodruff, IQR; Spearman/polychoric/polyserial, covariance ---
_PCT_COR_CASES = [
    ("polychoric on a continuous variable", lambda d, des: lsa.correlation(des, ["escs", "MATH"], method="polychoric"),
     lsa.DesignError, r"variables: 'escs' has \d+ distinct values; a polychoric correlation needs an ordinal "
                      r"variable with at most 20 levels\. For a continuous variable use method='pearson'"),
    ("correlation method unknown", lambda d, des: lsa.correlation(des, ["escs", "MATH"], method="kendall"),
     lsa.LsaError, r"method must be one of \['pearson', 'spearman', 'polychoric', 'polyserial'\]; got 'kendall'"),
    ("polyserial of two continuous", lambda d, des: lsa.correlation(des, ["escs", "MATH"], method="polyserial"),
     lsa.DesignError, r"polyserial correlation pairs a continuous variable .* 'escs' and 'MATH' are both "
                      r"continuous: use method='pearson'"),
    ("covariance of a text column", lambda d, des: lsa.covariance(des, ["MATH", "st29q03"]), lsa.DesignError,
     r"variables: column 'st29q03' is not numeric"),
    ("quantile method unknown", lambda d, des: lsa.quantiles(des, "MATH", method="hf7"), lsa.LsaError,
     r"method must be one of \['math', 'simple', 'symmetric', 'unbiased'\]; got 'hf7'"),
    ("quantile interval unknown", lambda d, des: lsa.quantiles(des, "MATH", probs=[0.5], interval="mean"),
     lsa.LsaError, r"interval must be one of \['quantile', 'woodruff'\]; got 'mean'"),
    ("probs above 1", lambda d, des: lsa.quantiles(des, "MATH", probs=[0.5, 1.5], interval="woodruff"),
     lsa.LsaError, r"probs\[1\] must be > 0 and < 1; got 1\.5"),
    ("probs 0", lambda d, des: lsa.quantiles(des, "MATH", probs=[0.0], method="unbiased"), lsa.LsaError,
     r"probs must be > 0 and < 1; got 0\.0"),
    ("iqr unknown variable", lambda d, des: lsa.iqr(des, "MATHS"), lsa.DesignError,
     r"variable: 'MATHS' is neither a column nor a plausible-value set"),
    ("iqr method unknown", lambda d, des: lsa.iqr(des, "MATH", method="type7"), lsa.LsaError,
     r"method must be one of .*; got 'type7'"),
]


@pytest.mark.parametrize("case, call, exc, match", _PCT_COR_CASES, ids=[c[0] for c in _PCT_COR_CASES])
def test_percentiles_correlations_bad_input(case, call, exc, match, dv_pisa):
    with pytest.raises(exc, match=match) as info:
        call(*dv_pisa)
    assert "\n" not in str(info.value), str(info.value)


# --- issue 13 items 1 and 2: Taylor linearisation (lonely_psu=, fpc=) and design.with_replicates -------
def _taylor_frame():
    """Five schools in three strata; stratum 3 holds one school (a lonely PSU)."""
    return pd.DataFrame({"sch": [1, 1, 2, 2, 3, 3, 4, 4, 5], "st": [1, 1, 1, 1, 2, 2, 2, 2, 3], "w": [1.0] * 9,
                         "y": np.arange(9.0), "N": [10.0] * 8 + [np.nan], "N2": [10, 10, 10, 10, 12, 12, 11, 11, 5]})


def _taylor_design(**kw):
    return lsa.SurveyDesign(_taylor_frame(), ids={"school": "sch"}, weights={"student": "w"}, **kw)


_TAYLOR_CASES = [
    ("lonely_psu unknown", lambda: _taylor_design(lonely_psu="drop"), lsa.LsaError,
     r"lonely_psu must be one of \['fail', 'remove', 'adjust', 'certainty', 'average'\]; got 'drop'"),
    ("fpc not a column", lambda: _taylor_design(fpc="NN"), lsa.DesignError,
     r"fpc must be the name of a column of the data; got 'NN'"),
    ("lonely PSU under fail", lambda: lsa.mean(_taylor_design(strata="st"), "y"), lsa.DesignError,
     r"lonely_psu='fail': stratum st = \[3\] has only one PSU .*choose lonely_psu= one of"),
    ("fpc missing", lambda: lsa.mean(_taylor_design(strata="st", lonely_psu="remove", fpc="N"), "y"),
     lsa.DesignError, r"fpc column 'N' has 1 missing or non-positive values \(rows \[8\]\)"),
    ("fpc varies in a stratum", lambda: lsa.mean(_taylor_design(strata="st", lonely_psu="remove", fpc="N2"), "y"),
     lsa.DesignError, r"fpc column 'N2' is not constant within stratum st = 2"),
    ("with_replicates method", lambda: _taylor_design().with_replicates("jk3"), lsa.LsaError,
     r"with_replicates: method must be one of \['jk1', 'jk2', 'bootstrap'\]; got 'jk3'"),
    ("jk2 without pairs", lambda: _taylor_design(strata="st", lonely_psu="remove").with_replicates("jk2"),
     lsa.DesignError, r"with_replicates\('jk2'\) needs strata of exactly 2 PSUs .*strata st = \[3\]"),
    ("replicates for jk1", lambda: _taylor_design().with_replicates("jk1", 10), lsa.DesignError,
     r"replicates= and seed= are for method='bootstrap'; got method='jk1'"),
    ("bootstrap replicates 1", lambda: _taylor_design().with_replicates("bootstrap", 1), lsa.LsaError,
     r"replicates must be >= 2; got 1"),
    ("bootstrap seed text", lambda: _taylor_design().with_replicates("bootstrap", seed="a"), lsa.DesignError,
     r"seed must be an integer \(or None\); got 'a'"),
    ("replicates twice", lambda: _taylor_design().with_replicates("jk1").with_replicates("jk1"), lsa.DesignError,
     r"with_replicates: the design already has replicate weights"),
    ("no first stage", lambda: lsa.SurveyDesign(_taylor_frame(), weights={"o": "w"}).with_replicates("jk1"),
     lsa.DesignError, r"with_replicates needs the design's first stage: give ids="),
    ("replicate columns clash", lambda: _taylor_design().with_replicates("jk1").data.pipe(
        lambda d: lsa.SurveyDesign(d, ids={"school": "sch"}, weights={"student": "w"}).with_replicates("jk1")),
     lsa.DesignError, r"with_replicates: the data already have columns \['JK1_1', 'JK1_2', 'JK1_3'\]; pass another prefix="),
]


@pytest.mark.parametrize("case, call, exc, match", _TAYLOR_CASES, ids=[c[0] for c in _TAYLOR_CASES])
def test_taylor_bad_input(case, call, exc, match):
    with pytest.raises(exc, match=match) as info:
        call()
    assert "\n" not in str(info.value), str(info.value)


def test_taylor_lonely_psu_rule_is_followed_and_said():
    """A stratum with one PSU follows the chosen rule and a warning says which (survey's rules)."""
    with pytest.warns(lsa.errors.LsaWarning, match=r"stratum st = \[3\] has one PSU .*lonely_psu='adjust'"):
        res = lsa.mean(_taylor_design(strata="st", lonely_psu="adjust"), "y")
    assert np.isfinite(res.tidy()["std_error"]).all()


# --- issue 13: quantiles (Woodruff) on Taylor-linearisation designs ---------------------------------

@pytest.mark.parametrize("fn", [lsa.quantiles, lsa.iqr])
def test_taylor_quantiles_bad_interval_names_the_argument(fn):
    with pytest.raises(lsa.LsaError, match=r"interval must be one of \['quantile', 'woodruff'\]; got 'wood'"):
        fn(_taylor_design(), "y", interval="wood")


def test_taylor_quantiles_lonely_psu_rule_is_followed_and_said():
    with pytest.warns(lsa.errors.LsaWarning, match=r"stratum st = \[3\] has one PSU .*lonely_psu='remove'"):
        res = lsa.quantiles(_taylor_design(strata="st", lonely_psu="remove"), "y", [0.5])
    assert res.tidy()["term"].tolist() == ["p50"]


# --- issue 13 item 5: multinomial, ordinal and quantile regression ---------------------------------

def _cat_design():
    """Eight schools of six students; level 'c' of the outcome lives in school 1 only, so the JK1
    replicate that drops school 1 has no 'c'."""
    rng = np.random.default_rng(13)
    sch = np.repeat(np.arange(1, 9), 6)
    out = np.where(rng.random(48) < 0.5, "a", "b").astype(object)
    out[:2] = "c"
    frame = pd.DataFrame({"sch": sch, "w": 1.0 + rng.random(48), "x": rng.normal(size=48), "out": out,
                          "y": rng.normal(size=48)})
    frame["out"] = pd.Categorical(frame["out"], categories=["a", "b", "c"], ordered=True)
    return lsa.SurveyDesign(frame, ids={"school": "sch"}, weights={"student": "w"}).with_replicates("jk1")


_CATEGORICAL_CASES = [
    ("ordinal link unknown", lambda: lsa.ordinal(_cat_design(), "out ~ x", link="cloglog"), lsa.LsaError,
     r"link must be one of \['logit', 'probit'\]; got 'cloglog'"),
    ("quantreg q above 1", lambda: lsa.quantreg(_cat_design(), "y ~ x", q=1.5), lsa.LsaError,
     r"q must be > 0 and < 1; got 1.5"),
    ("quantreg q 0 in a list", lambda: lsa.quantreg(_cat_design(), "y ~ x", q=[0.5, 0]), lsa.LsaError,
     r"q\[1\] must be > 0 and < 1; got 0"),
    ("quantreg q text", lambda: lsa.quantreg(_cat_design(), "y ~ x", q="median"), lsa.LsaError,
     r"q must be a number or a list of numbers; got 'median'"),
    ("multinom level empty in a replicate", lambda: lsa.multinom(_cat_design(), "out ~ x"), lsa.EstimationError,
     r"lsa.multinom: response level 'c' has no weight in 1 of 8 replicates"),
    ("ordinal level empty in a replicate", lambda: lsa.ordinal(_cat_design(), "out ~ x"), lsa.EstimationError,
     r"lsa.ordinal: response level 'c' has no weight in 1 of 8 replicates"),
    ("multinom one level", lambda: lsa.multinom(_cat_design(), "I(x > 100) ~ y"), lsa.FormulaError,
     r"lsa.multinom: the response of 'I\(x > 100\) ~ y' has 1 level"),
    ("ordinal without intercept", lambda: lsa.ordinal(_cat_design(), "out ~ x - 1"), lsa.FormulaError,
     r"lsa.ordinal: 'out ~ x - 1' removes the intercept"),
]


@pytest.mark.parametrize("case, call, exc, match", _CATEGORICAL_CASES, ids=[c[0] for c in _CATEGORICAL_CASES])
def test_categorical_models_bad_input(case, call, exc, match):
    with pytest.raises(exc, match=match) as info:
        call()
    assert "\n" not in str(info.value), str(info.value)


# --- issue 16 item 1: reading at scale (n_jobs=, to_parquet / read_parquet / lsa convert, memory) ---

def _scale_stu():
    from pathlib import Path as _P

    return _P(__file__).resolve().parent / "data" / "STU_USA_2018.sav"


def _scale_parquet(tmp_path):
    from lsa.io import to_parquet

    return to_parquet(_scale_stu(), tmp_path / "stu.parquet", progress=False)


_SCALE_CASES = [
    ("read_spss n_jobs 0", lambda t: lsa.io.read_spss(_scale_stu(), n_jobs=0), lsa.LsaError,
     r"n_jobs must be a positive number of processes .*got 0"),
    ("read_spss n_jobs text", lambda t: lsa.io.read_spss(_scale_stu(), n_jobs="two"), lsa.LsaError,
     r"n_jobs must be an integer; got 'two'"),
    ("read_study n_jobs 0", lambda t: lsa.io.read_study(t, "timss", 2019, grade=8, n_jobs=0), lsa.LsaError,
     r"n_jobs must be a positive number of processes"),
    ("to_parquet target not parquet", lambda t: lsa.io.to_parquet(_scale_stu(), t / "x.csv"), lsa.LsaError,
     r"target must be a \.parquet file; got '.*x\.csv'"),
    ("to_parquet target folder missing", lambda t: lsa.io.to_parquet(_scale_stu(), t / "no" / "x.parquet"),
     lsa.errors.ReadError, r"no such folder \(the folder of target must exist\)"),
    ("to_parquet chunksize 0", lambda t: lsa.io.to_parquet(_scale_stu(), t / "x.parquet", chunksize=0), lsa.LsaError,
     r"chunksize must be >= 1; got 0"),
    ("to_parquet progress text", lambda t: lsa.io.to_parquet(_scale_stu(), t / "x.parquet", progress="yes"),
     lsa.LsaError, r"progress must be True, False or None; got 'yes'"),
    ("to_parquet compression", lambda t: lsa.io.to_parquet(_scale_stu(), t / "x.parquet", compression="zip"),
     lsa.LsaError, r"compression must be one of \['zstd', .*got 'zip'"),
    ("to_parquet column not in the file", lambda t: lsa.io.to_parquet(_scale_stu(), t / "x.parquet",
                                                                      columns=["TOTWGHT"]),
     lsa.io.ColumnNotFoundError, r"STU_USA_2018.sav: columns not found: \['TOTWGHT'\]\. Nearest names in the file: "
                                 r"TOTWGHT -> \['TOTWGT'"),
    ("to_parquet source missing", lambda t: lsa.io.to_parquet(t / "nope.sav", t / "x.parquet"), lsa.errors.ReadError,
     r"nope\.sav: no such file"),
    ("read_parquet not parquet", lambda t: lsa.io.read_parquet(_scale_stu()), lsa.errors.ReadError,
     r"STU_USA_2018\.sav is not a Parquet file: it starts with b'\$FL2'"),
    ("read_parquet labels", lambda t: lsa.io.read_parquet(_scale_parquet(t), labels="names"), lsa.LsaError,
     r"labels must be one of \('categorical', 'codes', 'strings'\); got 'names'"),
    ("read_parquet user_missing text", lambda t: lsa.io.read_parquet(_scale_parquet(t), user_missing="yes"),
     lsa.LsaError, r"user_missing must be True or False; got 'yes'"),
    ("read_parquet column not in the file", lambda t: lsa.io.read_parquet(_scale_parquet(t), columns=["BSMMAT1"]),
     lsa.io.ColumnNotFoundError, r"stu\.parquet: columns not found: \['BSMMAT1'\]\. Nearest names in the file: "
                                 r"BSMMAT1 -> \['BSMMAT01'"),
]


@pytest.mark.parametrize("case, call, exc, match", _SCALE_CASES, ids=[c[0] for c in _SCALE_CASES])
def test_reading_at_scale_bad_input(tmp_path, case, call, exc, match):
    import shutil as _sh

    import lsa.io  # noqa: F401  (the cases call lsa.io.*)

    _sh.copy(_scale_stu(), tmp_path / "bsgusam7.sav")
    _sh.copy(_scale_stu().with_name("SCH_USA_2018.sav"), tmp_path / "bcgusam7.sav")
    with pytest.raises(exc, match=match) as info:
        call(tmp_path)
    assert "\n" not in str(info.value), str(info.value)
    assert not list(tmp_path.glob("*.tmp")) and not (tmp_path / "x.parquet").exists()


def test_not_enough_memory_gives_the_estimate_before_reading(monkeypatch, tmp_path):
    """7,986 rows x 31 float64 columns = 1,980,528 bytes; twice that at the peak of the read."""
    import lsa.io  # noqa: F401
    monkeypatch.setenv("LSA_AVAILABLE_MEMORY", "1M")
    with pytest.raises(lsa.errors.NotEnoughMemoryError,
                       match=r"reading 31 columns of STU_USA_2018\.sav: not enough memory\. The frame of 7,986 rows "
                             r"x 31 columns takes about 1\.9 MB .* needs about 3\.8 MB at its peak; 1\.0 MB are "
                             r"available\. Select fewer columns .* Parquet"):
        lsa.io.read_spss(_scale_stu())
    monkeypatch.delenv("LSA_AVAILABLE_MEMORY")
    out = _scale_parquet(tmp_path)
    monkeypatch.setenv("LSA_AVAILABLE_MEMORY", "1M")
    with pytest.raises(lsa.errors.NotEnoughMemoryError, match=r"reading 31 columns of stu\.parquet"):
        lsa.io.read_parquet(out)
    assert lsa.io.read_parquet(out, columns=["BSMMAT01", "TOTWGT"]).shape == (7986, 2)   # fewer columns fit
    monkeypatch.setenv("LSA_AVAILABLE_MEMORY", "lots")
    with pytest.raises(lsa.LsaError, match=r"LSA_AVAILABLE_MEMORY must be a number of bytes.*got 'lots'"):
        lsa.io.read_spss(_scale_stu())


def test_cli_convert_bad_input_is_one_line(tmp_path, capsys):
    from lsa.cli import main as _main

    assert _main(["convert", str(_scale_stu()), str(tmp_path / "x.txt")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lsa: error: target must be a .parquet file") and err.count("\n") == 1


# --- issue 14 items 3-5: centering helpers, multilevel R², random effects and caterpillar plots ----

def _mh_frame():
    rng = np.random.default_rng(14)
    sch = np.repeat(np.arange(12), 8)
    return pd.DataFrame({"sch": sch, "x": rng.normal(size=96), "y": rng.normal(size=96) + sch / 4,
                         "w": 1.0 + rng.random(96), "txt": ["a"] * 96, "wneg": -np.ones(96)})


def _mh_fit():
    return lsa.mixed("y ~ x + (1 | sch)", _mh_frame())


def _mh_plot(*args, **kw):
    from lsa.mixed import plot_caterpillar     # lsa.mixed is the function; the module holds the plot

    return plot_caterpillar(*args, **kw)


def _mh_table():
    return pd.DataFrame({"group": ["g"] * 3, "level": [1, 2, 3], "term": ["(Intercept)"] * 3,
                         "estimate": [0.1, -0.2, 0.0], "std_error": [0.1, 0.1, 0.2]})


_MIXED_HELPER_CASES = [
    ("center kind unknown", lambda: lsa.center(_mh_frame(), "x", by="sch", kind="cluster"), lsa.LsaError,
     r"kind must be one of \['group', 'grand'\]; got 'cluster'"),
    ("center group without by", lambda: lsa.center(_mh_frame(), "x"), lsa.LsaError, r"center needs by="),
    ("center grand with by", lambda: lsa.center(_mh_frame(), "x", by="sch", kind="grand"), lsa.LsaError,
     r"by='sch' with kind='grand'"),
    ("center column missing", lambda: lsa.center(_mh_frame(), "zz", by="sch"), lsa.DesignError,
     r"columns: 'zz' is not a column of the data"),
    ("center columns not names", lambda: lsa.center(_mh_frame(), 3, by="sch"), lsa.LsaError,
     r"columns must be a column name or a list of column names; got 3"),
    ("center text column", lambda: lsa.center(_mh_frame(), "txt", by="sch"), lsa.LsaError, r"txt"),
    ("center by missing", lambda: lsa.center(_mh_frame(), "x", by="school"), lsa.DesignError,
     r"by: 'school' is not a column of the data"),
    ("center weights missing", lambda: lsa.center(_mh_frame(), "x", by="sch", weights="ww"), lsa.DesignError,
     r"weights: column 'ww' is not in the data"),
    ("center weights negative", lambda: lsa.center(_mh_frame(), "x", by="sch", weights="wneg"), lsa.DesignError,
     r"weights: column 'wneg' has 96 missing or negative value"),
    ("center suffix empty", lambda: lsa.center(_mh_frame(), "x", by="sch", suffix=""), lsa.LsaError,
     r"suffix must be a non-empty string"),
    ("center suffix not text", lambda: lsa.center(_mh_frame(), "x", by="sch", suffix=2), lsa.LsaError,
     r"suffix must be one column or plausible-value set name"),
    ("center name clash", lambda: lsa.center(_mh_frame().assign(x_cwc=0.0), "x", by="sch"), lsa.DesignError,
     r"the new name\(s\) \['x_cwc'\] already exist"),
    ("cluster_means by None", lambda: lsa.cluster_means(_mh_frame(), "x", by=None), lsa.LsaError,
     r"cluster_means needs by="),
    ("cluster_means data not a frame", lambda: lsa.cluster_means([1, 2], "x", by="sch"), lsa.LsaError, r"data"),
    ("r2 measures unknown", lambda: _mh_fit().r2("adjusted"), lsa.LsaError,
     r"measures must be one of \['rights_sterba', 'nakagawa'\]; got 'adjusted'"),
    ("r2 measures empty", lambda: _mh_fit().r2([]), lsa.LsaError, r"measures must name at least one"),
    ("caterpillar alpha", lambda: _mh_plot(_mh_table(), alpha=1.5), lsa.LsaError,
     r"alpha must be > 0 and < 1; got 1.5"),
    ("caterpillar sort", lambda: _mh_plot(_mh_table(), sort="yes"), lsa.LsaError,
     r"sort must be True or False; got 'yes'"),
    ("caterpillar not a table", lambda: _mh_plot([1, 2]), lsa.LsaError,
     r"plot_caterpillar needs a random-effects table"),
    ("caterpillar columns", lambda: _mh_plot(_mh_table().drop(columns="std_error")),
     lsa.LsaError, r"the table lacks the column\(s\) \['std_error'\]"),
    ("caterpillar term unknown", lambda: _mh_plot(_mh_table(), term="escs"), lsa.LsaError,
     r"term=\['escs'\] not in the table"),
    ("caterpillar group unknown", lambda: _mh_plot(_mh_table(), group="school"), lsa.LsaError,
     r"group=\['school'\] not in the table"),
    ("pooling mean_over_draws shape", lambda: lsa.pooling.mean_over_draws(np.ones(3)), lsa.LsaError,
     r"values must be an \(M, k\) array"),
]


@pytest.mark.parametrize("case, call, exc, match", _MIXED_HELPER_CASES, ids=[c[0] for c in _MIXED_HELPER_CASES])
def test_mixed_helpers_bad_input(case, call, exc, match):
    with pytest.raises(exc, match=match) as info:
        call()
    assert "\n" not in str(info.value), str(info.value)


def test_caterpillar_ax_with_several_panels():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tab = pd.concat([_mh_table(), _mh_table().assign(term="x")], ignore_index=True)
    fig, ax = plt.subplots()
    with pytest.raises(lsa.LsaError, match=r"plot_caterpillar\(ax=...\) draws one panel; the selection has 2"):
        _mh_plot(tab, ax=ax)
    plt.close(fig)


# -- issue 14 items 1-2: GLMMs (lsa.mixed(family=), mix_pv(family=)) ------------------------------

def _glmm_pisa():
    from pathlib import Path

    d = pd.read_csv(Path(__file__).parent / "reference" / "data" / "pisa2012.csv", dtype={"schoolid": str})
    d["likemath"] = d.st29q03.isin(["Strongly agree", "Agree"]).astype(float)
    return d


_GLMM_F = "likemath ~ escs + (1 | schoolid)"
_GLMM_CASES = [
    ("binomial non-binary response", lambda: lsa.mixed("pv1math ~ escs + (1 | schoolid)", _glmm_pisa(),
                                                       family="binomial"),
     lsa.FormulaError, r"response 'pv1math' must be 0 or 1 .* for family='binomial'; it has 3136 other value"),
    ("poisson negative response", lambda: lsa.mixed("escs ~ 1 + (1 | schoolid)", _glmm_pisa(), family="poisson"),
     lsa.FormulaError, r"response 'escs' must be non-negative integers \(counts\) for family='poisson'"),
    ("family unknown", lambda: lsa.mixed(_GLMM_F, _glmm_pisa(), family="gamma"), lsa.LsaError,
     r"family must be 'gaussian', 'binomial' or 'poisson'; got 'gamma'"),
    ("link unknown", lambda: lsa.mixed(_GLMM_F, _glmm_pisa(), family="poisson", link="logit"), lsa.LsaError,
     r"link 'logit' is not available for family='poisson'; allowed: \['log'\]"),
    ("gaussian with a link", lambda: lsa.mixed(_GLMM_F, _glmm_pisa(), link="logit"), lsa.DesignError,
     r"family='gaussian' has the identity link; got link='logit'"),
    ("n_quad zero", lambda: lsa.mixed(_GLMM_F, _glmm_pisa(), family="binomial", n_quad=0), lsa.LsaError,
     r"n_quad must be a positive integer \(1 = Laplace\); got 0"),
    ("n_quad too many points", lambda: lsa.mixed("likemath ~ escs + (1 + escs + pv1math | schoolid)", _glmm_pisa(),
                                                 family="binomial", n_quad=40), lsa.LsaError,
     r"n_quad=40 with 3 random effects gives 64000 quadrature points"),
    ("reml with a family", lambda: lsa.mixed(_GLMM_F, _glmm_pisa(), family="binomial", reml=True), lsa.DesignError,
     r"reml=True is only available for family='gaussian'"),
    ("three-level glmm", lambda: lsa.mixed("likemath ~ escs + (1 | schoolid/st04q01)", _glmm_pisa(),
                                           family="binomial"), lsa.DesignError, r"GLMMs are two-level models"),
    ("response expression unknown", lambda: lsa.mixed("log(pv1math) ~ escs + (1 | schoolid)", _glmm_pisa(),
                                                      family="poisson"), lsa.FormulaError,
     r"response 'log\(pv1math\)' is not a column of the data \(an expression must be written I\(...\)"),
    ("mix_pv family unknown", lambda: lsa.mix_pv("pv1math + pv2math ~ escs + (1 | schoolid)", _glmm_pisa(),
                                                 weights=["w_fstuwt", "w_fschwt"], family="gamma"),
     lsa.LsaError, r"family must be 'gaussian', 'binomial' or 'poisson'; got 'gamma'"),
    ("mix_pv n_quad", lambda: lsa.mix_pv("pv1math + pv2math ~ escs + (1 | schoolid)", _glmm_pisa(),
                                         weights=["w_fstuwt", "w_fschwt"], family="binomial", n_quad=1.5),
     lsa.LsaError, r"n_quad must be a positive integer \(1 = Laplace\); got 1.5"),
]


@pytest.mark.parametrize("case, call, exc, match", _GLMM_CASES, ids=[c[0] for c in _GLMM_CASES])
def test_glmm_bad_input(case, call, exc, match):
    with pytest.raises(exc, match=match) as info:
        call()
    assert "\n" not in str(info.value), str(info.value)


def test_glmm_separation_within_every_cluster_is_named():
    """Complete separation within all clusters (the response constant in each school): a
    SeparationWarning naming the response, the grouping factor and the counts, and the flag
    ``separation`` (the fit is kept, as lsa's logistic fits do)."""
    d = _glmm_pisa()
    d["y"] = (d.groupby("schoolid").escs.transform("mean") > d.escs.mean()).astype(float)
    with pytest.warns(lsa.errors.SeparationWarning, match=r"complete separation within every cluster of "
                      r"'schoolid': the response 'y' is constant within each of the 157 clusters \(\d+ all 0, "
                      r"\d+ all 1\)"):
        fit = lsa.mixed("y ~ escs + (1 | schoolid)", d, family="binomial", n_quad=1)
    assert fit.separation


def test_glmm_nonconvergence_warns_with_gradient_norm():
    with pytest.warns(lsa.errors.ConvergenceWarning, match=r"the GLMM optimiser did not converge: max \|gradient "
                      r"of l/N\| = [0-9.e+-]+ \(tolerance 1e-07\) after 1 iterations"):
        fit = lsa.mixed(_GLMM_F, _glmm_pisa(), family="binomial", control=lsa.MixedControl(maxiter=1, newton=0))
    assert not fit.converged and fit.grad_norm > 1e-7


def test_glmm_huge_weight_stays_finite():
    """A cluster whose weighted log-likelihood is of order −1e12 (conditional level-1 weights of
    1e12): the log-sum-exp keeps ℓ, the estimates and the SEs finite (never inf or NaN)."""
    d = _glmm_pisa()
    first = d.schoolid == d.schoolid.iloc[0]
    d["c1"] = np.where(first, 1e12, 1.0)
    d["c2"] = 1.0
    fit = lsa.mixed(_GLMM_F, d, weights=["c1", "c2"], conditional_weights=True, family="binomial")
    assert np.isfinite(fit.llf) and fit.llf < -1e10
    assert np.all(np.isfinite(fit.params)) and np.all(np.isfinite(fit.bse_model))


# --- issue 16 items 4-5: n_jobs under any joblib backend, the Dask backend, BLAS threads --------------

def _die_once(task, marker_dir):
    """Kill this Dask worker the first time task 1 runs (a marker file remembers it)."""
    import os
    from pathlib import Path
    marker = Path(marker_dir) / f"died_{task}"
    if task == 1 and not marker.exists():
        marker.write_text("x")
        os._exit(1)
    return task * 2


def _die_always(task, marker_dir):
    import os
    if task == 2:
        os._exit(1)
    return task


_PARALLEL_CASES = [
    ("mix_pv n_jobs text", lambda: lsa.mix_pv("MATH ~ escs + (1|school)", _small_sim_design(), n_jobs="2"),
     lsa.LsaError, r"n_jobs must be an integer; got '2'"),
    ("mix_pv n_jobs zero", lambda: lsa.mix_pv("MATH ~ escs + (1|school)", _small_sim_design(), n_jobs=0),
     lsa.LsaError, r"n_jobs must be a positive number of workers .*or None .*got 0"),
    ("dask_backend negative retries", lambda: lsa.parallel.dask_backend(retries=-1), lsa.LsaError,
     r"retries must be a non-negative integer; got -1"),
    ("set_blas_limit zero", lambda: lsa.threads.set_blas_limit(0), lsa.LsaError,
     r"limit must be a positive integer or None; got 0"),
    ("set_blas_limit text", lambda: lsa.threads.set_blas_limit("1"), lsa.LsaError,
     r"limit must be a positive integer or None; got '1'"),
]


def _small_sim_design():
    return lsa.datasets.simulate(n_schools=20, students_per_school=8, n_pvs=2, seed=1).design()


@pytest.mark.parametrize("case, call, exc, match", _PARALLEL_CASES, ids=[c[0] for c in _PARALLEL_CASES])
def test_parallel_bad_input(case, call, exc, match):
    import lsa.parallel  # noqa: F401
    import lsa.threads  # noqa: F401
    with pytest.raises(exc, match=match) as info:
        call()
    assert "\n" not in str(info.value), str(info.value)


def test_dask_worker_that_dies_is_retried(tmp_path):
    """A Dask worker killed while running a task: the scheduler reschedules the task on another
    worker (distributed.scheduler.allowed-failures), so a task that kills its worker once completes."""
    distributed = pytest.importorskip("distributed")
    import lsa.parallel as lp
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=50) as cluster, distributed.Client(cluster) as client:
        labels = [f"country C{k}, PV 1" for k in range(3)]
        with lp.dask_backend(client):
            out = dict(lp.run(_die_once, [0, 1, 2], labels, n_jobs=-1, shared=(str(tmp_path),)))
    assert out == {0: 0, 1: 2, 2: 4}
    assert (tmp_path / "died_1").exists()                     # the worker did die once


def test_a_lost_worker_names_the_unfinished_tasks(tmp_path):
    """A worker process that dies (loky: TerminatedWorkerError) cannot say which task it ran: the
    loop raises a TaskError listing the tasks that had not returned, with the advice on retries."""
    import joblib
    import lsa.parallel as lp
    labels = [f"country C{k}, PV 1" for k in range(3)]
    with joblib.parallel_config(backend="loky"):
        with pytest.raises(lp.TaskError, match=r"TerminatedWorkerError.*unfinished task\(s\): \[.*'country C2, PV 1'"
                                               r".*retries=2"):
            list(lp.run(_die_always, [0, 1, 2], labels, n_jobs=2, shared=(str(tmp_path),)))


# --- issue 16 items 2-3: all countries at once (simulate_international, by= groups by rows, mix_pv by=) ---

@pytest.fixture(scope="module")
def intl():
    return lsa.datasets.simulate_international(n_countries=3, n_students=3_000, n_schools=100, n_pvs=2,
                                               n_background=2, seed=1)


_INTL_SIZES = [
    ("n_replicates without a Hadamard matrix", {"n_replicates": 10},
     r"n_replicates must be a power of 2 or one more than a prime ≡ 3 \(mod 4\).*got 10"),
    ("n_countries zero", {"n_countries": 0}, r"n_countries must be an integer >= 1; got 0"),
    ("n_pvs a float", {"n_pvs": 2.5}, r"n_pvs must be an integer >= 1; got 2.5"),
    ("too few schools per country", {"n_countries": 10, "n_schools": 40},
     r"n_schools must be at least 8 per country \(80 for 10 countries\); got 40"),
]


@pytest.mark.parametrize("case, kwargs, match", _INTL_SIZES, ids=[c[0] for c in _INTL_SIZES])
def test_simulate_international_bad_sizes(case, kwargs, match):
    base = dict(n_countries=2, n_students=500, n_schools=40, n_background=1)
    with pytest.raises(lsa.LsaError, match=match):
        lsa.datasets.simulate_international(**{**base, **kwargs})


def test_by_column_not_in_the_data_names_the_nearest(intl):
    d = intl.design()
    with pytest.raises(lsa.DesignError, match=r"by: column\(s\) \['CNTT'\] not in the data \('CNTT': did you mean "
                                              r"\['CNT'"):
        lsa.mean(d, "MATH", by="CNTT")
    with pytest.raises(lsa.DesignError, match=r"by: column\(s\) \['ESC'\] not in the data \('ESC': did you mean "
                                              r"\['ESCS'"):
        lsa.lm(d, "MATH ~ FEMALE", by="ESC")
    with pytest.raises(lsa.DesignError, match=r"by: column\(s\) \['CTN'\] not in the data \('CTN': did you mean "
                                              r"\['CNT'"):
        lsa.mix_pv("MATH ~ ESCS + (1|school)", d, by="CTN")


def test_mix_pv_by_error_names_the_country(intl):
    d = intl.design()
    with pytest.raises(lsa.LsaError, match=r"CNT = 'C01': .*NOPE"):
        lsa.mix_pv("MATH ~ NOPE + (1|school)", d, by="CNT", progress=False)


def test_group_over_many_countries_checks_memory_first(intl, monkeypatch):
    """No by= on a pooled file with replicates nested within CNT: rows x (1 + 3 x 80) weights."""
    monkeypatch.setenv("LSA_AVAILABLE_MEMORY", "1M")
    d = intl.design()
    with pytest.raises(lsa.errors.NotEnoughMemoryError,
                       match=r"weights of a group over 3 countries \(replicates nested within 'CNT': 240 replicate "
                             r"columns\): not enough memory.*Analyse by country \(by='CNT'"):
        lsa.mean(d, "MATH")
    assert len(lsa.mean(d, "MATH", by="CNT").tidy()) == 3             # by country fits in the same memory


# --- issue 15: read_study(subject=) for studies with one file set per subject (TIMSS Advanced) ----------

_SUBJECT_CASES = [
    ("subject on a study with one file set", dict(study="TIMSS", cycle=2019, subject="math"),
     r"subject applies to studies whose files are split by subject \(TIMSS Advanced\); TIMSS has one file set, "
     r"so leave subject=None; got 'math'"),
    ("unknown subject", dict(study="TIMSS Advanced", cycle=2015, subject="chemistry"),
     r"subject \(of TIMSS Advanced\) must be one of \['math', 'physics'\]; got 'chemistry'"),
    ("subject not text", dict(study="TIMSS Advanced", cycle=2015, subject=3),
     r"subject \(of TIMSS Advanced\) must be one of \['math', 'physics'\]; got 3"),
]


@pytest.mark.parametrize("case, kw, match", _SUBJECT_CASES, ids=[c[0] for c in _SUBJECT_CASES])
def test_read_study_subject_bad_input(tmp_path, case, kw, match):
    """Checked before any file is looked for: an empty folder is enough."""
    kw = dict(kw)
    with pytest.raises(lsa.LsaError, match=match) as info:
        lsa.io.read_study(tmp_path, kw.pop("study"), kw.pop("cycle"), **kw)
    assert "\n" not in str(info.value)


# --- issue 16: read_study reads the design's columns, the rest when named (lsa.io_lazy) -----------------

def _lazy_timss(folder):
    import pyreadstat

    n = 8
    stu = pd.DataFrame({"IDCNTRY": 40.0, "IDSCHOOL": np.repeat([1.0, 2.0], 4), "IDSTUD": np.arange(1.0, n + 1),
                        "TOTWGT": 1.0 + np.arange(n), "JKZONE": np.repeat([1.0, 2.0], 4), "JKREP": np.tile([0.0, 1.0], 4),
                        "BSBG04": np.arange(n) % 3 + 1.0, **{f"BSMMAT0{m}": 500.0 + np.arange(n) for m in range(1, 6)}})
    sch = pd.DataFrame({"IDCNTRY": 40.0, "IDSCHOOL": [1.0, 2.0], "SCHWGT": [1.5, 2.5]})
    pyreadstat.write_sav(stu, str(folder / "bsgautm7.sav"))
    pyreadstat.write_sav(sch, str(folder / "bcgautm7.sav"))
    return lsa.io.read_study(folder, "TIMSS", 2019)


_LAZY_CASES = [
    ("name not in the files", lambda df: lsa.io.load_columns(df, ["BSBG4"]), lsa.io.ColumnNotFoundError,
     r"TIMSS 2019: columns not found in the files: \['BSBG4'\]\. Nearest names in the file: BSBG4 -> \['BSBG04'\]"),
    ("not a study frame", lambda df: lsa.io.load_columns(pd.DataFrame(df), "BSBG04"), lsa.LsaError,
     r"load_columns needs a frame read by lsa.io.read_study \(or a design built on one\); got DataFrame"),
    ("rows renumbered", lambda df: df.iloc[::-1].reset_index(drop=True)["BSBG04"], lsa.errors.StudyError,
     r"TIMSS 2019: the frame's rows no longer match the files it was read from \(renumbered, re-sorted or recoded "
     r"ids\), so further columns cannot be placed"),
    ("ids dropped", lambda df: df.drop(columns=["IDCNTRY", "IDSCHOOL", "IDSTUD"])["BSBG04"], lsa.errors.StudyError,
     r"TIMSS 2019: the frame holds none of the id columns \['IDCNTRY', 'IDSCHOOL', 'IDSTUD'\]"),
    ("analysis of a renumbered frame", lambda df: lsa.mean(lsa.design_from_study(
        "TIMSS", 2019, df.iloc[::-1].reset_index(drop=True)), "BSBG04"), lsa.errors.StudyError,
     r"the frame's rows no longer match the files"),
    ("progress text", lambda df: lsa.io.read_study(df.attrs["folder_for_test"], "TIMSS", 2019, progress="yes"),
     lsa.LsaError, r"progress must be True, False or None; got 'yes'"),
    ("columns a number", lambda df: lsa.io.read_study(df.attrs["folder_for_test"], "TIMSS", 2019, columns=5),
     lsa.LsaError, r"columns must be a column name or a list of column names; got 5"),
    ("school_columns not names", lambda df: lsa.io.read_study(df.attrs["folder_for_test"], "TIMSS", 2019,
                                                              school_columns=["SCHWGT", None]),
     lsa.LsaError, r"school_columns must be a column name or a list of column names; got \['SCHWGT', None\]"),
]


@pytest.mark.parametrize("case, call, error, match", _LAZY_CASES, ids=[c[0] for c in _LAZY_CASES])
def test_study_frame_bad_input(tmp_path, case, call, error, match):
    df = _lazy_timss(tmp_path)
    df.attrs = {**df.attrs, "folder_for_test": tmp_path}
    with pytest.raises(error, match=match) as info:
        call(df)
    assert "\n" not in str(info.value)
