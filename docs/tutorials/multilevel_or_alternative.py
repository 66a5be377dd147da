"""Multilevel model or an alternative? A simulation with known truth (docs/tutorials/multilevel_or_alternative.md).

Run:  python docs/tutorials/multilevel_or_alternative.py [--reps 1000] [--seed 2025]
(``benchmarks/bench_teaching_simulation.py`` runs the same study, times it and prints the table
pasted in the page.)

Data: ``lsa.datasets.simulate_clustered`` -- students in schools,

    y_ij = 0.5 x_ij + 0.3 w_j + gamma c_j + u_j + e_ij,   u_j ~ N(0, icc),  e_ij ~ N(0, 1 - icc),

with a level-1 predictor ``x`` (N(0, 1) within clusters) and a level-2 predictor ``w`` (N(0, 1)
per cluster). In the "confounded" setting ``x`` also has a cluster component: ``x_ij = c_j +
x0_ij`` with ``c_j ~ N(0, var_c)``, and ``c_j`` enters the outcome with the contextual effect
``gamma``: the within-cluster effect of ``x`` stays 0.5, the between-cluster effect is
0.5 + gamma, and a regression of y on x that mixes the two estimates neither.

Every data set is analysed with the model ``y ~ x + w`` by

* OLS + CR2          -- ``lsa.robust.clustered``: OLS, CR2 SEs, Satterthwaite df;
* GEE exch. + CR2    -- ``lsa.robust.gee``: exchangeable working correlation, CR2
                        (Kauermann-Carroll-type) SEs, Satterthwaite df;
* Fixed effects      -- ``lsa.robust.clustered`` on the cluster-mean-centred data (the within
                        estimator, equal to OLS with cluster dummies), CR2 + Satterthwaite df;
                        the level-2 ``w`` is not estimable (constant within clusters);
* Random intercept   -- ``lsa.mixed`` (ML), model-based SEs, normal intervals;
* RI + cluster mean  -- the same with the cluster mean of ``x`` added (Mundlak 1978), so the
                        coefficient of ``x`` is the within effect;
* Design-based       -- ``lsa.lm`` on a ``SurveyDesign`` with the clusters as PSUs and no
                        replicates: Taylor linearisation, t intervals with the design df.

For each setting, method and coefficient the study reports the bias of the estimate (against
the within effect 0.5 for ``x`` and 0.3 for ``w``), its Monte Carlo SE, the empirical SE (the SD
of the estimates over the data sets), the mean of the reported SEs and the coverage of the 95%
intervals.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

import lsa
from lsa.datasets.clustered import simulate_clustered
from lsa.robust import clustered, gee

DEFAULT_SEED = 2025
DEFAULT_REPS = 1000
BETA_X, BETA_W = 0.5, 0.3          # the within effect of x, the effect of w
TERMS = ("x", "w")

#: name -> simulation settings; ``contextual`` is gamma, ``var_c`` the variance of x's cluster part
SETTINGS = {
    "G = 20": dict(n_clusters=20, cluster_size=30, icc=0.2, contextual=0.0, var_c=0.0),
    "G = 100": dict(n_clusters=100, cluster_size=30, icc=0.2, contextual=0.0, var_c=0.0),
    "G = 100, x confounded": dict(n_clusters=100, cluster_size=30, icc=0.2, contextual=1.0, var_c=0.25),
}

METHODS = ("OLS + CR2", "GEE exch. + CR2", "Fixed effects + CR2", "Random intercept",
           "RI + cluster mean", "Design-based")


def simulate(setting: dict, rng: np.random.Generator) -> pd.DataFrame:
    """One data set of ``setting`` (module docstring), with the cluster mean of x (``xbar``) and
    the cluster-mean-centred ``x_c``, ``y_c`` for the within estimator."""
    d = simulate_clustered(setting["n_clusters"], setting["cluster_size"], setting["icc"],
                           beta_x=BETA_X, beta_w=BETA_W, seed=rng)
    if setting["var_c"] > 0:
        g = d["cluster"].to_numpy() - 1
        c = rng.normal(0.0, np.sqrt(setting["var_c"]), setting["n_clusters"])[g]
        d["x"] = d["x"] + c
        d["y"] = d["y"] + (BETA_X + setting["contextual"]) * c      # y = 0.5 x + gamma c + ...
    means = d.groupby("cluster")[["x", "y"]].transform("mean")
    d["xbar"] = means["x"]
    d["x_c"] = d["x"] - means["x"]
    d["y_c"] = d["y"] - means["y"]
    return d


def _pick(terms, est, se, low, high) -> np.ndarray:
    """(4, 2): estimate, SE, lower and upper limit of x and w (NaN where a term is absent)."""
    terms = list(terms)
    out = np.full((4, len(TERMS)), np.nan)
    for k, t in enumerate(TERMS):
        if t in terms:
            i = terms.index(t)
            out[:, k] = est[i], se[i], low[i], high[i]
    return out


def _from(result, terms=None) -> np.ndarray:
    ci = result.conf_int()
    terms = list(result.params.index) if terms is None else terms
    return _pick(terms, result.params.to_numpy(), result.bse.to_numpy(),
                 ci["conf_low"].to_numpy(), ci["conf_high"].to_numpy())


def fit_all(d: pd.DataFrame) -> np.ndarray:
    """(methods, 4, 2): estimate, SE, 95% limits of x and w under every method of :data:`METHODS`."""
    ols = clustered("y ~ x + w", d, cluster="cluster", type="CR2", df_method="satterthwaite")
    ge = gee("y ~ x + w", d, cluster="cluster", corstr="exchangeable", type="CR2",
             df_method="satterthwaite")
    fe = clustered("y_c ~ x_c - 1", d, cluster="cluster", type="CR2", df_method="satterthwaite")
    ri = lsa.mixed("y ~ x + w + (1 | cluster)", d, weights=None).with_vcov("model")
    mundlak = lsa.mixed("y ~ x + xbar + w + (1 | cluster)", d, weights=None).with_vcov("model")
    design = lsa.SurveyDesign(d, ids={"school": "cluster"}, replicates=None)
    db = lsa.lm(design, "y ~ x + w")
    return np.stack([_from(ols), _from(ge), _from(fe, ["x"]), _from(ri), _from(mundlak),
                     _from(db, list(db.params.index))])


def simulate_study(n_reps: int = DEFAULT_REPS, settings=None, seed: int = DEFAULT_SEED) -> dict:
    """Raw results: setting name -> array (reps, methods, 4, 2) of estimate, SE, lower, upper.

    ``settings``: names of :data:`SETTINGS` (default all). Each setting has its own random stream
    (``SeedSequence(seed)`` spawned in the order of :data:`SETTINGS`), so a subset reproduces
    the same data sets as the full study."""
    names = list(SETTINGS) if settings is None else list(settings)
    streams = dict(zip(SETTINGS, np.random.SeedSequence(seed).spawn(len(SETTINGS))))
    out = {}
    for name in names:
        rng = np.random.default_rng(streams[name])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # "no replicate weights: Taylor linearisation" etc.
            out[name] = np.stack([fit_all(simulate(SETTINGS[name], rng)) for _ in range(n_reps)])
    return out


def summarise(raw: dict) -> pd.DataFrame:
    """Long table: setting, method, term, truth, bias, mcse (of the bias), emp_se, mean_se,
    coverage, n (data sets). The truth of ``x`` is its within effect."""
    rows = []
    truth = np.array([BETA_X, BETA_W])
    for name, a in raw.items():
        est, se, low, high = a[:, :, 0], a[:, :, 1], a[:, :, 2], a[:, :, 3]     # (reps, methods, terms)
        valid = np.isfinite(est)
        n = valid.sum(axis=0)
        used = np.maximum(n, 1)
        mean = np.where(valid, est, 0.0).sum(axis=0) / used
        dev = np.where(valid, est - mean, 0.0)
        emp = np.sqrt((dev**2).sum(axis=0) / np.maximum(n - 1, 1))
        mean_se = np.where(valid, se, 0.0).sum(axis=0) / used
        cover = (valid & (low <= truth) & (truth <= high)).sum(axis=0) / used
        bias = mean - truth
        for m, method in enumerate(METHODS):
            for k, term in enumerate(TERMS):
                ok = n[m, k] > 0
                rows.append({"setting": name, "method": method, "term": term, "truth": truth[k],
                             "bias": bias[m, k] if ok else np.nan,
                             "mcse": emp[m, k] / np.sqrt(n[m, k]) if ok else np.nan,
                             "emp_se": emp[m, k] if ok else np.nan,
                             "mean_se": mean_se[m, k] if ok else np.nan,
                             "coverage": cover[m, k] if ok else np.nan, "n": int(n[m, k])})
    return pd.DataFrame(rows)


def run(n_reps: int = DEFAULT_REPS, settings=None, seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """The study: :func:`simulate_study` then :func:`summarise`."""
    return summarise(simulate_study(n_reps, settings, seed))


HEADER = "| setting | method | term | bias | emp. SE | mean SE | coverage |"


def markdown(table: pd.DataFrame) -> str:
    """The table as printed in the page (three decimals; "not estimable" where a method has no
    estimate)."""
    lines = [HEADER, "|---|---|---|---:|---:|---:|---:|"]
    for r in table.itertuples():
        if r.n == 0:
            cells = ["not estimable"] + [""] * 3
        else:
            cells = [f"{r.bias:+.3f}", f"{r.emp_se:.3f}", f"{r.mean_se:.3f}", f"{r.coverage:.3f}"]
        lines.append(f"| {r.setting} | {r.method} | {r.term} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=DEFAULT_REPS)
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    tab = run(args.reps, seed=args.seed)
    print(f"{args.reps} data sets per setting, seed {args.seed}; {time.perf_counter() - t0:.0f} s\n")
    print(markdown(tab))
    return tab


if __name__ == "__main__":
    main()
