"""Study dictionaries: loading, validation, study_info, studies() and design_from_study."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lsa.dictionaries as D
from lsa.datasets import load
from lsa.dictionaries import DictionaryError, design_from_study, studies, study_info
from lsa.errors import DesignError, LsaWarning, StudyError
from lsa.replicates import Replicates

DATA = Path(__file__).parent / "data"


# -- loading and validation ----------------------------------------------------------------------
def test_every_dictionary_loads_and_validates():
    for s in D.STUDIES:
        D._study_doc.cache_clear()
        doc = D._study_doc(s)
        assert doc["cycles"], s


def test_studies_is_tidy():
    df = studies()
    assert {"pisa", "timss", "pirls", "piaac", "talis", "icils", "iccs"} <= set(df["study"])
    for col in ("study", "cycle", "grade", "final_weight", "method", "variance_factor", "pv_variance",
                "n_pv", "pv_roots", "n_unverified", "unverified"):
        assert col in df.columns
    assert not df.duplicated(["study", "cycle", "grade"]).any()
    timss = df[(df.study == "timss") & (df.cycle == "2019")]
    assert sorted(timss.grade.tolist()) == [4, 8]
    assert df.loc[(df.study == "pisa") & (df.cycle == "2018"), "n_pv"].item() == 10


def test_broken_yaml_is_reported(monkeypatch):
    good = D._read_yaml("pisa")

    def bad(study):
        doc = dict(good)
        doc["cycles"] = {"2003": {"pv": {"n": 5, "pattern": "PV{m}{root}", "variance": "some"}}}
        return doc

    D._study_doc.cache_clear()
    monkeypatch.setattr(D, "_read_yaml", bad)
    with pytest.raises(DictionaryError, match="pv.variance"):
        D._study_doc("pisa")
    monkeypatch.setattr(D, "_read_yaml", lambda s: {"study": s, "name": "X"})
    D._study_doc.cache_clear()
    with pytest.raises(DictionaryError, match="cycles"):
        D._study_doc("pisa")
    D._study_doc.cache_clear()


# -- study_info ----------------------------------------------------------------------------------
def test_pisa_info():
    i = study_info("PISA", 2003)
    assert i.method == "fay" and i.replication["k"] == 0.5 and i.variance_factor == 0.05
    assert i.replicate_columns()[0] == "W_FSTR1" and len(i.replicate_columns()) == 80
    assert i.pv_names("MATH") == [f"PV{m}MATH" for m in range(1, 6)]
    assert "PROB" in i.pv_roots and i.pv_variance == "all"
    assert i.merge_keys["student_school"] == ("CNT", "SCHOOLID")
    assert i.benchmark("MATH")["cuts"][0] == 357.77
    assert i.is_unverified("weights.school") and not i.is_unverified("weights.final")
    j = study_info("pisa", "2018")
    assert j.replicate_columns()[-1] == "W_FSTURWT80" and j.pv_n == 10
    assert j.ids["school"] == "CNTSCHID"


def test_timss_rules_change_in_2015():
    old, new = study_info("timss", 2011, grade=4), study_info("timss", 2019, grade="G8")
    assert (old.replication["both_halves"], old.variance_factor, old.pv_variance) == (False, 1.0, "first")
    assert (new.replication["both_halves"], new.variance_factor, new.pv_variance) == (True, 0.5, "all")
    assert old.pv_names("ASMMAT")[0] == "ASMMAT01" and "BSMMAT" in new.pv_roots
    assert old.benchmark("ASMMAT")["cuts"] == (400, 475, 550, 625)
    assert old.is_unverified("files.suffix") and not new.is_unverified("files.suffix")
    assert study_info("pirls", 2011).pv_variance == "first"
    assert study_info("pirls", 2016).variance_factor == 0.5


def test_other_studies():
    p = study_info("piaac", "cycle1")
    assert p.cycle == "2012" and p.method == "country_specific" and p.pv_names("PVLIT")[-1] == "PVLIT10"
    assert p.is_unverified("replication.variance_factor_by_method.JK1")
    t = study_info("talis", 2018)
    assert t.method == "fay" and t.variance_factor == 0.04 and t.pv_n is None and not t.pv_roots
    assert study_info("icils", 2018).pv_roots == ("CIL", "CT")
    assert study_info("iccs", 2016).benchmark("CIV")["cuts"] == (311, 395, 479, 563)
    assert study_info("TIMSS Advanced", 2015).variance_factor == 0.5
    assert "<cycle>" in study_info("talis", 2008).unverified


def test_unknown_study_cycle_grade():
    with pytest.raises(StudyError, match="Known studies: pisa, timss") as e:
        study_info("pisaa", 2003)
    assert isinstance(e.value, KeyError) and isinstance(e.value, DesignError)
    with pytest.raises(StudyError, match=r"Known cycles of PISA: 2000, 2003.*2022"):
        study_info("pisa", 2004)
    with pytest.raises(StudyError, match=r"Known grades: \[8\]"):
        study_info("timss", 1999, grade=4)


# -- design_from_study ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def nld():
    return load("pisa2003_nld")


def test_pisa_design(nld):
    d = design_from_study("pisa", 2003, nld)
    assert set(d.pvs) == {"MATH", "MATH1", "MATH2", "MATH3", "MATH4", "READ", "SCIE", "PROB"}
    assert d.replicates.method == "fay" and d.replicates.factor == pytest.approx(0.05)
    assert d.replicates.columns[0] == "W_FSTR1" and d.n_replicates == 80
    assert d.weights["student"] == "W_FSTUWT" and d.ids == {"school": "SCHOOLID"}
    assert d.pv_variance == "all" and d.study == "pisa" and d.cycle == "2003"
    assert d.benchmarks["MATH"]["cuts"][0] == 357.77


def test_columns_are_matched_case_insensitively(nld):
    low = nld.rename(columns=str.lower)
    d = design_from_study("pisa", "2003", low)
    assert d.weights["student"] == "w_fstuwt" and d.pvs["MATH"][0] == "pv1math"
    assert d.replicates.columns[-1] == "w_fstr80"


def test_missing_columns_are_listed(nld):
    with pytest.raises(StudyError) as e:
        design_from_study("pisa", 2003, nld.drop(columns=["W_FSTUWT", "W_FSTR7"]))
    msg = str(e.value)
    assert "W_FSTUWT" in msg and "W_FSTR7" in msg and "Found columns: COUNTRY, CNT" in msg
    # the wrong cycle: 2015 expects W_FSTURWT
    with pytest.raises(StudyError, match="W_FSTURWT1..W_FSTURWT80.*W_FSTR1.*is the cycle right"), \
            pytest.warns(LsaWarning, match="incomplete plausible-value sets"):  # 5 PVs where 2015 has 10
        design_from_study("pisa", 2015, nld)


def test_overrides(nld):
    d = design_from_study("pisa", 2003, nld, pv_variance="first", pvs={"MATH": [f"PV{m}MATH" for m in range(1, 6)]},
                          replicates=Replicates.fay([f"W_FSTR{r}" for r in range(1, 81)], k=0.5))
    assert d.pv_variance == "first" and list(d.pvs) == ["MATH"]
    # an overridden item is not required from the data
    d = design_from_study("pisa", 2003, nld.drop(columns=["W_FSTR5"]), replicates=None)
    assert d.replicates is None
    with pytest.raises(DesignError, match="unknown arguments"):
        design_from_study("pisa", 2003, nld, weight="W_FSTUWT")


def test_partial_pv_sets_are_left_out_with_a_warning(nld):
    with pytest.warns(LsaWarning, match="MATH1"):
        d = design_from_study("pisa", 2003, nld.drop(columns=["PV3MATH1"]))
    assert "MATH1" not in d.pvs and "MATH" in d.pvs


@pytest.fixture(scope="module")
def timss():
    return load("timss2011_aut_g4")


def test_timss_pv_name_variants(timss):
    d = design_from_study("timss", 2011, timss, grade=4)
    assert d.pvs["ASMMAT"] == ("ASMMAT1", "ASMMAT2", "ASMMAT3", "ASMMAT4", "ASMMAT5")
    iea = timss.rename(columns={f"ASMMAT{m}": f"ASMMAT0{m}" for m in range(1, 6)})
    d2 = design_from_study("timss", 2011, iea)  # grade inferred from the PV roots present
    assert d2.pvs["ASMMAT"][0] == "ASMMAT01" and "ASSSCI" in d2.pvs
    assert d.ids == {"school": "idschool", "class": "idclass"}
    assert d.weights == {"school": "SCHWGT", "student": "TOTWGT"}
    assert d.replicates.zone == "JKZONE" and not d.replicates.both_halves and d.replicates.factor == 1.0
    assert design_from_study("timss", 2019, timss).replicates.both_halves


def test_timss_replicates_match_the_shipped_replicate_weights(timss):
    """JK2 built from JKZONE/JKREP equals BIFIEsurvey's 75 TIMSS replicate weights (checked in full
    against repweights_timssrep.csv when the fixture was made; the fixture keeps every column's
    sum, weighted PV1 sum and zero/doubled counts, and 3 full columns)."""
    d = design_from_study("timss", 2011, timss, grade=4)
    w = d.replicates.weights(timss, timss["TOTWGT"].to_numpy())
    assert w.shape == (4668, 75)
    ref = pd.read_csv(DATA / "timss2011_aut_g4_repweight_sums.csv")
    np.testing.assert_allclose(w.sum(0), ref.sum_w, rtol=1e-8)
    np.testing.assert_allclose((w * timss["ASMMAT1"].to_numpy()[:, None]).sum(0), ref.sum_w_asmmat1, rtol=1e-8)
    np.testing.assert_array_equal((w == 0).sum(0), ref.n_zero)
    np.testing.assert_array_equal(np.isclose(w, 2 * timss["TOTWGT"].to_numpy()[:, None], rtol=1e-6).sum(0),
                                  ref.n_doubled)
    cols = pd.read_csv(DATA / "timss2011_aut_g4_repweights_3cols.csv.gz")
    assert (cols.IDSTUD.to_numpy() == timss.IDSTUD.to_numpy()).all()
    for j, c in ((0, "w_fstr01"), (37, "w_fstr38"), (74, "w_fstr75")):
        np.testing.assert_allclose(w[:, j], cols[c], atol=2e-5)  # the two files round TOTWGT differently


def test_timss_without_jackknife_columns_is_an_error(timss):
    with pytest.raises(StudyError, match="JKZONE, JKREP"):
        design_from_study("timss", 2011, timss.drop(columns=["JKREP"]))


def test_piaac_uses_venreps_and_vemethod():
    rus = load("piaac2012_rus")
    d = design_from_study("piaac", 2012, rus)
    assert d.n_replicates == 12 and d.replicates.factor == 1.0 and d.pvs["PVLIT"][-1] == "PVLIT10"
    fl = load("piaac2012_bel_flanders")
    assert design_from_study("piaac", 2012, fl).n_replicates == 80
    jk1 = fl.assign(VEMETHOD="JK1 ")
    d = design_from_study("piaac", 2012, jk1)
    assert d.replicates.method == "jk1" and d.replicates.factor == pytest.approx(79 / 80)
    mixed = pd.concat([fl.head(50), rus.head(50).assign(VEMETHOD="JK1")], ignore_index=True)
    d = design_from_study("piaac", 2012, mixed)          # issue 12: each country its own scheme
    assert d.replicates.method == "by_country" and d.n_replicates == 80 + 12
    with pytest.raises(DesignError, match="VEMETHOD"):   # a method that varies within a country
        design_from_study("piaac", 2012, mixed.assign(CNTRYID="Belgium"))
    with pytest.raises(StudyError, match="VEMETHOD"):
        design_from_study("piaac", 2012, fl.drop(columns=["VEMETHOD"]))


def test_talis_design():
    rng = np.random.default_rng(1)
    n = 40
    df = pd.DataFrame({"IDSCHOOL": np.repeat(np.arange(10), 4), "tchwgt": rng.uniform(1, 3, n),
                       "TT3G01": rng.integers(1, 3, n).astype(float)})
    half = rng.integers(0, 2, (n, 100))
    reps = df.tchwgt.to_numpy()[:, None] * np.where(half == 1, 1.5, 0.5)
    df = pd.concat([df, pd.DataFrame(reps, columns=[f"TRWGT{r}" for r in range(1, 101)])], axis=1)
    d = design_from_study("talis", 2018, df)
    assert d.replicates.method == "fay" and d.replicates.factor == pytest.approx(0.04)
    assert d.weights == {"teacher": "tchwgt"} and not d.pvs


def test_school_ids_made_unique_across_countries():
    """School ids numbered within country (PISA SCHOOLID, IEA IDSCHOOL) get a combined
    country:school id when the data hold several countries; estimates by country are unchanged
    (closed form: the same rows and weights, 1e-12)."""
    import lsa

    nld = lsa.datasets.load("pisa2003_nld")
    two = pd.concat([nld, nld.assign(CNT="XXX")], ignore_index=True)
    design = lsa.SurveyDesign.from_study("PISA", 2003, two)
    assert design.ids["school"] == "SCHOOLID_CNT"
    assert design.data["SCHOOLID_CNT"].nunique() == 2 * nld["SCHOOLID"].nunique()
    assert "SCHOOLID_CNT" not in two.columns                      # the user's frame is untouched
    one = lsa.mean(lsa.SurveyDesign.from_study("PISA", 2003, nld), "MATH").tidy()
    both = lsa.mean(design, "MATH", by="CNT").tidy()
    np.testing.assert_allclose(both["estimate"], one["estimate"].iloc[0], rtol=1e-12)
