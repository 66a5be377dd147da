"""Time lsa.mixed fits against baselines measured in the same run and the R times on record.

    python benchmarks/bench_mixed.py [--quick]

Prints, per model, our median time per fit (5 runs), the ratio to WeMix's recorded time
(`time_fit_median_s` in tests/reference/wemix_*.json: a different machine and run, shown for
orientation only), and ratios to two baselines timed here: statsmodels MixedLM (unweighted, same
data; it cannot use weights) and a straightforward dense per-cluster-loop evaluation of the same
objective (time per objective evaluation, ours vs the loop).

``--quick``: the random-intercept model only, one run of everything (checks the code paths and
that the objective equals the dense loop; the times mean nothing).
"""
import json
import statistics
import time
import warnings

import numpy as np

from lsa.mixed import build_stats, level_weights, mixed, model_frame, parse_formula, profiled
from lsa.mixed.pml import ThetaMap

from _common import REF, tests_conftest, quick_requested, read_reference_csv


def dense_loglik(*args):
    """The baseline: spec §1.3 written out cluster by cluster (tests/conftest.py's dense_loglik, the
    oracle of tests/test_mixed_identities.py)."""
    return tests_conftest().dense_loglik(*args)


def timeit(fn, runs=5):
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def main(quick: bool = False):
    warnings.simplefilter("ignore")
    runs = 1 if quick else 5
    if quick:
        print("quick mode: the random-intercept model, one run each (the times mean nothing)")
    pisa = read_reference_csv("pisa2012")
    import statsmodels.formula.api as smf

    cases = [
        ("pisa RI weighted", "wemix_pisa2012_ri", pisa, ["w_fstuwt", "w_fschwt"],
         "pv1math ~ st29q03 + sc14q02 + st04q01 + escs", "1"),
        ("pisa RS weighted", "wemix_pisa2012_rs", pisa, ["w_fstuwt", "w_fschwt"],
         "pv1math ~ st29q03 + sc14q02 + st04q01 + escs", "1 + escs"),
    ]
    if quick:
        cases = cases[:1]
    else:
        timss = read_reference_csv("timss2019_usa_3level")
        timss["schw"] = timss.WGTFAC1 * timss.WGTADJ1
        timss["clsw"] = timss.schw * timss.WGTFAC2 * timss.WGTADJ2
        cases.append(("timss 3-level weighted", None, timss, ["TOTWGT", "clsw", "schw"],
                      "BSMMAT01 ~ BSBGHER + Sex", None))
    print(f"{'model':26s} {'lsa s/fit':>10s} {'WeMix s':>9s} {'ratio':>8s} "
          f"{'MixedLM s':>10s} {'ratio':>8s}")
    for name, ref, d, w, fixed, re in cases:
        f = fixed + (f" + ({re} | schoolid)" if re else " + (1 | IDSCHOOL/IDCLASS)")
        ours = timeit(lambda: mixed(f, d, weights=w), runs)
        r_t = json.loads((REF / f"{ref}.json").read_text())[
            "time_fit_median_s"] if ref else float("nan")
        if re:
            dd = d.assign(**{c: d[c].cat.remove_unused_categories()
                             for c in d.columns if hasattr(d[c], "cat")})
            sm = timeit(lambda: smf.mixedlm(fixed, dd, groups=dd["schoolid"],
                                            re_formula="~" + re.replace("1 + ", "")
                                            if "escs" in re else None).fit(reml=False), runs=min(runs, 3))
        else:
            sm = float("nan")
        print(f"{name:26s} {ours:10.4f} {r_t:9.2f} {r_t / ours:8.0f}x {sm:10.4f} {sm / ours:8.1f}x")
    # per-evaluation: sufficient statistics vs dense loop over clusters (same objective)
    f = "pv1math ~ st29q03 + sc14q02 + st04q01 + escs + (1 + escs | schoolid)"
    fr = model_frame(parse_formula(f), pisa, ("w_fstuwt", "w_fschwt"))
    st = build_stats(fr, level_weights(fr, pisa, ["w_fstuwt", "w_fschwt"]))
    tm = ThetaMap.from_blocks(fr.blocks)
    th = np.array([0.5, 0.05, 0.26])
    pr = profiled(th, st, tm)
    t_ours = timeit(lambda: profiled(th, st, tm), runs=1 if quick else 50)
    t_dense = timeit(lambda: dense_loglik(fr, pisa, th, pr.beta, pr.sigma2, "w_fstuwt",
                                          "w_fschwt"), runs)
    dense = dense_loglik(fr, pisa, th, pr.beta, pr.sigma2, "w_fstuwt", "w_fschwt")
    assert abs(pr.loglik - dense) <= 1e-10 * abs(dense), (pr.loglik, dense)  # same objective
    print(f"\nobjective + gradient per evaluation (RS): {t_ours * 1e3:.2f} ms; dense per-cluster "
          f"loop (value only, β, σ² given): {t_dense * 1e3:.1f} ms; ratio {t_dense / t_ours:.0f}x")


if __name__ == "__main__":
    main(quick=quick_requested())
