"""Recipes that reproduce international tables (issue 12 item 8): TIMSS 1999 three countries with
their composite average and marks, the perturbed PISA 2018 FRA/ITA/MEX extract, and a PISA
trend with the linking error.

Oracles (independent of the recipes' own [[analysis.published]] entries, which the runner checks
too):
* R ``survey::svrepdesign`` with country-specific zones (``tests/reference/multicountry.json``):
  the TIMSS per-country means and SEs, and the composite average, its SE and the country-vs-
  average differences as closed forms written out here on R's numbers, 1e-8 relative;
* R survey + mitools on the perturbed PISA extract (``tests/reference/compare_pisa2018_noisy.json``):
  per-country means, composite averages, country vs average, pairwise differences and the girls'
  means of the exhibit, 1e-8 relative;
* the trend's closed form SE = sqrt(SE_2018^2 + SE_2003^2 + LE^2) with the published 2018 figures,
  the dictionary's linking errors (2.80 math, 7.77 reading) and the 2003 SE of the data README
  (3.13, 2.85: two decimals, so 0.01);
* a recipe with a wrong mark fails (the checks can fail).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import lsa
from lsa.report.runner import run_recipe

RECIPES = Path(lsa.__file__).parent / "recipes"
REF = Path(__file__).parent / "reference"
MULTI = json.loads((REF / "multicountry.json").read_text())["timss1999"]
PISA = json.loads((REF / "compare_pisa2018_noisy.json").read_text())
REL = 1e-8


def close(a, b, rel=REL):
    assert abs(a - b) <= rel * max(abs(b), 1e-300), (a, b)


def outcome(res, name):
    return next(o for o in res.outcomes if o.name == name)


@pytest.fixture(scope="module")
def timss(tmp_path_factory):
    return run_recipe(RECIPES / "timss1999_g8_average.toml", tmp_path_factory.mktemp("timss"), quiet=True)


@pytest.fixture(scope="module")
def pisa(tmp_path_factory):
    return run_recipe(RECIPES / "pisa2018_fra_ita_mex_noisy.toml", tmp_path_factory.mktemp("pisa"), quiet=True)


@pytest.fixture(scope="module")
def trend(tmp_path_factory):
    return run_recipe(RECIPES / "pisa2003_2018_nld_trend.toml", tmp_path_factory.mktemp("trend"), quiet=True)


@pytest.mark.parametrize("name", ["timss", "pisa", "trend"])
def test_recipe_runs_and_reproduces_its_reference_numbers(name, request):
    res = request.getfixturevalue(name)
    assert [o.error for o in res.outcomes if o.error] == []
    n_checks = sum(len(o.checks) for o in res.outcomes if o.checks is not None)
    assert n_checks >= 10 and res.ok and res.exit_code == 0
    for o in res.outcomes:
        if o.checks is not None:
            assert o.checks["ok"].all(), o.checks[~o.checks["ok"]].to_string()


def test_timss_average_and_marks_equal_closed_forms_on_r(timss):
    ref = {r["IDCNTRY"]: r for r in MULTI["by_country"]}
    cnt = {"CHL": 152, "TWN": 158, "JPN": 392}
    est = {c: ref[i]["estimate"] for c, i in cnt.items()}
    se = {c: ref[i]["std_error"] for c, i in cnt.items()}
    n = 3
    avg = outcome(timss, "International average (composite)").table.set_index("CNTRY")
    close(avg.loc["Average", "estimate"], sum(est.values()) / n)                         # 1e-8
    close(avg.loc["Average", "std_error"], math.sqrt(sum(v**2 for v in se.values())) / n)  # 1e-8
    vs = outcome(timss, "Each country against the average").table.set_index("group")
    for c in cnt:
        var = ((n - 1) / n) ** 2 * se[c] ** 2 + sum(se[k] ** 2 for k in cnt if k != c) / n**2
        close(vs.loc[c, "estimate"], est[c] - sum(est.values()) / n)                     # 1e-8
        close(vs.loc[c, "std_error"], math.sqrt(var))                                     # 1e-8
    assert vs["mark"].to_dict() == {"CHL": "lower", "JPN": "higher", "TWN": "higher"}
    pair = outcome(timss, "Multiple comparisons (every pair)").table
    jt = pair[(pair["group"] == "JPN") & (pair["reference"] == "TWN")].iloc[0]
    close(jt["std_error"], math.hypot(se["JPN"], se["TWN"]))                              # 1e-8
    assert jt["mark"] == "lower" and 0.01 < jt["p_value"] < 0.05                           # z = -2.09
    league = outcome(timss, "Average achievement in mathematics (league table)").table
    assert league["CNTRY"].tolist() == ["TWN", "JPN", "CHL", "Average"]
    assert league["mark"].tolist() == ["▲", "▲", "▼", ""]


def test_pisa_tables_equal_r(pisa):
    avg = outcome(pisa, "Average of the three countries").table
    for stat in ("MATH", "READ"):
        row = avg[(avg["cnt"] == "Average") & (avg["term"] == stat)].iloc[0]
        close(row["estimate"], PISA["composite"][stat]["estimate"])                        # 1e-8
        close(row["std_error"], PISA["composite"][stat]["se"])                             # 1e-8
    vs = outcome(pisa, "Each country against the average").table
    for c in PISA["countries"]:
        row = vs[(vs["group"] == c) & (vs["term"] == "MATH")].iloc[0]
        close(row["estimate"], PISA["vs_average"]["MATH"][c]["estimate"])                 # 1e-8
        close(row["std_error"], PISA["vs_average"]["MATH"][c]["se"])                      # 1e-8
    ex = outcome(pisa, "Girls and boys: percent of students and mean mathematics (exhibit)").table
    girls = ex[ex["gender"] == "Female"].set_index("cnt")
    for c in PISA["countries"]:
        close(girls.loc[c, "mean"], PISA["girls"]["MATH"]["estimate"][c])                 # 1e-8
        close(girls.loc[c, "mean_se"], PISA["girls"]["MATH"]["se"][c])                    # 1e-8
    assert np.allclose(ex.groupby("cnt")["percent"].sum(), 100, rtol=1e-12)
    bonf = outcome(pisa, "Every pair of countries, Bonferroni-adjusted").table
    fi = bonf[(bonf["group"] == "FRA") & (bonf["reference"] == "ITA") & (bonf["term"] == "MATH")].iloc[0]
    close(fi["p_adjusted"], 3 * fi["p_value"])                                            # 3 distinct pairs
    assert fi["mark"] == "not significant"


def test_trend_uses_the_dictionary_linking_error_and_says_it_is_unverified(trend):
    for name, now, se_now, se_then_readme, le in (("Mathematics: change 2003 to 2018", 519, 2.6, 3.13, 2.80),
                                                   ("Reading: change 2003 to 2018", 485, 2.7, 2.85, 7.77)):
        o = outcome(trend, name)
        row = o.table.iloc[0]
        assert row["linking_error"] == pytest.approx(le, rel=1e-12)
        close(row["std_error"], math.sqrt(se_now**2 + row["std_error_then"] ** 2 + le**2))   # 1e-8
        assert abs(row["std_error"] - math.sqrt(se_now**2 + se_then_readme**2 + le**2)) < 0.01
        assert row["estimate"] == pytest.approx(now - row["estimate_then"], rel=1e-12)
        assert any("unverified" in n for n in o.notes)


def test_a_wrong_mark_fails_the_recipe(tmp_path):
    text = (RECIPES / "timss1999_g8_average.toml").read_text(encoding="utf-8")
    bad = text.replace('mark = "lower"\n  tolerance = 0.01\n  std_error_tolerance = 0.01\n  source = "closed form from '
                       'the README means"\n\n  [[analysis.published]]\n  term = "BSMMAT"\n  by = { group = "JPN" }',
                       'mark = "higher"\n  tolerance = 0.01\n  std_error_tolerance = 0.01\n  source = "closed form from '
                       'the README means"\n\n  [[analysis.published]]\n  term = "BSMMAT"\n  by = { group = "JPN" }', 1)
    assert bad != text
    (tmp_path / "bad.toml").write_text(bad, encoding="utf-8")
    res = run_recipe(tmp_path / "bad.toml", tmp_path / "out", quiet=True)
    checks = outcome(res, "Each country against the average").checks
    assert not res.ok and res.exit_code == 1
    assert checks[~checks["ok"]][["term", "statistic", "lsa"]].values.tolist() == [["BSMMAT [CHL]", "mark", "lower"]]
    assert "mark(s) differing" in (tmp_path / "out" / "report.html").read_text(encoding="utf-8")


def test_outputs_show_the_table_layout(timss, pisa):
    from openpyxl import load_workbook

    html = timss.paths["html"].read_text(encoding="utf-8")
    assert "▲" in html and "▼" in html and "difference from the average" in html
    assert "0.00</td>" not in html.split("International average (composite)")[1].split("</table>")[0]  # counts whole
    wb = load_workbook(pisa.paths["excel"])
    assert "Published vs lsa" in wb.sheetnames and len(wb.sheetnames) == len(pisa.outcomes) + 1
    ws = wb["Published vs lsa"]
    header = [c.value for c in ws[4]]
    first = {h: ws.cell(row=5, column=j + 1) for j, h in enumerate(header)}
    assert first["published"].value == 485.5786 and first["published"].number_format == "#,##0.0000"
    assert first["lsa"].number_format == "#,##0.00000"
    avg = wb["Average of the three countries"]
    counts = [avg.cell(row=r, column=[c.value for c in avg[4]].index("n_countries") + 1).value
              for r in range(5, avg.max_row + 1)]
    assert counts[-2:] == [3, 3] and all(v is None for v in counts[:-2])


def test_bundled_international_datasets():
    t = lsa.datasets.load("timss1999_g8_3cnt")
    assert t.shape == (3000, 16) and t["CNTRY"].value_counts().to_dict() == {"CHL": 1076, "TWN": 1039, "JPN": 885}
    p = lsa.datasets.load("pisa2018_noisy")
    assert p.shape == (1269, 191) and p["cnt"].value_counts().to_dict() == {"ITA": 593, "MEX": 365, "FRA": 311}


def test_a_step_naming_no_earlier_analysis_is_reported(tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text('title = "x"\n[data]\ndataset = "timss1999"\n[design]\nstudy = "TIMSS"\ncycle = 1999\ngrade = 8\n'
                      '[[analysis]]\nname = "avg"\nfunction = "average"\nof = "Means"\nover = "CNTRY"\n', encoding="utf-8")
    res = run_recipe(recipe, tmp_path / "out", quiet=True)
    err = res.outcomes[0].error
    assert "of = the name of an earlier analysis" in err and "'Means'" in err and "line 11" in err
