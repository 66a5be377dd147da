"""Column-selective reads by default (issue 16): ``read_study`` reads the design's columns and
later reads each column when an analysis or ``df[...]`` names it (:mod:`lsa.io_lazy`).

Oracle: the same files read whole (``columns="all"``, the old default) — the columns read later
must equal those columns exactly (values, dtypes, labels, missing codes), and every analysis
run on a design over the lazy frame must equal it run on the whole frame (to 1e-12 relative:
the same arithmetic on the same numbers). The files are synthetic TIMSS 2019 grade-8 files in
the official layout (two countries, 40 schools, labelled items, a school-file variable).
"""

import pickle
import warnings

import numpy as np
import pandas as pd
import pyreadstat
import pytest

import lsa
import lsa.io
from lsa.errors import LsaError, StudyError

DESIGN = ["TOTWGT", "IDCNTRY", "IDSCHOOL", "IDCLASS", "IDSTUD", "JKZONE", "JKREP",
          *[f"BSMMAT0{m}" for m in range(1, 6)], *[f"BSSSCI0{m}" for m in range(1, 6)], "SCHWGT"]
OVERRIDES = dict(ids={"school": "IDSCHOOL"}, weights={"school": "SCHWGT", "student": "TOTWGT"})


def _write_country(folder, cnt: str, idcntry: int, seed: int, n_schools: int = 20, per: int = 10) -> None:
    rng = np.random.default_rng(seed)
    n = n_schools * per
    school = np.repeat(np.arange(1, n_schools + 1), per).astype(float) + 100 * seed
    ses = rng.normal(size=n) + np.repeat(rng.normal(size=n_schools), per)
    stu = pd.DataFrame({"IDCNTRY": float(idcntry), "IDSCHOOL": school, "IDCLASS": school * 100 + 1,
                        "IDSTUD": np.arange(1, n + 1, dtype=float) + school * 1000, "TOTWGT": rng.uniform(5, 10, n),
                        "JKZONE": np.ceil((school - 100 * seed) / 2), "JKREP": school % 2,
                        "ITSEX": rng.choice([1.0, 2.0, 9.0], n, p=[0.48, 0.48, 0.04]), "BSBGHER": ses,
                        "BSBG04": rng.choice([1.0, 2.0, 3.0, 4.0], n)})
    for m in range(1, 6):
        stu[f"BSMMAT0{m}"] = 500 + 40 * ses + rng.normal(0, 80, n)
        stu[f"BSSSCI0{m}"] = 490 + 30 * ses + rng.normal(0, 80, n)
    sch = pd.DataFrame({"IDCNTRY": float(idcntry), "IDSCHOOL": np.arange(1, n_schools + 1, dtype=float) + 100 * seed,
                        "SCHWGT": rng.uniform(1, 3, n_schools), "BCBG01": rng.uniform(100, 900, n_schools).round()})
    sch.loc[0, "BCBG01"] = 999999.0
    pyreadstat.write_sav(stu, str(folder / f"bsg{cnt}m7.sav"), missing_ranges={"ITSEX": [9.0]},
                         variable_value_labels={"ITSEX": {1.0: "Female", 2.0: "Male", 9.0: "Omitted or invalid"},
                                                "BSBG04": {1.0: "None", 2.0: "Few", 3.0: "Some", 4.0: "Many"}},
                         column_labels={c: c.title() for c in stu.columns})
    pyreadstat.write_sav(sch, str(folder / f"bcg{cnt}m7.sav"), missing_ranges={"BCBG01": [999999.0]})


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("timss_lazy")
    _write_country(path, "aut", 40, 1)
    _write_country(path, "deu", 276, 2)
    return path


def _design(df):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lsa.SurveyDesign.from_study("TIMSS", 2019, df, **OVERRIDES)


def _reads(df) -> list:
    """Record the names of every later read of a study frame's files."""
    src = df._lsa_source
    calls, read = [], src.read
    src.read = lambda names: calls.append(list(names)) or read(names)
    return calls


def test_default_read_holds_the_design_columns_and_reads_the_rest_when_named(folder):
    whole = lsa.io.read_study(folder, "TIMSS", 2019, columns="all")
    df = lsa.io.read_study(folder, "TIMSS", 2019)
    assert isinstance(df, lsa.io.StudyFrame) and isinstance(whole, lsa.io.StudyFrame)
    assert list(df.columns) == DESIGN and len(df) == len(whole) == 400
    pd.testing.assert_frame_equal(pd.DataFrame(df), pd.DataFrame(whole[DESIGN]))
    later = ["ITSEX", "BSBG04", "BSBGHER", "BCBG01"]                   # labelled, missing codes, school file
    calls = _reads(df)
    got = df[later]
    assert calls == [later]                                           # one read for the names of one call
    pd.testing.assert_frame_equal(pd.DataFrame(got), pd.DataFrame(whole[later]))
    for key in ("labels", "value_labels", "missing_declared"):
        assert {c: df.attrs[key].get(c) for c in later} == {c: whole.attrs[key].get(c) for c in later}
    for c in ("ITSEX", "BCBG01"):                                     # codes expanded to the students' rows
        pd.testing.assert_series_equal(df.attrs["missing_codes"][c], whole.attrs["missing_codes"][c])
    assert len(whole.attrs["missing_codes"]["BCBG01"]) == 20          # the first school of each country x 10
    df["BSBGHER"]                                                     # held now: no further read
    assert calls == [later]


def test_row_subsets_read_their_own_rows_and_stale_rows_are_refused(folder):
    whole = lsa.io.read_study(folder, "TIMSS", 2019, columns="all")
    df = lsa.io.read_study(folder, "TIMSS", 2019)
    sub = df[df["IDCNTRY"] == 276.0]
    np.testing.assert_array_equal(sub["BSBGHER"].to_numpy(), whole.loc[whole["IDCNTRY"] == 276.0, "BSBGHER"])
    assert "BSBGHER" not in df.columns                                # the subset read it for itself
    shuffled = df.sample(frac=1.0, random_state=3)                    # re-ordered, labels kept: still placed right
    np.testing.assert_array_equal(shuffled["BSBG04"].to_numpy(), whole.loc[shuffled.index, "BSBG04"].to_numpy())
    with pytest.raises(StudyError, match=r"TIMSS 2019: the frame's rows no longer match the files"):
        sub.reset_index(drop=True)["ITSEX"]
    recoded = df.copy()
    recoded["IDSTUD"] = recoded["IDSTUD"] + 1
    with pytest.raises(StudyError, match=r"rows no longer match"):
        recoded["ITSEX"]
    with pytest.raises(StudyError, match=r"holds none of the id columns"):
        df[["TOTWGT", "JKZONE"]].copy()["ITSEX"]


def test_pickled_frames_keep_reading(folder):
    df = pickle.loads(pickle.dumps(lsa.io.read_study(folder, "TIMSS", 2019)))
    assert "BSBGHER" not in df.columns and df["BSBGHER"].notna().all()


ANALYSES = {
    "mean": lambda d: lsa.mean(d, "BSBGHER"),
    "mean_pv_by": lambda d: lsa.mean(d, ["BSMMAT", "BSBGHER"], by="ITSEX"),
    "percentages": lambda d: lsa.percentages(d, "BSBG04", by="IDCNTRY"),
    "quantiles": lambda d: lsa.quantiles(d, "BSBGHER", [0.25, 0.5]),
    "benchmarks": lambda d: lsa.benchmarks(d, "BSMMAT", by="ITSEX"),
    "correlation": lambda d: lsa.correlation(d, ["BSMMAT", "BSBGHER"]),
    "lm": lambda d: lsa.lm(d, "BSMMAT ~ BSBGHER + C(ITSEX) + BCBG01"),
    "logit": lambda d: lsa.logit(d, "I(ITSEX == 2) ~ BSBGHER"),
    "crosstab": lambda d: lsa.crosstab(d, "BSBG04", "ITSEX"),
    "gap": lambda d: lsa.gap(d, "BSMMAT", between="ITSEX"),
    "domain": lambda d: lsa.mean(d.subset("BSBGHER > 0.5"), "BSMMAT"),
    "multinom": lambda d: lsa.multinom(d, "BSBG04 ~ BSBGHER"),
    "mixed": lambda d: lsa.mixed("BSMMAT01 ~ BSBGHER + (1|IDSCHOOL)", d),
    "glmm": lambda d: lsa.mixed("I(ITSEX == 2) ~ BSBGHER + (1|IDSCHOOL)", d, family="binomial"),
    "mix_pv": lambda d: lsa.mix_pv("BSMMAT ~ BSBGHER + BCBG01 + (1|IDSCHOOL)", d),
    "clustered": lambda d: lsa.robust.clustered("BSMMAT01 ~ BSBGHER", d.data, cluster="IDSCHOOL", type="CR2"),
    "center": lambda d: lsa.center(d, "BSBGHER", by="school").data[["BSBGHER_cwc"]],
}


@pytest.mark.parametrize("name", list(ANALYSES))
def test_analyses_of_a_lazy_design_equal_those_of_the_whole_frame(folder, name):
    whole = _design(lsa.io.read_study(folder, "TIMSS", 2019, columns="all"))
    df = lsa.io.read_study(folder, "TIMSS", 2019)
    lazy = _design(df)
    calls = _reads(lazy.data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a, b = ANALYSES[name](whole), ANALYSES[name](lazy)
    ta, tb = (x.tidy() if hasattr(x, "tidy") else x for x in (a, b))
    num = ta.select_dtypes("number").columns
    assert len(num) and list(ta.columns) == list(tb.columns)
    scale = np.nanmax(np.abs(ta[num].to_numpy(float)))
    np.testing.assert_allclose(tb[num].to_numpy(float), ta[num].to_numpy(float), rtol=0, atol=1e-12 * scale)
    assert len(calls) == 1                                            # every column of the call in one read


def test_parquet_copies_read_later_columns_too(folder, tmp_path):
    for p in folder.glob("*.sav"):
        lsa.io.to_parquet(p, tmp_path / (p.stem + ".parquet"))
    whole = lsa.io.read_study(folder, "TIMSS", 2019, columns="all")
    df = lsa.io.read_study(tmp_path, "TIMSS", 2019)
    assert "parquet" in df.attrs["source"] and list(df.columns) == DESIGN
    pd.testing.assert_frame_equal(pd.DataFrame(df[["ITSEX", "BCBG01"]]), pd.DataFrame(whole[["ITSEX", "BCBG01"]]))


def test_load_columns_and_its_errors(folder):
    df = lsa.io.read_study(folder, "TIMSS", 2019)
    d = _design(df)
    assert lsa.io.load_columns(d, ["bsbgher", "BSMMAT01"]) == ["BSBGHER"]   # case-insensitive; held ones skipped
    with pytest.raises(lsa.io.ColumnNotFoundError, match=r"TIMSS 2019: columns not found in the files: \['BSBG4'\]\. "
                                                         r"Nearest names in the file: BSBG4 -> \['BSBG04'"):
        lsa.io.load_columns(df, "BSBG4")
    with pytest.raises(KeyError):                                     # plain pandas for a name the files lack
        df["NOT_A_COLUMN"]
    with pytest.raises(KeyError):                                     # ... and for another spelling: df[...] is exact
        df["itsex"]
    assert "ITSEX" not in df.columns
    with pytest.raises(LsaError, match=r"load_columns needs a frame read by lsa.io.read_study"):
        lsa.io.load_columns(pd.DataFrame({"a": [1]}), "a")


def test_progress_over_the_files_of_many_countries(folder, capsys):
    """A bar over the countries' files (lsa.progress): shown when asked, silent by default for small files."""
    lsa.io.read_study(folder, "TIMSS", 2019, progress=True)
    err = capsys.readouterr().err
    assert "read_study TIMSS 2019" in err and "2/2" in err and "DEU" in err
    lsa.io.read_study(folder, "TIMSS", 2019)
    assert capsys.readouterr().err == ""


def test_a_recipe_over_a_study_folder_reads_what_it_derives_and_analyses(folder, tmp_path):
    """[data] folder = ...: read_study's default read; [[derive]] and the analyses read the rest."""
    recipe = tmp_path / "lazy.toml"
    recipe.write_text(f'''title = "lazy"
[data]
folder = "{folder}"
study = "TIMSS"
cycle = 2019
[design]
study = "TIMSS"
cycle = 2019
[[derive]]
name = "many_books"
expr = "BSBG04 == 'Many'"
[[analysis]]
name = "mean"
function = "mean"
variables = ["BSBGHER"]
by = "many_books"
''')
    from lsa.report.runner import run_recipe

    res = run_recipe(recipe, tmp_path / "out", quiet=True)
    whole = lsa.io.read_study(folder, "TIMSS", 2019, columns="all")
    whole = whole.assign(many_books=whole["BSBG04"] == "Many")
    want = lsa.mean(lsa.design_from_study("TIMSS", 2019, whole), "BSBGHER", by="many_books").tidy()
    assert res.ok, [o.error for o in res.outcomes]
    got = res.outcomes[0].result.tidy()
    np.testing.assert_allclose(got["estimate"].to_numpy(float), want["estimate"].to_numpy(float), rtol=1e-12)
