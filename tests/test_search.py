"""Variable search and codebooks across a study's files (issue 15 item 3).

Oracles:
- The SPSS dictionary reader (``lsa.io_savheader``) is checked against pyreadstat's metadata
  (``read_sav(metadataonly=True, user_missing=True)``): names, labels, types, value labels and
  user-missing values must be equal, on the bundled IEA/PISA files in ``tests/data`` and on files
  written here with every feature the reader handles (long names, string variables, long strings
  with continuation records, discrete and range missing values, UTF-8 labels, zsav compression).
- Search and codebook: synthetic folders in the TIMSS 2019 naming scheme whose content is known
  by construction (which variable carries which word in its name, label or value labels).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest

import lsa
from lsa import cli
from lsa.errors import LsaError, ReadError
from lsa.io_savheader import read_sav_dictionary

DATA = Path(__file__).parent / "data"


def _as_pyreadstat(path):
    _, m = pyreadstat.read_sav(str(path), metadataonly=True, user_missing=True)
    vl = {k: {(float(c) if not isinstance(c, str) else c): lab for c, lab in v.items()}
          for k, v in (m.variable_value_labels or {}).items()}
    return (list(m.column_names), [lab or "" for lab in m.column_labels],
            [m.readstat_variable_types[n] for n in m.column_names], vl, dict(m.missing_ranges or {}))


def _assert_same_dictionary(path):
    d = read_sav_dictionary(path)
    assert d is not None, path
    names, labels, types, vl, missing = _as_pyreadstat(path)
    assert d.names == names
    assert d.labels == labels
    assert d.types == types
    assert d.value_labels == vl
    assert d.missing == missing


def _timss_file(path, extra=None, **kw):
    df = pd.DataFrame({"IDSTUD": [10101.0, 10102.0], "ASBG01": [1.0, 2.0], "ASBGSB": [9.1, 10.2],
                       "ITSEX": ["F", "M"]})
    labels = ["STUDENT ID", "GEN\\SEX OF STUDENT", "STUDENT BULLYING/SCL", "SEX OF STUDENTS (TRACKING)"]
    vls = {"ASBG01": {1: "Girl", 2: "Boy", 9: "Omitted or invalid"}, "ITSEX": {"F": "Female", "M": "Male"}}
    if extra:
        for name, (values, label, vl) in extra.items():
            df[name] = values
            labels.append(label)
            if vl:
                vls[name] = vl
    pyreadstat.write_sav(df, str(path), column_labels=labels, variable_value_labels=vls,
                         missing_ranges={"ASBG01": [9]}, **kw)
    return path


@pytest.fixture
def folder(tmp_path):
    """Three TIMSS 2019 grade 4 files: student (two countries) and school; the word 'bully' is in
    the label of ASBGSB (students) and ACBG15 (school: 'Bullying'), and 'weekly' only in a value label."""
    _timss_file(tmp_path / "asgautm7.sav")
    _timss_file(tmp_path / "asgdeum7.sav")
    sch = pd.DataFrame({"IDSCHOOL": [1.0, 2.0], "ACBG15": [1.0, 3.0]})
    pyreadstat.write_sav(sch, str(tmp_path / "acgautm7.sav"),
                         column_labels=["SCHOOL ID", "GEN\\BULLYING AMONG STUDENTS"],
                         variable_value_labels={"ACBG15": {1: "Never", 2: "Monthly", 3: "Weekly"}})
    (tmp_path / "readme.txt").write_text("not a data file")
    return tmp_path


# -- the dictionary reader against pyreadstat ---------------------------------------------------
@pytest.mark.parametrize("name", ["STU_USA_2018.sav", "SCH_USA_2018.sav"])
def test_dictionary_of_the_bundled_files_equals_pyreadstat(name):
    _assert_same_dictionary(DATA / name)


@pytest.mark.parametrize("compress", [False, True], ids=["sav", "zsav"])
def test_dictionary_with_every_feature_equals_pyreadstat(tmp_path, compress):
    extra = {
        "A_VERY_LONG_VARIABLE_NAME_1": ([1.0, 2.0], "Élève: ÉCOLE ≥ 8 — long name", {1.0: "Oui", 2.0: "Non"}),
        "LONGSTR": (["x" * 20, "y" * 30], "a string of 30 bytes (continuation records)", None),
        "RANGE": ([1.0, 2.0], "missing range and value", None),
    }
    path = tmp_path / ("f.zsav" if compress else "f.sav")
    pyreadstat_kw = {"compress": True} if compress else {}
    _timss_file(path, extra, **pyreadstat_kw)
    # rewrite with a range + discrete missing on RANGE (n_missing = -3) and two discrete codes on IDSTUD
    df, meta = pyreadstat.read_sav(str(path), user_missing=True)
    pyreadstat.write_sav(df, str(path), column_labels=meta.column_labels,
                         variable_value_labels=meta.variable_value_labels,
                         missing_ranges={"ASBG01": [9], "RANGE": [{"lo": 7, "hi": 9}, 99],
                                         "IDSTUD": [99997, 99999]}, **pyreadstat_kw)
    _assert_same_dictionary(path)
    d = read_sav_dictionary(path)
    assert d.missing["RANGE"] == [{"lo": 7.0, "hi": 9.0}, {"lo": 99.0, "hi": 99.0}]
    assert d.names[4] == "A_VERY_LONG_VARIABLE_NAME_1" and d.labels[4].startswith("Élève")
    assert d.types[3] == "string" and d.value_labels["ITSEX"] == {"F": "Female", "M": "Male"}


def test_dictionary_reader_declines_what_it_does_not_read(tmp_path):
    """Very long strings (> 255 bytes, extension subtype 14) and non-SPSS files: None, so that
    the search falls back to pyreadstat, and the search still finds the variable."""
    df = pd.DataFrame({"NOTE": ["z" * 300], "X": [1.0]})
    pyreadstat.write_sav(df, str(tmp_path / "long.sav"), column_labels=["free text of the bully report", "x"])
    assert read_sav_dictionary(tmp_path / "long.sav") is None
    (tmp_path / "fake.sav").write_bytes(b"not spss at all" * 20)
    assert read_sav_dictionary(tmp_path / "fake.sav") is None
    hits = lsa.io.search(tmp_path / "long.sav", "bully")
    assert hits["variable"].tolist() == ["NOTE"]


# -- search ---------------------------------------------------------------------------------------
def test_search_finds_a_word_in_labels_across_the_folder(folder):
    hits = lsa.io.search(folder, "bully")
    assert list(hits.columns) == ["file", "variable", "label", "value_labels", "missing", "type", "matched"]
    assert list(zip(hits["file"], hits["variable"])) == [
        ("acgautm7.sav", "ACBG15"), ("asgautm7.sav", "ASBGSB"), ("asgdeum7.sav", "ASBGSB")]
    assert (hits["matched"] == "label").all()
    assert hits.loc[0, "value_labels"] == "1=Never; 2=Monthly; 3=Weekly"


def test_search_by_name_case_insensitive_with_values_and_missing(folder):
    hits = lsa.io.search(folder, "asbg01")
    assert hits["variable"].tolist() == ["ASBG01", "ASBG01"] and (hits["matched"] == "name").all()
    assert hits.loc[0, "value_labels"] == "1=Girl; 2=Boy; 9=Omitted or invalid"
    assert hits.loc[0, "missing"] == "9" and hits.loc[0, "type"] == "double"


def test_search_in_value_labels_only_when_asked(folder):
    assert lsa.io.search(folder, "weekly").empty
    hits = lsa.io.search(folder, "weekly", in_values=True)
    assert hits["variable"].tolist() == ["ACBG15"] and hits["matched"].tolist() == ["value label"]


def test_search_regex_and_literal(folder, tmp_path):
    assert lsa.io.search(folder, r"^ASBG\d+$", regex=True)["variable"].tolist() == ["ASBG01", "ASBG01"]
    assert lsa.io.search(folder, r"^ASBG\d+$").empty                      # literal text: no such name
    assert lsa.io.search(folder, "gen\\sex")["variable"].tolist() == ["ASBG01", "ASBG01"]


def test_search_a_file_or_a_list_of_files(folder):
    one = lsa.io.search(folder / "asgdeum7.sav", "bully")
    assert one["file"].tolist() == ["asgdeum7.sav"]
    two = lsa.io.search([folder / "asgdeum7.sav", folder / "acgautm7.sav"], "bully")
    assert [Path(f).name for f in two["file"]] == ["asgdeum7.sav", "acgautm7.sav"]


def test_search_stata_files_through_pyreadstat(tmp_path):
    pyreadstat.write_dta(pd.DataFrame({"bsbg11": [1.0, 2.0]}), str(tmp_path / "t.dta"),
                         column_labels=["Bullied at school"], variable_value_labels={"bsbg11": {1: "Yes", 2: "No"}})
    hits = lsa.io.search(tmp_path, "BULLIED")
    assert hits[["file", "variable", "value_labels"]].values.tolist() == [["t.dta", "bsbg11", "1=Yes; 2=No"]]


def test_variables_lists_every_variable(folder):
    table = lsa.io.variables(folder)
    assert len(table) == 4 + 4 + 2
    assert table.groupby("file").size().to_dict() == {"acgautm7.sav": 2, "asgautm7.sav": 4, "asgdeum7.sav": 4}


# -- codebook ------------------------------------------------------------------------------------
def test_codebook_writes_html_and_markdown(folder, tmp_path):
    out = tmp_path / "cb"
    paths = lsa.io.codebook(folder, out, title="TIMSS 2019 <grade 4>")
    assert set(paths) == {"html", "markdown"}
    page = paths["html"].read_text(encoding="utf-8")
    assert "TIMSS 2019 &lt;grade 4&gt;" in page and "<grade 4>" not in page
    assert page.count("<tr class='var'>") == 10
    assert "GEN\\BULLYING AMONG STUDENTS" in page and "3 = Weekly" in page
    md = paths["markdown"].read_text(encoding="utf-8")
    assert "| ASBG01 | GEN\\\\SEX OF STUDENT | double | 1=Girl; 2=Boy; 9=Omitted or invalid | 9 |" in md
    assert md.count("\n## ") == 3


def test_codebook_one_format(folder, tmp_path):
    paths = lsa.io.codebook(folder / "acgautm7.sav", tmp_path / "only", formats="markdown")
    assert list(paths) == ["markdown"] and not (tmp_path / "only" / "codebook.html").exists()
    assert paths["markdown"].read_text(encoding="utf-8").startswith("# Codebook: acgautm7.sav")


# -- the command line ----------------------------------------------------------------------------
def test_cli_search_and_codebook(folder, tmp_path, capsys):
    assert cli.main(["search", str(folder), "bully"]) == 0
    out = capsys.readouterr().out
    assert "ACBG15" in out and out.count("ASBGSB") == 2 and "3 variable(s) in 3 file(s)" in out
    assert cli.main(["search", str(folder), "nothing-like-this"]) == 0
    assert "no variable matches 'nothing-like-this' in 3 file(s)" in capsys.readouterr().out
    assert cli.main(["codebook", str(folder), "--out", str(tmp_path / "cb"), "--format", "html"]) == 0
    assert (tmp_path / "cb" / "codebook.html").exists() and not (tmp_path / "cb" / "codebook.md").exists()


@pytest.mark.parametrize("argv, match", [
    (["search", "{tmp}/nowhere", "bully"], "nowhere: no such file or folder"),
    (["search", "{tmp}/empty", "bully"], "holds no SPSS"),
    (["search", "{tmp}", "(", "--regex"], "pattern '\\(' is not a valid regular expression"),
    (["codebook", "{tmp}", "--out", "{tmp}/a.sav"], "is a file, not a folder"),
])
def test_cli_user_errors_are_one_line(tmp_path, capsys, argv, match):
    _timss_file(tmp_path / "a.sav")
    (tmp_path / "empty").mkdir()
    code = cli.main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("lsa: error: ") and re.search(match, err), err


def test_cli_studies_unverified_lists_what_the_dictionaries_mark(capsys):
    table = lsa.studies()
    assert cli.main(["studies", "--unverified"]) == 0
    out = capsys.readouterr().out.splitlines()
    marked = table[table["n_unverified"] > 0]
    assert len(out) == len(marked) + 1
    total = int(marked["n_unverified"].sum())
    assert out[-1].startswith(f"{len(marked)} of {len(table)} study cycles carry unverified facts ({total} in all)")
    first = marked.iloc[0]
    assert out[0].startswith(f"{first['name']} {first['cycle']}") and first["unverified"] in out[0]


def test_search_errors_name_the_argument(tmp_path):
    with pytest.raises(LsaError, match="pattern must be a non-empty string"):
        lsa.io.search(tmp_path, "  ")
    with pytest.raises(ReadError, match="holds no SPSS"):
        lsa.io.search(tmp_path, "x")


# -- the dictionaries' sources (issue 15 item 4) --------------------------------------------------
def test_every_cited_fact_exists_and_is_no_longer_marked_unverified():
    """A fact cited in a cycle's ``sources:`` is verified: it exists in the merged entry, is not
    marked unverified, and lsa/data_dictionaries/README.md lists it."""
    from lsa.dictionaries import study_doc

    readme = (Path(lsa.__file__).parent / "data_dictionaries" / "README.md").read_text(encoding="utf-8")
    cited = 0
    for study in ("pisa", "timss", "pirls", "piaac", "talis", "icils", "iccs", "timss_advanced"):
        for cycle, (entry, flags) in study_doc(study)["cycles"].items():
            for path, source in (entry.get("sources") or {}).items():
                node = entry
                for key in path.split("."):
                    assert isinstance(node, dict) and key in node, (study, cycle, path)
                    node = node[key]
                assert path not in flags and "<cycle>" not in flags, (study, cycle, path)
                assert isinstance(source, str) and "http" in source, (study, cycle, path)
                assert f"`{path}`" in readme, (study, cycle, path)
                cited += 1
    assert cited >= 1
