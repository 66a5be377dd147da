"""Reporting rules (flags), tables people hand in (Excel, IEA exhibit, league table) and the
notebook view of every result type (issue 12, items 6 and 7).

Oracles:
* the PISA rule (at least 30 students and 5 schools per cell) as printed in OECD (2019), PISA 2018
  Results (Volume III), Annex A5 "Reporting thresholds in PISA 2018"; the dictionary must carry
  it with that source; the other studies' rules carry a source or an ``unverified`` mark;
* student and school counts per cell computed independently with pandas ``groupby`` on the rows
  of positive weight; the flags follow from them by the rule (closed form);
* a cell of one student has no replicate variance (every replicate weight scales the same row:
  the ratio mean does not move), so its sampling SE is exactly zero; a percentage of 100 has
  zero total variance;
* the IEA exhibit's numbers equal lsa.percentages / lsa.mean on the same design (the same
  estimators, so to 1e-12) and the percentages of a group sum to 100 (closed form, 1e-9);
  the mean of a PV set equals the average over PVs of Σ w y / Σ w (closed form, 1e-8 relative);
* Excel cells read back with openpyxl equal the tidy table exactly (floats round-trip) and carry
  the number format of lsa.report.numbers' rule (decimals from the row's SE);
* the league table: the order by estimate, the average row last and the marks of a comparison
  table built by hand (and by lsa.compare).
"""

from __future__ import annotations

import os
import stat
import warnings

import numpy as np
import pandas as pd
import pytest

import lsa
from lsa.errors import DesignError, LsaError
from lsa.report import Report
from lsa.report.excel import Sheet, write_workbook
from lsa.report.exhibits import exhibit, league_table
from lsa.report.numbers import format_table
from lsa.report.rules import NO_RULES, cell_flags, footnotes, reporting_rules
from lsa.report.runner import run_recipe

openpyxl = pytest.importorskip("openpyxl")


@pytest.fixture(scope="module")
def nld():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = lsa.datasets.load("pisa2003_nld")
        return lsa.SurveyDesign.from_study("PISA", 2003, df)


@pytest.fixture(scope="module")
def by_grade(nld):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lsa.mean(nld, "MATH", by="ST01Q01")


# -- rules from the dictionaries -------------------------------------------------------------------
def test_pisa_rule_is_30_students_and_5_schools_with_its_source():
    r = reporting_rules("PISA")
    assert (r.min_observations, r.min_schools, r.unverified, r.mark) == (30, 5, (), "c")
    assert "PISA 2018 Results (Volume III), Annex A5" in r.source


@pytest.mark.parametrize("study", lsa.dictionaries.STUDIES)
def test_every_study_rule_has_a_source_or_an_unverified_mark(study):
    r = reporting_rules(study)
    assert r.source.strip()
    assert r.unverified or "not read" not in r.source           # an unread rule is marked unverified
    if study in ("timss", "pirls", "timss_advanced", "icils", "iccs"):
        assert set(r.unverified) == {"min_observations", "coverage"}
        assert [m for _, m in r.coverage] == ["r", "s", "x"]


def test_designs_without_a_study_have_no_minimum():
    t = pd.DataFrame({"estimate": [1.0, 2.0], "std_error": [0.5, 0.0], "n_obs": [1, 1], "n_schools": [1, 1]})
    assert list(cell_flags(t, NO_RULES)) == ["", "SE 0"]
    assert reporting_rules(None) is NO_RULES


def test_coverage_marks_take_the_lowest_threshold_crossed():
    r = reporting_rules("timss")
    t = pd.DataFrame({"estimate": 1.0, "std_error": 1.0, "n_obs": [90, 80, 60, 80],
                      "n_missing": [10, 20, 40, 120], "n_schools": 10})                # shares .9 .8 .6 .4
    assert list(cell_flags(t, r)) == ["", "coverage r", "coverage s", "coverage x"]
    notes = footnotes(cell_flags(t, r), r)
    assert "r: data available for at least 70% but less than 85% of the students of the cell (rule unverified)" in notes


# -- tidy(): n_schools and flag -------------------------------------------------------------------
def test_n_schools_and_flags_match_counts_by_hand(nld, by_grade):
    t = by_grade.tidy()
    assert list(t.columns[-2:]) == ["variable", "flag"] and "n_schools" in t.columns
    data = nld.data[nld.data["W_FSTUWT"] > 0]
    schools = data.groupby("ST01Q01")["SCHOOLID"].nunique()
    students = data.groupby("ST01Q01")["PV1MATH"].count()
    assert t["n_schools"].tolist() == schools.loc[t["ST01Q01"]].tolist()
    assert t["n_obs"].tolist() == students.loc[t["ST01Q01"]].tolist()
    expected = []
    for g in t["ST01Q01"]:
        f = (["few students"] if students[g] < 30 else []) + (["few schools"] if schools[g] < 5 else [])
        expected.append(f)
    single = t["n_obs"] == 1                                   # one student: no replicate variance
    got = [[p for p in f.split("; ") if p and p != "SE 0"] for f in t["flag"]]
    assert got == expected
    assert (t.loc[single, "flag"].str.endswith("SE 0")).all() and single.sum() == 1
    assert (t.loc[~single, "flag"].str.contains("SE 0") == False).all()  # noqa: E712


def test_se_zero_flag_without_a_study():
    rng = np.random.default_rng(3)
    n = 200
    d = pd.DataFrame({"school": np.repeat(np.arange(20), 10), "w": rng.uniform(1, 2, n),
                      "g": np.where(np.arange(n) < 100, "a", "b"), "y": rng.normal(size=n)})
    d["yes"] = np.where(d["g"] == "a", 1, rng.integers(0, 2, n))   # group a: 100 % "1"
    reps = []
    for r in range(8):
        d[f"r{r}"] = d["w"] * np.where(rng.integers(0, 2, n) == 1, 1.5, 0.5)
        reps.append(f"r{r}")
    des = lsa.SurveyDesign(d, ids={"school": "school"}, weights={"student": "w"},
                           replicates=lsa.Replicates.fay(reps, k=0.5))
    t = lsa.percentages(des, "yes", by="g").tidy()
    a = t[t["g"] == "a"]
    assert np.allclose(a["estimate"], [0.0, 100.0], rtol=0, atol=1e-12) and a["flag"].tolist() == ["SE 0", "SE 0"]
    assert (t[t["g"] == "b"]["flag"] == "").all()
    assert t["n_schools"].tolist() == [10, 10, 10, 10]         # schools 0-9 hold group a, 10-19 group b


def test_combined_imputations_keep_counts_and_flags(nld):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = lsa.mean([nld, nld], "MATH", by="ST01Q01")
        one = lsa.mean(nld, "MATH", by="ST01Q01")
    assert r.tidy()["n_schools"].tolist() == one.tidy()["n_schools"].tolist()
    assert [("few students" in f) for f in r.tidy()["flag"]] == [("few students" in f) for f in one.tidy()["flag"]]


# -- the report shows the flags -------------------------------------------------------------------
def test_report_marks_flagged_estimates_and_explains_them(by_grade):
    rep = Report("t").table(by_grade.tidy(), rules=by_grade.rules)
    html, md = rep.html(), rep.markdown()
    t = by_grade.tidy()
    grade7 = format_table(t)["estimate"].iloc[0]
    assert f"{grade7}<sup class=\"flag\">c</sup>" in html and f"{grade7}<sup>c</sup>" in md
    assert "c: fewer than 30 students or 5 schools with data" in html
    assert "‡: standard error of zero" in md and "PISA 2018 Results (Volume III)" in md
    assert "<th>flag</th>" not in html
    grade10 = format_table(t)["estimate"].iloc[3]
    assert f"<td>{grade10}</td>" in html                       # unflagged: no mark


def test_standard_error_zero_prints_as_0_not_0_00():
    out = format_table(pd.DataFrame({"term": ["a", "b"], "estimate": [100.0, 3.14159], "std_error": [0.0, 0.0047]}))
    assert out["std_error"].tolist() == ["0", "0.0047"] and out["estimate"].tolist() == ["100.00", "3.1416"]


# -- Excel ------------------------------------------------------------------------------------------
def test_to_excel_round_trips_values_formats_and_flags(by_grade, tmp_path):
    path = by_grade.to_excel(tmp_path / "grade.xlsx")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Mean"]
    ws = wb["Mean"]
    assert ws["A1"].value == "Mean" and ws["A2"].value == by_grade.note
    header = [c.value for c in ws[4]]
    t = by_grade.tidy()
    assert header == [*t.columns, "mark"]
    for i, row in enumerate(ws.iter_rows(min_row=5, max_row=4 + len(t)), start=0):
        cells = dict(zip(header, row))
        # openpyxl stores 16 significant digits (Excel itself keeps 15): equal to 1e-15 relative
        assert abs(cells["estimate"].value - t["estimate"].iloc[i]) <= 1e-15 * abs(t["estimate"].iloc[i])
        assert abs(cells["std_error"].value - t["std_error"].iloc[i]) <= 1e-15 * t["std_error"].iloc[i]
        assert cells["n_schools"].value == t["n_schools"].iloc[i]
        assert (cells["flag"].value or "") == t["flag"].iloc[i]
        se = t["std_error"].iloc[i]
        dec = max(2, 1 - int(np.floor(np.log10(se))))
        assert cells["std_error"].number_format == "#,##0." + "0" * dec
        assert cells["estimate"].number_format == cells["std_error"].number_format
        assert cells["p_value"].number_format == "0.000" if cells["p_value"].value is not None else True
    assert [ws.cell(row=5 + i, column=header.index("mark") + 1).value or "" for i in range(len(t))] == \
        ["c" if f.startswith("few") and "SE 0" not in f else ("c‡" if "SE 0" in f else "") for f in t["flag"]]
    notes = [ws.cell(row=r, column=1).value for r in range(6 + len(t), ws.max_row + 1)]
    assert any(str(n).startswith("c: fewer than 30 students") for n in notes)
    assert ws.freeze_panes == "A5"


def test_lsa_run_writes_one_sheet_per_analysis(tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text('title = "t"\n[data]\ndataset = "pisa2003_nld"\n[design]\nstudy = "PISA"\ncycle = 2003\n'
                      '[[analysis]]\nname = "Maths by grade: all"\nfunction = "mean"\nvariables = "MATH"\nby = "ST01Q01"\n'
                      '[[analysis]]\nname = "Reading"\nfunction = "mean"\nvariables = "READ"\n'
                      '  [[analysis.published]]\n  term = "READ"\n  estimate = 513\n  digits = 0\n  source = "OECD (2004)"\n')
    res = run_recipe(recipe, tmp_path / "out", quiet=True)
    wb = openpyxl.load_workbook(res.paths["excel"])
    assert wb.sheetnames == ["Maths by grade_ all", "Reading", "Published vs lsa"]
    ws = wb["Reading"]
    assert [c.value for c in ws[4]][:3] == ["term", "estimate", "std_error"]
    assert abs(ws["B5"].value - res.outcomes[1].table["estimate"].iloc[0]) <= 1e-12     # 16 digits stored
    html = res.paths["html"].read_text()
    assert '<sup class="flag">c</sup>' in html and "c: fewer than 30 students" in html


def test_write_workbook_names_sheets_validly_and_uniquely(tmp_path):
    df = pd.DataFrame({"term": ["a"], "estimate": [1.0], "std_error": [0.25]})
    p = write_workbook(tmp_path / "w.xlsx", [Sheet("a/b:c" + "x" * 40, df), Sheet("a/b:c" + "x" * 40, df)])
    names = openpyxl.load_workbook(p).sheetnames
    assert len(names) == 2 and all(len(n) <= 31 and not set("[]:*?/\\") & set(n) for n in names)
    assert names[0] != names[1]


# -- every result type: to_excel and _repr_html_ ----------------------------------------------------
def _small_frame(seed=5):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(15), 8)
    x = rng.normal(size=g.size)
    y = 1 + 0.5 * x + rng.normal(size=15)[g] + rng.normal(size=g.size)
    return pd.DataFrame({"g": g, "x": x, "y": y, "y2": y + rng.normal(0, 0.3, g.size)})


def _results(by_grade):
    d = _small_frame()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mixed = lsa.mixed("y ~ x + (1|g)", d)
        clustered = lsa.robust.clustered("y ~ x", data=d, cluster="g")
        mixpv = lsa.mix_pv("y + y2 ~ x + (1|g)", d)
    return {"DesignResult": by_grade, "MixedResult": mixed, "ClusteredResult": clustered, "MixPVResult": mixpv}


def test_every_result_type_has_a_formatted_html_view_and_to_excel(by_grade, tmp_path):
    for name, res in _results(by_grade).items():
        html = res._repr_html_()
        assert "<table" in html and "lsa-result" in html, name
        assert ">0.00<" not in html, name                        # a standard error is never shown as 0.00
        p = res.to_excel(tmp_path / f"{name}.xlsx")
        ws = openpyxl.load_workbook(p).worksheets[0]
        header = [c.value for c in ws[4]]
        assert "estimate" in header and "std_error" in header, name
        first = dict(zip(header, [c.value for c in ws[5]]))
        assert abs(first["estimate"] - res.tidy()["estimate"].iloc[0]) <= 1e-12 * abs(first["estimate"]), name


def test_wald_test_and_pooled_mi_have_an_html_view():
    w = lsa.results.WaldTest(4.5, 2, np.inf, 0.105, "chi2", hypotheses=("x", "z"))
    html = w._repr_html_()
    assert "Wald test (chi2) of x, z" in html and "<td>4.50</td>" in html and "0.105" in html
    from lsa import pooling
    from lsa.impute.analysis import PooledMI

    p = pooling.rubin(np.array([[1.0, 2.0], [1.2, 2.1]]), np.array([np.eye(2) * 0.01] * 2), df_complete=50)
    fixed = pooling.t_table(p, ["a", "b"], columns=pooling.MODEL_TABLE_COLUMNS)
    mi = PooledMI(fixed, None, p, None, "flat", 2, 100)
    assert "Pooled over 2 completed data sets" in mi._repr_html_() and "<td>a</td>" in mi._repr_html_()


# -- IEA exhibit -------------------------------------------------------------------------------------
def test_exhibit_percent_and_mean_in_one_table(nld):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ex = exhibit(nld, "MATH", "ST03Q01")
        pct = lsa.percentages(nld, "ST03Q01").tidy()
        avg = lsa.mean(nld, "MATH", by="ST03Q01").tidy()
    assert list(ex.columns) == ["ST03Q01", "percent", "percent_se", "mean", "mean_se", "n_obs", "n_schools", "flag"]
    assert np.allclose(ex["percent"], pct["estimate"], rtol=1e-12) and np.allclose(ex["percent_se"], pct["std_error"], rtol=1e-12)
    assert np.allclose(ex["mean"], avg["estimate"], rtol=1e-12) and np.allclose(ex["mean_se"], avg["std_error"], rtol=1e-12)
    assert abs(ex["percent"].sum() - 100) < 1e-9                              # closed form
    d = nld.data
    for level, row in zip(ex["ST03Q01"], ex.itertuples()):
        sel = d["ST03Q01"].astype(str) == level
        w = d.loc[sel, "W_FSTUWT"].to_numpy()
        by_pv = [np.sum(w * d.loc[sel, f"PV{m}MATH"]) / w.sum() for m in range(1, 6)]
        assert abs(row.mean - np.mean(by_pv)) <= 1e-8 * abs(row.mean)       # closed form


def test_exhibit_wide_layout_has_one_row_per_country(nld):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        long = exhibit(nld, "MATH", "ST03Q01", over="ST01Q01")
        wide = exhibit(nld, "MATH", "ST03Q01", over="ST01Q01", layout="wide")
    assert len(wide) == long["ST01Q01"].nunique()
    assert list(wide.columns[:5]) == ["ST01Q01", "1.0: percent", "1.0: percent_se", "1.0: mean", "1.0: mean_se"]
    grade10 = long[(long["ST01Q01"] == 10) & (long["ST03Q01"] == "2.0")]
    assert wide.loc[wide["ST01Q01"] == 10, "2.0: mean"].item() == grade10["mean"].item()
    assert wide.loc[wide["ST01Q01"] == 7, "flag"].item().startswith("few students")
    assert (long.groupby("ST01Q01")["percent"].sum().sub(100).abs() < 1e-9).all()


# -- league table ------------------------------------------------------------------------------------
EST = pd.DataFrame({"CNT": ["ITA", "FRA", "MEX", "Average"], "term": "MATH", "estimate": [487.0, 495.0, 409.0, 463.7],
                    "std_error": [2.4, 2.3, 2.5, 1.4], "flag": ["", "", "few schools", ""]})
CMP = pd.DataFrame({"term": "MATH", "group": ["FRA", "ITA", "MEX"], "reference": "Average",
                    "estimate": [31.3, 23.3, -54.7], "std_error": [2.0, 2.1, 2.2], "statistic": [15.6, 11.1, -24.9],
                    "p_value": [1e-9, 1e-9, 0.2], "mark": ["higher", "higher", "not significant"]})


def test_league_table_sorts_marks_and_puts_the_average_last():
    lt = league_table(EST, comparison=CMP)
    assert lt["CNT"].tolist() == ["FRA", "ITA", "MEX", "Average"]
    assert lt["mark"].tolist() == ["▲", "▲", "", ""]
    assert lt["diff"].tolist()[:3] == [31.3, 23.3, -54.7] and np.isnan(lt["diff"].iloc[3])
    assert lt["flag"].tolist() == ["", "", "few schools", ""]
    derived = league_table(EST, comparison=CMP.drop(columns="mark"))         # marks from p < alpha and the sign
    assert derived["mark"].tolist() == ["▲", "▲", "", ""]
    plain = league_table(EST.iloc[:3], average=(463.7, 1.4), descending=False)
    assert plain["CNT"].tolist() == ["MEX", "ITA", "FRA", "Average"]


def test_league_table_takes_lsa_average_and_compare():
    rng = np.random.default_rng(12)
    n = 120
    d = pd.DataFrame({"CNT": np.repeat(["AAA", "BBB", "CCC"], n // 3), "w": rng.uniform(1, 3, n)})
    for m in (1, 2):
        d[f"PV{m}MATH"] = rng.normal(500, 100, n) + np.repeat([0, 40, -40], n // 3)
    reps = []
    for r in range(1, 5):
        d[f"r{r}"] = d["w"] * np.where(rng.integers(0, 2, n) == 1, 1.5, 0.5)
        reps.append(f"r{r}")
    des = lsa.SurveyDesign(d, weights={"student": "w"}, pvs={"MATH": ["PV1MATH", "PV2MATH"]},
                           replicates=lsa.Replicates.fay(reps, k=0.5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = lsa.mean(des, "MATH", by="CNT")
        avg, cmp = lsa.average(m), lsa.compare(m)
    lt = league_table(avg, comparison=cmp)
    t = m.tidy().sort_values("estimate", ascending=False)
    assert lt["CNT"].tolist() == [*t["CNT"], "Average"]
    ct = cmp.tidy().set_index("group")
    for c, mark in zip(lt["CNT"][:3], lt["mark"][:3]):
        assert mark == {"higher": "▲", "lower": "▼", "not significant": ""}[ct.loc[c, "mark"]]


# -- bad input ----------------------------------------------------------------------------------------
def test_to_excel_to_an_unwritable_path_names_it(by_grade, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.access(locked, os.W_OK):                          # running as root: permissions do not bind
            target = tmp_path / "missing" / "r.xlsx"
            with pytest.raises(LsaError, match=f"{tmp_path / 'missing'} does not exist"):
                by_grade.to_excel(target)
        else:
            with pytest.raises(LsaError, match=f"cannot write the workbook {locked / 'r.xlsx'}"):
                by_grade.to_excel(locked / "r.xlsx")
    finally:
        locked.chmod(stat.S_IRWXU)
    with pytest.raises(LsaError, match=r"path must end in \.xlsx.*r\.csv"):
        by_grade.to_excel(tmp_path / "r.csv")
    with pytest.raises(LsaError, match="does not exist"):
        by_grade.to_excel(tmp_path / "nope" / "r.xlsx")


def test_unknown_grouping_is_named(nld):
    with pytest.raises(DesignError, match=r"group: column\(s\) \['GENDER'\] not in the data"):
        exhibit(nld, "MATH", "GENDER")
    with pytest.raises(DesignError, match=r"over: column\(s\) \['COUNTRY_X'\] not in the data"):
        exhibit(nld, "MATH", "ST03Q01", over="COUNTRY_X")
    with pytest.raises(LsaError, match="league_table: term 'READ' is not in the estimates"):
        league_table(EST, term="READ")
    with pytest.raises(LsaError, match=r"estimates lacks the column\(s\) \['country'\]"):
        league_table(EST, over="country")
