"""Recipes, the report and the command line.

Oracles: the published figures listed in each shipped recipe (checked by the runner itself to
the printed digit), and the files the report must contain.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lsa.cli import main
from lsa.report.recipe import RecipeError, load_recipe
from lsa.report.runner import run_recipe

RECIPES = sorted((Path(__file__).parent.parent / "lsa" / "recipes").glob("*.toml"))


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_shipped_recipes_reproduce_their_published_numbers(recipe, tmp_path):
    res = run_recipe(recipe, tmp_path, quiet=True)
    failures = [(o.name, o.error) for o in res.outcomes if o.error]
    assert not failures, failures
    for o in res.outcomes:
        if o.checks is not None:
            assert o.checks["ok"].all(), o.checks[~o.checks["ok"]].to_string()
    assert res.exit_code == 0


def test_demo_writes_a_self_contained_report(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    html = (tmp_path / "report.html").read_text()
    assert "<svg" in html and "Published vs lsa" in html and "Provenance" in html and "sha256" in html
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "") and "https://" not in html
    assert "src=" not in html                                # nothing loaded from elsewhere
    md = (tmp_path / "report.md").read_text()
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["ok"] is True
    # the Markdown table's MATH row shows the published OECD (2004) figures, 538 (3.1), within their
    # rounding, and each printed number equals the full-precision one in results.json to half a unit of
    # its last printed digit
    header, math_row = _md_table_row(md, "Mean performance", "MATH")
    printed = dict(zip(header, math_row))
    full = next(r for a in results["analyses"] if a["name"] == "Mean performance" for r in a["results"]
                if r["term"] == "MATH")
    for col, published, tol in (("estimate", 538.0, 0.5), ("std_error", 3.1, 0.05)):
        value = float(printed[col])
        assert abs(value - published) <= tol, (col, value)
        decimals = len(printed[col].partition(".")[2])
        assert abs(value - full[col]) <= 0.5 * 10.0 ** -decimals + 1e-12, (col, printed[col], full[col])
    out = capsys.readouterr().out
    assert "537.82" in out and "3.13" in out                 # PISA 2003 NLD mathematics mean (SE)


def _md_table_row(md: str, section: str, first_cell: str):
    """(header cells, row cells) of the first Markdown table row starting with ``first_cell``
    after the heading ``## section``."""
    lines = md.split(f"## {section}", 1)[1].splitlines()
    table = [ln for ln in lines if ln.startswith("|")]
    cells = [[c.strip() for c in ln.strip("|").split("|")] for ln in table]
    row = next(c for c in cells[2:] if c[0] == first_cell)
    return cells[0], row


def write(tmp_path, text):
    p = tmp_path / "r.toml"
    p.write_text(text)
    return p


BASE = '''title = "t"
[data]
dataset = "pisa2003_nld"
[design]
study = "PISA"
cycle = 2003
'''


def test_unknown_keys_name_file_line_and_fix(tmp_path):
    with pytest.raises(RecipeError, match=r"r.toml, line 1: unknown key 'titel'"):
        load_recipe(write(tmp_path, 'titel = "x"\n[data]\ndataset = "x"\n[[analysis]]\nname="a"\nfunction="mean"\n'))
    p = write(tmp_path, BASE + '[[analysis]]\nname = "m"\nfunction = "mean"\nvariabels = ["MATH"]\n')
    res = run_recipe(p, tmp_path / "out", quiet=True)
    assert res.exit_code == 1
    assert "line 10" in res.outcomes[0].error and "'variabels'" in res.outcomes[0].error
    assert "variables" in res.outcomes[0].error                # the allowed options are listed
    with pytest.raises(RecipeError, match="does not exist"):
        load_recipe(tmp_path / "missing.toml")


def test_failing_analysis_is_reported_and_others_still_run(tmp_path):
    p = write(tmp_path, BASE + '''[[analysis]]
name = "bad"
function = "mean"
variables = ["NOSUCH"]
[[analysis]]
name = "good"
function = "mean"
variables = ["READ"]
  [[analysis.published]]
  term = "READ"
  estimate = 600
  digits = 0
''')
    res = run_recipe(p, tmp_path / "out", quiet=True)
    bad, good = res.outcomes
    assert "NOSUCH" in bad.error and good.error is None
    assert good.failed_checks == 1 and res.exit_code == 1
    html = (tmp_path / "out" / "report.html").read_text()
    assert "FAILED" in html and "OUTSIDE TOLERANCE" in html


def test_cli_help_studies_and_describe(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    assert main(["studies"]) == 0
    assert "timss" in capsys.readouterr().out.lower()
    sav = Path(__file__).parent / "data" / "SCH_USA_2018.sav"
    assert main(["describe", str(sav)]) == 0
    assert "IDSCHOOL" in capsys.readouterr().out.upper()
    proc = subprocess.run([sys.executable, "-m", "lsa.cli", "run", "no-such.toml"], capture_output=True, text=True)
    assert proc.returncode == 2 and "does not exist" in proc.stderr
