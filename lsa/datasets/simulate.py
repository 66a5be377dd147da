"""A simulator of two-stage PISA-like samples with known truth.

Population: ``n_pop_schools`` schools with lognormal sizes; student proficiency

    θ_ij = β0 + β1 · escs_ij + β2 · female_ij + u_j + e_ij,   u_j ~ N(0, τ²), e_ij ~ N(0, σ²),

with escs having a school component (so schools differ in composition). Sample: schools drawn
with probability proportional to size (systematic PPS), then ``students_per_school`` students
by simple random sampling within each school. Weights: school weight 1/π_j, conditional student
weight N_j/n_j, total weight their product. Plausible values: θ_ij plus independent
N(0, ``pv_sd``²) measurement noise per draw (so PVs differ, as real PVs do). Fay BRR replicates
(k = 0.5) from pairs of schools as variance strata and a Sylvester Hadamard matrix.

The truth returned is the finite-population value (mean of θ, population regression of θ on
escs and female), which design-based estimates target.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.linalg import hadamard


@dataclass(frozen=True)
class Simulated:
    """Simulated sample: ``data`` (one row per student), ``truth`` (population values) and
    the column roles; ``design()`` builds the matching :class:`lsa.SurveyDesign`."""

    data: pd.DataFrame
    truth: dict
    pv_columns: tuple[str, ...]
    replicate_columns: tuple[str, ...]

    def design(self, **overrides):
        from ..design import SurveyDesign
        from ..replicates import Replicates

        spec = dict(ids={"school": "school_id"}, weights={"student": "w_fstuwt", "school": "w_fschwt"},
                    pvs={"MATH": list(self.pv_columns)},
                    replicates=Replicates.fay(list(self.replicate_columns), k=0.5))
        spec.update(overrides)
        return SurveyDesign(self.data, **spec)


def simulate(
    n_schools: int = 150,
    students_per_school: int = 30,
    n_pvs: int = 5,
    *,
    n_pop_schools: int = 2000,
    beta: tuple[float, float, float] = (500.0, 35.0, -10.0),
    tau: float = 45.0,
    sigma: float = 80.0,
    pv_sd: float = 20.0,
    seed: int | None = 0,
    replicates: bool = True,
) -> Simulated:
    """Draw a PISA-like two-stage sample with Fay replicates and PVs; see the module docstring.
    ``replicates=False`` leaves the replicate columns out (a caller that builds its own; the
    draws are the same)."""
    rng = np.random.default_rng(seed)
    size = np.maximum(np.round(rng.lognormal(np.log(120), 0.6, n_pop_schools)).astype(int), students_per_school)
    school_escs = rng.normal(0, 0.5, n_pop_schools)
    u = rng.normal(0, tau, n_pop_schools)
    school = np.repeat(np.arange(n_pop_schools), size)
    escs = school_escs[school] + rng.normal(0, 0.85, len(school))
    female = rng.integers(0, 2, len(school)).astype(float)
    theta = beta[0] + beta[1] * escs + beta[2] * female + u[school] + rng.normal(0, sigma, len(school))
    x = np.column_stack([np.ones(len(school)), escs, female])
    truth = {"mean": float(theta.mean()), "sd": float(theta.std()),
             "coef": dict(zip(["(Intercept)", "escs", "female"], map(float, np.linalg.solve(x.T @ x, x.T @ theta)))),  # normal equations: 5× faster than lstsq
             "n_population": int(len(school))}

    # stage 1: systematic PPS sample of schools
    pi_school = n_schools * size / size.sum()
    if (pi_school >= 1).any():
        raise ValueError("some schools are certain selections; use fewer sampled schools or more population schools")
    cum = np.cumsum(size) / size.sum() * n_schools
    chosen = np.searchsorted(cum, rng.uniform() + np.arange(n_schools), side="right")
    # stage 2: SRS of students within each chosen school
    starts = np.concatenate([[0], np.cumsum(size)[:-1]])
    rows = np.concatenate([starts[j] + rng.choice(size[j], students_per_school, replace=False) for j in chosen])
    sch = school[rows]
    w_sch = 1 / pi_school[sch]
    w_stu = w_sch * size[sch] / students_per_school
    data = pd.DataFrame({"school_id": sch, "student_id": np.arange(len(rows)) + 1, "escs": escs[rows],
                         "female": female[rows], "w_fschwt": w_sch, "w_fstuwt": w_stu})
    pv_cols = tuple(f"PV{m}MATH" for m in range(1, n_pvs + 1))
    for col in pv_cols:
        data[col] = theta[rows] + rng.normal(0, pv_sd, len(rows))
    if not replicates:
        return Simulated(data, truth, pv_cols, ())
    rank = np.searchsorted(np.sort(chosen), sch)
    n_strata = int(rank.max()) // 2 + 1      # the smallest Sylvester matrix with more rows than strata
    reps = fay_replicates(rank, w_stu, hadamard(1 << int(np.ceil(np.log2(n_strata + 1)))), k=0.5)
    rep_cols = tuple(f"w_fsturwt{r}" for r in range(1, reps.shape[1] + 1))
    data = pd.concat([data, pd.DataFrame(reps, columns=rep_cols)], axis=1)
    return Simulated(data, truth, pv_cols, rep_cols)


def fay_replicates(rank: np.ndarray, w: np.ndarray, h: np.ndarray, k: float) -> np.ndarray:
    """Fay BRR replicate weights (n × R): units paired in ``rank`` order into variance strata
    (stratum = rank // 2, first unit = even rank); stratum s takes column (s mod (R − 1)) + 1 of
    the Hadamard matrix ``h`` (R × R; column 0, all ones, is skipped); replicate r multiplies the
    first unit's weight by 2 − k where H[r, column] = +1, else by k (the second unit the reverse)."""
    column = (rank // 2) % (h.shape[0] - 1) + 1
    plus = (h[:, column] > 0) == (rank % 2 == 0)[None, :]                   # R × n
    return (w[None, :] * np.where(plus, 2 - k, k)).T                        # n × R, column-major
