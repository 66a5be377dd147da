"""The result of :func:`lsa.compare` and :func:`lsa.trend`: differences with their tests.

Each row is one difference ``group − reference`` of one term: ``estimate``, ``std_error``,
``statistic`` = estimate / std_error, ``df``, ``p_value`` (two-sided), ``conf_low``,
``conf_high`` and ``mark`` (``"higher"``, ``"lower"`` or ``"not significant"`` at ``alpha``,
after the multiple-comparison adjustment when one was asked for).

Reference distribution: the standard normal (``df`` = ∞), the rule of the PISA, TIMSS and PIRLS
reports, which mark a difference when |estimate / SE| > 1.96 (OECD 2009, *PISA Data Analysis
Manual, SPSS*, 2nd ed., ch. 11; NCES PISA 2015 technical notes: "standard t tests" with the
normal critical value for independent samples).

Multiple comparisons (off by default, as in the reports): ``"bonferroni"`` (p·m),
``"holm"`` (step-down, Holm 1979), ``"fdr_bh"`` (Benjamini & Hochberg 1995), each within one
family = the distinct comparisons of one term (and one combination of extra ``by`` keys); the two
rows a−b and b−a of a pairwise table are one comparison. They equal R's ``p.adjust``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ..results import TIDY_COLUMNS, ConfInt, conf_int_frame
from ..validation import check_choice, check_number

ADJUSTMENTS = (None, "bonferroni", "holm", "fdr_bh")


def adjust_pvalues(p: np.ndarray, method: str | None) -> np.ndarray:
    """Adjusted p-values of one family (R's ``p.adjust``: ``bonferroni``, ``holm``, ``BH``)."""
    check_choice(method, ADJUSTMENTS, "adjust")
    p = np.asarray(p, dtype=float)
    m = len(p)
    if method is None or m == 0:
        return p.copy()
    if method == "bonferroni":
        return np.minimum(1.0, p * m)
    order = np.argsort(p, kind="stable")
    ps = p[order]
    if method == "holm":                               # max_{j<=i} (m - j + 1) p_(j)
        adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * ps))
    else:                                              # fdr_bh: min_{j>=i} m p_(j) / j
        adj = np.minimum(1.0, np.minimum.accumulate((m * ps / np.arange(1, m + 1))[::-1])[::-1])
    out = np.empty(m)
    out[order] = adj
    return out


def normal_tests(estimate: np.ndarray, se: np.ndarray, alpha: float) -> dict[str, np.ndarray]:
    """statistic, df (∞), two-sided normal p-value and the 1 − alpha interval."""
    with np.errstate(invalid="ignore", divide="ignore"):
        z = estimate / se
    q = stats.norm.ppf(1 - alpha / 2)
    return {"statistic": z, "df": np.full(len(z), np.inf), "p_value": 2 * stats.norm.sf(np.abs(z)),
            "conf_low": estimate - q * se, "conf_high": estimate + q * se}


def marks(estimate: np.ndarray, p: np.ndarray, alpha: float) -> np.ndarray:
    sig = p < alpha
    return np.where(sig & (estimate > 0), "higher", np.where(sig & (estimate < 0), "lower", "not significant"))


def add_tests(table: pd.DataFrame, family: list[str], alpha: float, adjust: str | None) -> pd.DataFrame:
    """Tests, adjustment within ``family`` groups (a ``pair`` column, when present, names the
    comparison so that a−b and b−a count once) and marks."""
    check_number(alpha, "alpha", low=0, high=1, low_open=True, high_open=True)
    check_choice(adjust, ADJUSTMENTS, "adjust")
    est, se = table["estimate"].to_numpy(float), table["std_error"].to_numpy(float)
    for k, v in normal_tests(est, se, alpha).items():
        table[k] = v
    p = table["p_value"].to_numpy(float)
    if adjust is not None:
        pair = table["pair"] if "pair" in table.columns else pd.Series(np.arange(len(table)), index=table.index)
        adjusted = np.empty(len(table))
        for _, idx in table.groupby(family, sort=False, dropna=False).indices.items():
            sub_pair = pair.iloc[idx].to_numpy()
            uniq, first, inverse = np.unique(sub_pair, return_index=True, return_inverse=True)
            adjusted[idx] = adjust_pvalues(p[idx][first], adjust)[inverse]
        table["p_adjusted"] = adjusted
        p = adjusted
    table["mark"] = marks(est, p, alpha)
    return table.drop(columns=["pair"], errors="ignore")


@dataclass(frozen=True)
class ComparisonResult:
    """Differences between countries, against an average, or between cycles.

    ``table`` holds the identifying columns (extra ``by`` keys, ``group``, ``reference``), then
    ``term`` and :data:`lsa.results.TIDY_COLUMNS`, then ``mark``, ``p_adjusted`` (with
    ``adjust=``), ``flag`` and the method's extras (``linking_error``, ``estimate_now``...).
    ``kind`` is ``"pairwise"``, ``"average"``, ``"reference"`` or ``"trend"``.
    """

    kind: str
    statistic: str
    table: pd.DataFrame
    note: str
    alpha: float = 0.05
    adjust: str | None = None

    def tidy(self) -> pd.DataFrame:
        return self.table.copy()

    def _index(self) -> pd.MultiIndex:
        ids = [c for c in self.table.columns[: list(self.table.columns).index("term") + 1]]
        return pd.MultiIndex.from_frame(self.table[ids])

    @property
    def params(self) -> pd.Series:
        """The differences, indexed by (identifying columns..., term)."""
        return pd.Series(self.table["estimate"].to_numpy(), index=self._index(), name="estimate")

    @property
    def bse(self) -> pd.Series:
        return pd.Series(self.table["std_error"].to_numpy(), index=self._index(), name="std_error")

    def conf_int(self, alpha: float = 0.05) -> ConfInt:
        """estimate ∓ z_{1−α/2} · std_error (normal reference, as the tests)."""
        check_number(alpha, "alpha", low=0, high=1, low_open=True, high_open=True)
        q = stats.norm.ppf(1 - alpha / 2)
        t = self.table
        return conf_int_frame(t["estimate"] - q * t["std_error"], t["estimate"] + q * t["std_error"], index=t.index)

    def significant(self) -> pd.DataFrame:
        """The rows marked higher or lower."""
        return self.table.loc[self.table["mark"] != "not significant"].reset_index(drop=True)

    def summary(self) -> str:
        cols = [c for c in self.table.columns if c not in ("conf_low", "conf_high", "df")]
        body = self.table[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}")
        return f"{self.statistic}: {self.kind} comparisons\n{self.note}\n\n{body}"

    def __repr__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        return f"<p><b>{self.statistic}</b>: {self.kind} comparisons<br>{self.note}</p>" + self.table.to_html(index=False)


def order_columns(table: pd.DataFrame, ids: list[str], extras: list[str]) -> pd.DataFrame:
    """Identifying columns, then term and the tidy columns, then the rest in ``extras`` order."""
    front = [*ids, *TIDY_COLUMNS]
    rest = [c for c in extras if c in table.columns and c not in front]
    rest += [c for c in table.columns if c not in front and c not in rest]
    return table[front + rest].reset_index(drop=True)


def join_flags(fa: np.ndarray, fb: np.ndarray) -> np.ndarray:
    """The flags of a difference's two sides, elementwise: ``"a; b"``, or the one that is not empty."""
    fa, fb = np.asarray(fa).astype(str), np.asarray(fb).astype(str)
    both = np.char.add(np.char.add(fa, "; "), fb)
    return np.where(fa == "", fb, np.where(fb == "", fa, both))
