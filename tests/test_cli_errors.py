"""The command line's error contract, truncated-file detection, and the numbers in reports.

Oracles:
- CLI: the contract in ``lsa/cli.py``: a user error (any ``LsaError``, an ``OSError`` of a file or
  folder) is one line ``lsa: error: ...`` on stderr and exit code 2; an internal error keeps its
  traceback. Checked through ``lsa.cli.main`` and once through the installed ``lsa`` script.
- Truncation: files cut from the bundled TIMSS 2019 USA student file (7,986 rows x 31 variables)
  and from files written here with pyreadstat (5,000 rows); pyreadstat reads their headers, and
  lsa must refuse them.
- Numbers: the closed form ``decimals = max(digits, 1 - floor(log10 |SE|))`` of
  ``lsa/report/numbers.py``, written out by hand below for each case; for the rendered report,
  the correlation's SE from ``tidy()`` printed with those decimals.
"""

import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from lsa import cli
from lsa.errors import ReadError
from lsa.io import describe, read_spss, read_stata
from lsa.report.numbers import decimals_for, format_number, format_table
from lsa.report.runner import run_recipe

STU = Path(__file__).parent / "data" / "STU_USA_2018.sav"


# -- truncated files ----------------------------------------------------------------------------
def test_pyreadstat_reads_the_header_of_a_truncated_file_and_lsa_refuses_it(tmp_path):
    """The mechanism behind "7986 rows x 31 variables" for an unreadable file: the header alone
    is intact; the check must come from reading the data."""
    half = tmp_path / "half.sav"
    half.write_bytes(STU.read_bytes()[: STU.stat().st_size // 2])
    _, meta = pyreadstat.read_sav(str(half), metadataonly=True)
    assert (meta.number_rows, len(meta.column_names)) == (7986, 31)       # the header says "complete"
    with pytest.raises(ReadError, match=r"half\.sav is truncated or damaged: its header declares 7,986 rows"):
        describe(half)
    assert describe(STU).n_rows == 7986                                  # the intact file still passes


@pytest.mark.parametrize("fmt", ["dta", "zsav", "sav-compressed"])
def test_truncated_files_of_each_format(tmp_path, fmt):
    df = pd.DataFrame({"a": np.arange(5000.0), "b": np.linspace(0, 1, 5000)})
    full = tmp_path / f"x.{fmt.split('-')[0]}"
    if fmt == "dta":
        pyreadstat.write_dta(df, str(full))
    else:
        pyreadstat.write_sav(df, str(full), compress=fmt == "zsav", row_compress=fmt == "sav-compressed")
    reader = read_stata if fmt == "dta" else read_spss
    assert len(reader(full)) == 5000
    cut = tmp_path / f"cut{full.suffix}"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(ReadError, match=r"cut\.(dta|zsav|sav)"):
        reader(cut)
    with pytest.raises(ReadError, match=r"cut\.(dta|zsav|sav)"):
        describe(cut)


# -- the command line ----------------------------------------------------------------------------
def test_describe_of_a_truncated_file_fails_with_exit_2(tmp_path, capsys):
    cut = tmp_path / "BSGUSAM7.sav"
    cut.write_bytes(STU.read_bytes()[:-10])
    assert cli.main(["describe", str(cut)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""                                            # no "7986 rows x 31 variables"
    assert re.fullmatch(r"lsa: error: .*BSGUSAM7\.sav is truncated or damaged.*\n", captured.err)
    shutil.copy(STU, cut)
    assert cli.main(["describe", str(cut)]) == 0
    assert "7986 rows x 31 variables" in capsys.readouterr().out


def test_installed_lsa_script_exit_code_and_no_traceback(tmp_path):
    script = Path(sys.executable).parent / "lsa"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "lsa.cli"]
    proc = subprocess.run(cmd + ["describe", str(tmp_path / "missing.sav")], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == f"lsa: error: {tmp_path / 'missing.sav'}: no such file.\n"
    assert proc.stdout == ""


def test_internal_errors_keep_their_traceback(monkeypatch):
    """A bug is not a user error: it is not turned into exit code 2."""
    def broken(args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(cli, "_studies", broken)
    with pytest.raises(ZeroDivisionError):
        cli.main(["studies"])


def test_user_error_message_of_os_errors():
    exc = PermissionError(13, "Permission denied", "/root/x")
    assert cli.user_error_message(exc) == "Permission denied: /root/x"
    assert cli.user_error_message(ReadError("a.sav: no such\nfile.")) == "a.sav: no such file."


# -- numbers in reports --------------------------------------------------------------------------
@pytest.mark.parametrize("value, digits, expected", [
    (0.0047, 2, 4),      # 1 - floor(log10 0.0047) = 1 - (-3)
    (0.0123, 2, 3),      # 1 - (-2)
    (0.047, 2, 3),       # log10 0.047 = -1.33, floor -2: 1 - (-2)
    (3.13, 2, 2),        # 1 - 0 = 1 < digits
    (123.4, 0, 0),
    (0.5, 0, 2),         # 1 - (-1): "0.50"
    (0.0, 2, 2), (float("nan"), 2, 2), (float("inf"), 2, 2),
    (1e-20, 2, 12),      # capped
])
def test_decimals_closed_form(value, digits, expected):
    assert decimals_for(value, digits) == expected


def test_format_table_prints_estimate_with_the_decimals_of_its_se():
    t = pd.DataFrame({"term": ["MATH ~ READ", "MATH", "ESCS"],
                      "estimate": [0.8721234, 537.8216, 40.0],
                      "std_error": [0.0047, 3.1289, np.nan],
                      "df": [65.03, np.inf, np.nan],
                      "p_value": [1e-5, 0.0432, np.nan],
                      "conf_low": [0.86275, 531.5, 30.0],
                      "n_obs": [3992, 3992, 10]})
    out = format_table(t)
    assert out["std_error"].tolist() == ["0.0047", "3.13", ""]
    assert out["estimate"].tolist() == ["0.8721", "537.82", "40.00"]
    assert out["conf_low"].tolist() == ["0.8628", "531.50", "30.00"]
    assert out["df"].tolist() == ["65.0", "∞", ""]
    assert out["p_value"].tolist() == ["<0.001", "0.043", ""]
    assert out["n_obs"].tolist() == ["3992", "3992", "10"]
    assert format_number(1234567.891, 2) == "1,234,567.89" and format_number(-np.inf, 2) == "-∞"
    assert format_table(pd.DataFrame({"x": [0.00031, 12.5]}))["x"].tolist() == ["0.00031", "12.50"]


def test_rendered_report_shows_a_small_correlation_se(tmp_path):
    recipe = tmp_path / "corr.toml"
    recipe.write_text('title = "corr"\n[data]\ndataset = "pisa2003_nld"\n[design]\nstudy = "PISA"\ncycle = 2003\n'
                      '[[analysis]]\nname = "Correlation"\nfunction = "correlation"\nvariables = ["MATH", "READ"]\n')
    res = run_recipe(recipe, tmp_path / "out", quiet=True)
    row = res.outcomes[0].table.iloc[0]
    se, est = float(row["std_error"]), float(row["estimate"])
    assert se < 0.01                                                    # the case of the issue
    d = 1 - math.floor(math.log10(se))                                  # the closed form, by hand
    se_text, est_text = f"{se:.{d}f}", f"{est:.{d}f}"
    assert len(se_text.lstrip("0.")) >= 2 and se_text != "0.00"         # two significant digits
    html = (tmp_path / "out" / "report.html").read_text()
    md = (tmp_path / "out" / "report.md").read_text()
    assert f"<td>{se_text}</td>" in html and f"<td>{est_text}</td>" in html
    assert f"| {est_text} | {se_text} |" in md
    assert "<td>0.00</td>" not in html and "<td>0.01</td>" not in html
