"""All countries at once (issue 16 items 2-3): the synthetic international file
(:func:`lsa.datasets.simulate_international`), ``by="CNT"`` as one pass per country block
(:class:`lsa.multicountry.RowWeights`), and ``mix_pv(..., by="CNT")``.

Oracles:
- Closed form: each country's mean, SE and Barnard–Rubin df written out with numpy, 1e-10.
- Closed form: a country's estimate, SE and df in ``by="CNT"`` over the pooled file (replicates
  nested within CNT, and one scheme over the pooled file) equal those of its single-country
  design (mean, sd, lm, percentages, quantiles, benchmarks, correlation, r_squared, poisson:
  the same computation on the same rows, measured difference 0), 1e-10 relative; a group spanning several countries (``by="FEMALE"``)
  equals the weighted mean, replicate variance Σ_c Σ_r c (θ_r − θ)² and Rubin's rules written
  out here with numpy from the n × (1 + Σ R_c) weight matrix, 1e-10 relative.
- Simulation with known truth: every country's mean and regression coefficients lie within
  4.5 SE of its finite-population value (``truth``), and the standardised errors of the means
  have mean square below 3 (Monte-Carlo error: they are about N(0, 1)).
- Closed form: the Hadamard matrices are orthogonal (H H' = R I); each replicate weight is
  0.5 or 1.5 times the final weight (Fay k = 0.5) and, within a country, half of each pair of
  schools goes up where the other goes down.
- ``mix_pv(..., by="CNT")`` equals ``mix_pv`` on each country's own design (same fits: 1e-10),
  and ``n_jobs=2`` equals ``n_jobs=1`` exactly.
- Reproducibility: the same seed gives the same file (exactly); another seed another file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lsa
from conftest import rel_entrywise
from lsa.datasets import simulate_international
from lsa.datasets.international import hadamard_order
from lsa.errors import DesignError, LsaError

SMALL = dict(n_countries=5, n_students=7_500, n_schools=260, n_pvs=5, n_replicates=80, n_background=10)


@pytest.fixture(scope="module")
def sim():
    return simulate_international(**SMALL, seed=3)


def _country(sim, c):
    """Country c's own design: its rows, one Fay scheme (not nested: the n-row weight matrix
    path, not the per-country blocks that by="CNT" on a nested design uses)."""
    return sim.design(nested=False, data=sim.data[sim.data.CNT == c].reset_index(drop=True))


def test_reproducible_from_the_seed(sim):
    again = simulate_international(**SMALL, seed=3)
    pd.testing.assert_frame_equal(sim.data, again.data)
    pd.testing.assert_frame_equal(sim.truth, again.truth)
    other = simulate_international(**SMALL, seed=4)
    assert not np.allclose(other.data["PV1MATH"].to_numpy()[:100], sim.data["PV1MATH"].to_numpy()[:100])


def test_shape_columns_and_dtypes(sim):
    d = sim.data
    assert len(d) == sim.truth["n_students"].sum()
    assert list(sim.truth["CNT"]) == ["C01", "C02", "C03", "C04", "C05"]
    assert len(sim.pv_columns) == 5 and len(sim.replicate_columns) == 80 and len(sim.background_columns) == 10
    assert d["CNTSCHID"].dtype == np.int32 and d["FEMALE"].dtype == np.int8
    assert {str(d[c].dtype) for c in sim.background_columns} == {"int8", "float32"}
    assert d.groupby("CNTSCHID", observed=True)["W_SCHGRNRABWT"].nunique().max() == 1    # a school weight
    assert d.groupby("CNTSCHID", observed=True)["CNT"].nunique().max() == 1


@pytest.mark.parametrize("order", [8, 12, 20, 80])
def test_hadamard_orthogonal(order):
    h = hadamard_order(order)
    assert h.shape == (order, order) and (h[0] == 1).all() and (h[:, 0] == 1).all()
    np.testing.assert_array_equal(h @ h.T, order * np.eye(order))


def test_fay_replicates_within_country(sim):
    d = sim.data
    ratio = d[list(sim.replicate_columns)].to_numpy() / d["W_FSTUWT"].to_numpy()[:, None]
    np.testing.assert_allclose(np.sort(np.unique(np.round(ratio, 12))), [0.5, 1.5], rtol=1e-12)
    one = d[d.CNT == "C01"]
    rank = np.unique(one["CNTSCHID"], return_inverse=True)[1]
    r = ratio[(d.CNT == "C01").to_numpy()]
    first, second = r[rank == 0][0], r[rank == 1][0]                      # the two units of stratum 0
    np.testing.assert_allclose(first + second, 2.0, rtol=1e-12)


@pytest.mark.parametrize("nested", [True, False])
def test_by_country_equals_single_country_designs(sim, nested):
    design = sim.design(nested=nested)
    tabs = {"mean": lsa.mean(design, "MATH", by="CNT").tidy(),
            "sd": lsa.sd(design, "MATH", by="CNT").tidy(),
            "lm": lsa.lm(design, "MATH ~ ESCS + FEMALE", by="CNT").tidy(),
            "pct": lsa.percentages(design, "FEMALE", by="CNT").tidy(),
            "q": lsa.quantiles(design, "MATH", probs=[0.1, 0.5], by="CNT").tidy(),
            "bench": lsa.benchmarks(design, "MATH", cuts=[420, 520], by="CNT").tidy(),
            "cor": lsa.correlation(design, ["MATH", "ESCS"], by="CNT").tidy(),
            "r2": lsa.r_squared(design, "MATH ~ ESCS", by="CNT").tidy(),
            "poisson": lsa.poisson(design, "FEMALE ~ ESCS", by="CNT").tidy()}
    for c in sim.truth["CNT"]:
        one = _country(sim, c)
        ref = {"mean": lsa.mean(one, "MATH").tidy(), "sd": lsa.sd(one, "MATH").tidy(),
               "lm": lsa.lm(one, "MATH ~ ESCS + FEMALE").tidy(), "pct": lsa.percentages(one, "FEMALE").tidy(),
               "q": lsa.quantiles(one, "MATH", probs=[0.1, 0.5]).tidy(),
               "bench": lsa.benchmarks(one, "MATH", cuts=[420, 520]).tidy(),
               "cor": lsa.correlation(one, ["MATH", "ESCS"]).tidy(), "r2": lsa.r_squared(one, "MATH ~ ESCS").tidy(),
               "poisson": lsa.poisson(one, "FEMALE ~ ESCS").tidy()}
        for name, t in tabs.items():
            got = t[t.CNT == c]
            for col in ("estimate", "std_error", "df"):
                assert rel_entrywise(got[col], ref[name][col]) < 1e-10, (name, c, col)      # same fit on the same rows
            assert (got["n_obs"].to_numpy() == ref[name]["n_obs"].to_numpy()).all()
            assert (got["n_schools"].to_numpy() == ref[name]["n_schools"].to_numpy()).all()


def test_mean_by_country_against_numpy(sim):
    """Each country's θ_{m,r} = Σ w_r y_m / Σ w_r over its own rows, V_m = (1/20) Σ_r (θ_{m,r} − θ_{m,0})²,
    Rubin's rules and Barnard–Rubin df with ν_com = 79, written out here."""
    got = lsa.mean(sim.design(), "MATH", by="CNT").tidy()
    for c in sim.truth["CNT"]:
        rows = sim.data[sim.data.CNT == c]
        w = rows[["W_FSTUWT", *sim.replicate_columns]].to_numpy()
        y = rows[list(sim.pv_columns)].to_numpy()
        theta = (y.T @ w) / w.sum(axis=0)
        u = ((theta[:, 1:] - theta[:, :1]) ** 2).sum(axis=1) / 20
        m, b = y.shape[1], theta[:, 0].var(ddof=1)
        t = u.mean() + (1 + 1 / m) * b
        lam = (1 + 1 / m) * b / t
        nu_obs = (79 + 1) / (79 + 3) * 79 * (1 - lam)
        df = 1 / (1 / ((m - 1) / lam**2) + 1 / nu_obs)
        row = got[got.CNT == c]
        assert rel_entrywise(row["estimate"], theta[:, 0].mean()) < 1e-10
        assert rel_entrywise(row["std_error"], np.sqrt(t)) < 1e-10
        assert rel_entrywise(row["df"], df) < 1e-10


def test_group_across_countries_against_numpy(sim):
    """by="FEMALE": each group spans every country, so it takes every country's replicates."""
    design = sim.design()
    got = lsa.mean(design, "MATH", by="FEMALE").tidy()
    w = design.weight_matrix()                                       # n × (1 + 5·80), written out here
    y = sim.data[list(sim.pv_columns)].to_numpy()
    female = sim.data["FEMALE"].to_numpy()
    m = y.shape[1]
    for g in (0, 1):
        wg = w * (female == g)[:, None]
        theta = (y.T @ wg) / wg.sum(axis=0)                          # (M, 1 + R)
        u = 0.05 * ((theta[:, 1:] - theta[:, :1]) ** 2).sum(axis=1)  # Fay k = 0.5, R = 80: c = 1/20
        b = theta[:, 0].var(ddof=1)
        row = got[got.FEMALE == g]
        assert rel_entrywise(row["estimate"], theta[:, 0].mean()) < 1e-10
        assert rel_entrywise(row["std_error"], np.sqrt(u.mean() + (1 + 1 / m) * b)) < 1e-10
        assert float(row["df"].iloc[0]) <= design.df                 # Barnard–Rubin with ν_com = Σ_c 79


def test_estimates_near_the_truth(sim):
    design = sim.design()
    t = lsa.mean(design, "MATH", by="CNT").tidy().merge(sim.truth, on="CNT")
    z = (t["estimate"] - t["mean"]) / t["std_error"]
    assert np.abs(z).max() < 4.5 and (z**2).mean() < 3
    reg = lsa.lm(design, "MATH ~ ESCS + FEMALE", by="CNT").tidy()
    for term in ("ESCS", "FEMALE"):
        r = reg[reg.term == term].merge(sim.truth[["CNT", term]], on="CNT")
        assert np.abs((r["estimate"] - r[term]) / r["std_error"]).max() < 4.5


def test_domain_and_partial_country(sim):
    """A domain cuts countries: a group is then part of a country's rows (non-contiguous)."""
    design = sim.design().subset(sim.data["FEMALE"] == 1)
    got = lsa.mean(design, "MATH", by="CNT").tidy()
    for c in ("C01", "C04"):
        one = _country(sim, c)
        ref = lsa.mean(one.subset(one.data["FEMALE"] == 1), "MATH").tidy()
        row = got[got.CNT == c]
        for col in ("estimate", "std_error", "df"):
            assert rel_entrywise(row[col], ref[col]) < 1e-10


def test_two_by_columns_keep_level_order(sim):
    design = sim.design()
    t = lsa.mean(design, "MATH", by=["FEMALE", "CNT"]).tidy()
    assert list(zip(t.FEMALE, t.CNT)) == [(f, c) for f in (0, 1) for c in sim.truth["CNT"]]
    one = _country(sim, "C03")
    ref = lsa.mean(one.subset(one.data["FEMALE"] == 0), "MATH").tidy()
    row = t[(t.CNT == "C03") & (t.FEMALE == 0)]
    assert rel_entrywise(row["estimate"], ref["estimate"]) < 1e-10 and rel_entrywise(row["std_error"], ref["std_error"]) < 1e-10


def test_mix_pv_by_country_equals_per_country_fits(sim):
    small = sim.data[sim.data.CNT.isin(["C01", "C02", "C03"])].reset_index(drop=True)
    design = sim.design(data=small)
    res = lsa.mix_pv("MATH ~ ESCS + (1|school)", design, by="CNT", n_jobs=1)
    tidy = res.tidy()
    assert list(tidy.columns[:3]) == ["CNT", "effect", "term"]
    assert list(dict.fromkeys(tidy.CNT)) == ["C01", "C02", "C03"]
    for c in ("C01", "C03"):
        ref = lsa.mix_pv("MATH ~ ESCS + (1|school)", _country(sim, c)).tidy()
        got = tidy[tidy.CNT == c]
        for col in ("estimate", "std_error", "df"):
            assert rel_entrywise(got[col], ref[col]) < 1e-10, (c, col)
    par = lsa.mix_pv("MATH ~ ESCS + (1|school)", design, by="CNT", n_jobs=2).tidy()
    pd.testing.assert_frame_equal(par, tidy)
    assert res["C02"].nobs == (small.CNT == "C02").sum()


def test_by_column_not_in_data_lists_nearest_names(sim):
    design = sim.design()
    with pytest.raises(DesignError, match="CNT"):
        lsa.mean(design, "MATH", by="CNTT")
    with pytest.raises(DesignError, match="CNT"):
        lsa.mix_pv("MATH ~ ESCS + (1|school)", design, by="CTN")


def test_bad_sizes():
    with pytest.raises(LsaError, match="n_replicates"):
        simulate_international(n_countries=2, n_students=500, n_schools=40, n_replicates=10)
    with pytest.raises(LsaError, match="n_schools"):
        simulate_international(n_countries=10, n_students=500, n_schools=40)
