"""A synthetic international file with the shape of the PISA 2022 student file, and known truth.

Each country c is one draw of :func:`lsa.datasets.simulate` (two-stage PPS sample of schools,
then students; school and student weights; plausible values = proficiency + measurement noise)
with its own parameters

    θ_ij = β0_c + β1_c · escs_ij + β2 · female_ij + u_j + e_ij,   u_j ~ N(0, τ_c²), e_ij ~ N(0, σ_c²),

β0_c ~ N(480, 40²), β1_c ~ N(35, 8²), β2 = −10, τ_c ~ U(30, 60), σ_c ~ U(65, 90), PV noise
SD 20, and its own random stream (:class:`numpy.random.SeedSequence` spawned from ``seed``), so
the file is reproducible from the seed and one country does not depend on how many others
there are. The truth of country c (``truth`` table) is its finite population: the mean and SD
of θ and the population regression of θ on (1, escs, female), which design-based estimates
target, plus the generating parameters.

Replicates: Fay BRR with k = 0.5 and R = ``n_replicates`` columns, built within each country as
PISA does: the sampled schools, in frame order, are paired into variance strata (first /
second unit), stratum h is assigned to column (h mod (R − 1)) + 1 of a Hadamard matrix of
order R (several strata share a column when a country has more than R − 1 pairs: a grouped
BRR, still unbiased for totals), and replicate r multiplies the first unit's weights by 2 − k
where H[r, h] = +1 and by k otherwise (the second unit the reverse). Order R: a Sylvester
matrix (R a power of 2) or Paley's construction (R − 1 a prime ≡ 3 mod 4; R = 80 from 79).
The replicate columns W_FSTURWT1..R are numbered within each country, so a design over the
pooled file nests them within ``CNT`` (:meth:`lsa.Replicates.within`; :meth:`International.design`).

Columns: ``CNT`` (categorical, "C01", "C02", ...), ``CNTSCHID``, ``CNTSTUID`` (int32),
``W_FSTUWT`` (final student weight), ``W_SCHGRNRABWT`` (school weight), ``W_FSTURWT1..R``,
``PV1MATH..PVmMATH``, ``ESCS`` (float64), ``FEMALE`` (int8 0/1) and ``n_background`` background
columns unrelated to the outcome: four in five are Likert items ``BQ001...`` (int8, 1–4), the
rest indices ``IDX001...`` (float32 N(0, 1), 3% missing). Background columns take 1 or 4 bytes
a value, so the default file (600,000 × ~400 columns) holds about 0.7 GB.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.linalg import hadamard

from ..errors import LsaError
from .simulate import fay_replicates, simulate

__all__ = ["International", "hadamard_order", "simulate_international"]

FAY_K = 0.5
PV_SD = 20.0
BETA_FEMALE = -10.0


@dataclass(frozen=True)
class International:
    """A simulated international file: ``data`` (one row per student), ``truth`` (one row per
    country: ``CNT``, ``mean``, ``sd``, ``intercept``, ``ESCS``, ``FEMALE`` — finite-population
    values — then the generating ``beta0``, ``beta_escs``, ``beta_female``, ``tau``, ``sigma``,
    ``n_population``, ``n_schools``, ``n_students``) and the column roles."""

    data: pd.DataFrame
    truth: pd.DataFrame
    pv_columns: tuple[str, ...]
    replicate_columns: tuple[str, ...]
    background_columns: tuple[str, ...]

    def design(self, nested: bool = True, data: pd.DataFrame | None = None, **overrides):
        """The :class:`lsa.SurveyDesign` of the file (or of ``data``, e.g. one country's rows):
        school and student weights, PV set ``MATH``, Fay replicates (k = 0.5) nested within
        ``CNT`` (``nested=False``: one scheme over the pooled file, right for estimates within
        one country only)."""
        from ..design import SurveyDesign
        from ..replicates import Replicates

        rep = Replicates.fay(list(self.replicate_columns), k=FAY_K)
        spec = dict(ids={"school": "CNTSCHID"}, weights={"student": "W_FSTUWT", "school": "W_SCHGRNRABWT"},
                    pvs={"MATH": list(self.pv_columns)}, replicates=rep.within("CNT") if nested else rep)
        spec.update(overrides)
        return SurveyDesign(self.data if data is None else data, **spec)


def simulate_international(n_countries: int = 80, n_students: int = 600_000, n_schools: int = 21_000,
                           n_pvs: int = 10, n_replicates: int = 80, n_background: int = 300, *,
                           seed: int | None = 0) -> International:
    """Draw the synthetic international file (module docstring). Countries differ in size
    (school counts ∝ Gamma(4) shares, at least 8 schools); every school has
    round(n_students / n_schools) sampled students.

    >>> sim = simulate_international(n_countries=3, n_students=3000, n_schools=100, n_pvs=2,
    ...                              n_replicates=8, n_background=4, seed=1)
    >>> sim.data.shape, list(sim.truth["CNT"])
    ((3000, 29), ['C01', 'C02', 'C03'])
    """
    _check_sizes(n_countries, n_students, n_schools, n_pvs, n_replicates, n_background)
    root = np.random.SeedSequence(seed)
    plan_ss, bg_ss, *country_ss = root.spawn(n_countries + 2)
    plan = np.random.default_rng(plan_ss)
    spp = max(round(n_students / n_schools), 2)
    schools = _allocate(plan.gamma(4.0, size=n_countries), n_schools)
    beta0 = plan.normal(480, 40, n_countries)
    beta1 = plan.normal(35, 8, n_countries)
    tau = plan.uniform(30, 60, n_countries)
    sigma = plan.uniform(65, 90, n_countries)
    h = hadamard_order(n_replicates)
    frames, truth = [], []
    for c in range(n_countries):
        name = f"C{c + 1:0{max(2, len(str(n_countries)))}d}"
        sim = _country(int(schools[c]), spp, n_pvs, (beta0[c], beta1[c], BETA_FEMALE), tau[c], sigma[c], country_ss[c])
        frames.append(_country_frame(sim, c, n_pvs, h))
        t = sim.truth
        truth.append({"CNT": name, "mean": t["mean"], "sd": t["sd"], "intercept": t["coef"]["(Intercept)"],
                      "ESCS": t["coef"]["escs"], "FEMALE": t["coef"]["female"], "beta0": beta0[c],
                      "beta_escs": beta1[c], "beta_female": BETA_FEMALE, "tau": tau[c], "sigma": sigma[c],
                      "n_population": t["n_population"], "n_schools": int(schools[c]),
                      "n_students": len(sim.data)})
    names = [t["CNT"] for t in truth]
    data = pd.concat(frames, ignore_index=True)
    data.insert(0, "CNT", pd.Categorical.from_codes(np.repeat(np.arange(n_countries), [len(f) for f in frames]),
                                                    categories=names))
    background = _background(np.random.default_rng(bg_ss), len(data), n_background)
    data = pd.concat([data, background], axis=1)
    return International(data, pd.DataFrame(truth), tuple(f"PV{m}MATH" for m in range(1, n_pvs + 1)),
                         tuple(f"W_FSTURWT{r}" for r in range(1, n_replicates + 1)), tuple(background.columns))


def hadamard_order(order: int) -> np.ndarray:
    """A normalised Hadamard matrix (first row and column +1) of ``order``: Sylvester for a power
    of 2, Paley I for ``order − 1`` a prime ≡ 3 (mod 4) (80, 24, 12, ...)."""
    if order >= 2 and order & (order - 1) == 0:
        return hadamard(order)
    q = order - 1
    if q < 3 or q % 4 != 3 or any(q % d == 0 for d in range(2, int(q**0.5) + 1)):
        raise LsaError(f"n_replicates must be a power of 2 or one more than a prime ≡ 3 (mod 4) "
                       f"(e.g. 8, 12, 16, 20, 24, 32, 44, 48, 60, 64, 68, 72, 80); got {order}.")
    residues = {(i * i) % q for i in range(1, q)}
    chi = np.array([0] + [1 if i in residues else -1 for i in range(1, q)])
    jac = chi[(np.arange(q)[None, :] - np.arange(q)[:, None]) % q]         # Q[i, j] = χ(j − i)
    out = np.ones((order, order), dtype=int)
    out[1:, 1:] = jac + np.eye(q, dtype=int)                                  # H = I + [[0, 1'], [−1, Q]]
    out[1:, 0] = -1
    return out * out[:, :1]                                                  # normalise the first column


def _country(n_schools: int, spp: int, n_pvs: int, beta, tau: float, sigma: float, ss) -> object:
    """One country's :func:`simulate` draw from a frame of 10 × ``n_schools`` schools; when a large
    school would be a certain selection (π ≥ 1), the frame is redrawn, from the same stream, 40 times
    as large (deterministic given the seed)."""
    for ratio in (10, 40):
        try:
            return simulate(n_schools, spp, n_pvs, n_pop_schools=max(ratio * n_schools, 400), beta=beta, tau=tau,
                            sigma=sigma, pv_sd=PV_SD, seed=np.random.default_rng(ss), replicates=False)
        except ValueError:
            continue
    raise LsaError(f"cannot draw {n_schools} schools without certainty selections; use more schools per country.")


def _country_frame(sim, c: int, n_pvs: int, h: np.ndarray) -> pd.DataFrame:
    d = sim.data
    rank = np.unique(d["school_id"].to_numpy(), return_inverse=True)[1]     # frame order of the school
    out = pd.DataFrame({
        "CNTSCHID": ((c + 1) * 100_000 + rank + 1).astype(np.int32),
        "CNTSTUID": ((c + 1) * 1_000_000 + np.arange(1, len(d) + 1)).astype(np.int32),
        "W_FSTUWT": d["w_fstuwt"].to_numpy(), "W_SCHGRNRABWT": d["w_fschwt"].to_numpy(),
        "ESCS": d["escs"].to_numpy(), "FEMALE": d["female"].to_numpy().astype(np.int8)})
    reps = fay_replicates(rank, d["w_fstuwt"].to_numpy(), h, FAY_K)
    pvs = d[list(sim.pv_columns)].to_numpy()
    return pd.concat([out, pd.DataFrame(reps, columns=[f"W_FSTURWT{r}" for r in range(1, h.shape[0] + 1)], copy=False),
                      pd.DataFrame(pvs, columns=[f"PV{m}MATH" for m in range(1, n_pvs + 1)], copy=False)], axis=1)


def _allocate(shares: np.ndarray, total: int, minimum: int = 8) -> np.ndarray:
    """Even school counts ∝ ``shares`` (at least ``minimum``) summing to about ``total``."""
    raw = np.maximum(shares / shares.sum() * total, minimum)
    return (2 * np.round(raw / 2)).astype(int)


def _background(rng: np.random.Generator, n: int, k: int) -> pd.DataFrame:
    """Items uniform on 1..4 (two random bits a value) and float32 N(0, 1) indices with 3% NaN,
    drawn column-major so that pandas takes the arrays without a copy."""
    n_items = (4 * k) // 5
    raw = rng.bit_generator.random_raw(-(-n * n_items // 8)).view(np.uint8)[: n * n_items]
    np.bitwise_and(raw, 3, out=raw)
    raw += 1
    items = raw.view(np.int8).reshape(n_items, n)
    idx = rng.standard_normal((k - n_items, n), dtype=np.float32)
    idx[rng.random((k - n_items, n), dtype=np.float32) < 0.03] = np.nan
    return pd.concat([pd.DataFrame(items.T, columns=[f"BQ{j:03d}" for j in range(1, n_items + 1)], copy=False),
                      pd.DataFrame(idx.T, columns=[f"IDX{j:03d}" for j in range(1, k - n_items + 1)], copy=False)],
                     axis=1)


def _check_sizes(n_countries, n_students, n_schools, n_pvs, n_replicates, n_background) -> None:
    for name, value, low in (("n_countries", n_countries, 1), ("n_students", n_students, 4),
                             ("n_schools", n_schools, 2), ("n_pvs", n_pvs, 1), ("n_replicates", n_replicates, 2),
                             ("n_background", n_background, 0)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise LsaError(f"{name} must be an integer >= {low}; got {value!r}.")
    if n_schools < 8 * n_countries:
        raise LsaError(f"n_schools must be at least 8 per country ({8 * n_countries} for {n_countries} countries); "
                       f"got {n_schools}.")
