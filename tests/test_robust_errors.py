"""lsa.robust bad input: clear lsa.errors messages naming the column/values; missing rows counted."""

from pathlib import Path

import numpy as np
import pytest

from lsa.errors import DesignError, FormulaError, LsaError, MissingDataWarning
from lsa.robust import SingularAdjustmentWarning, clustered
from conftest import assert_cov_close, read_reference_csv

REF = Path(__file__).parent / "reference"
F = "math ~ ses + minority + mses + mhmwk"


@pytest.fixture()
def sch25():
    return read_reference_csv(REF / "data" / "sch25.csv")


def test_missing_cluster_ids(sch25):
    sch25.loc[[3, 10], "schid"] = np.nan
    with pytest.raises(DesignError, match=r"'schid' has 2 missing"):
        clustered(F, sch25, cluster="schid")


def test_single_cluster(sch25):
    with pytest.raises(DesignError, match="single cluster"):
        clustered(F, sch25.assign(one="a"), cluster="one")


def test_unknown_cluster_column(sch25):
    with pytest.raises(DesignError, match="'school'"):
        clustered(F, sch25, cluster="school")


def test_singular_design_names_terms(sch25):
    with pytest.raises(DesignError, match=r"singular design.*ses2"):
        clustered("math ~ ses + ses2 + mses", sch25.assign(ses2=2 * sch25.ses), cluster="schid")


@pytest.mark.parametrize("bad", [0.0, -1.0, np.inf])
def test_nonpositive_weights(sch25, bad):
    w = np.ones(len(sch25))
    w[5] = bad
    with pytest.raises(DesignError, match=r"weights 'w' must be finite and > 0"):
        clustered(F, sch25.assign(w=w), cluster="schid", weights="w")


def test_bad_formula_type_and_df(sch25):
    with pytest.raises(FormulaError, match="nosuchvar"):
        clustered("math ~ nosuchvar", sch25, cluster="schid")
    with pytest.raises(LsaError, match="type must be one of"):
        clustered(F, sch25, cluster="schid", type="CR9")
    with pytest.raises(LsaError, match="df must be one of"):
        clustered(F, sch25, cluster="schid", df="kenward")
    with pytest.raises(LsaError, match="family"):
        clustered(F, sch25, cluster="schid", family="gamma-ish")


def test_missing_rows_counted_and_warned(sch25):
    full = clustered(F, sch25, cluster="schid")
    d = sch25.copy()
    d.loc[[0, 7, 8], "ses"] = np.nan
    d.loc[20, "math"] = np.nan
    with pytest.warns(MissingDataWarning, match="4 of 546 rows dropped"):
        r = clustered(F, d, cluster="schid")
    assert r.n_dropped == 4 and r.nobs == 542
    assert "rows dropped (missing): 4" in r.summary()
    # same as fitting the complete cases
    cc = clustered(F, d.dropna(subset=["ses", "math"]), cluster="schid")
    assert_cov_close(r.cov, cc.cov, 1e-12)
    assert not np.allclose(r.cov, full.cov)


def test_singular_cr2_adjustment_uses_pseudo_inverse(sch25):
    """A dummy for one cluster makes I - H_jj singular: pseudo-inverse square root + warning."""
    d = sch25.assign(only1=(sch25.schid == sch25.schid.iloc[0]).astype(float))
    with pytest.warns(SingularAdjustmentWarning, match="pseudo-inverse"):
        r = clustered("math ~ ses + only1", d, cluster="schid")
    assert np.all(np.isfinite(r.bse)) and np.all(np.isfinite(r.df))
