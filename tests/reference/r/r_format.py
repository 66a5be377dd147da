"""Make tests/reference/r_format.json: R 4.2.2's format(x, digits = 4) and printCoefmat(digits = 4)
for the cases of tests/test_mixed_api.py::test_r_formatting_matches_r (run once where R is
installed: python tests/reference/r/r_format.py)."""

import json
import subprocess
from pathlib import Path

import numpy as np

rng = np.random.default_rng(5)
cases = [list(rng.normal(size=4) * 10.0 ** rng.integers(-5, 7, size=4)) for _ in range(40)]
cases += [[2547.812684, 4463.001415], [200.060676, 80.920992], [1563.5483, 106058.01207]]
code = "; ".join(f"cat(format(c({', '.join(repr(float(v)) for v in c)}), digits=4), sep='|'); cat('\\n')"
                 for c in cases)
formatted = subprocess.run(["Rscript", "-e", code], capture_output=True, text=True, check=True).stdout.splitlines()
est, se = [499.14781, -0.0123, 18.0536], [10.4826, 0.0051, 1.2161]
m = ", ".join(repr(float(v)) for v in np.r_[est, se, np.array(est) / np.array(se)])
coef_call = (f"m <- matrix(c({m}), 3); dimnames(m) <- list(c('a','b','c'), c('Estimate','Std. Error',"
             f"'t value')); printCoefmat(m, digits=4)")
coefmat = subprocess.run(["Rscript", "-e", coef_call], capture_output=True, text=True,
                         check=True).stdout.rstrip("\n").splitlines()
version = subprocess.run(["Rscript", "-e", "cat(R.version.string)"], capture_output=True, text=True).stdout
out = {"generated_by": "tests/reference/r/r_format.py", "R": version, "format_digits4": {"cases": cases, "output": formatted},
       "printCoefmat": {"r_call": coef_call, "estimate": est, "std_error": se, "output": coefmat}}
(Path(__file__).parent.parent / "r_format.json").write_text(json.dumps(out, indent=1))
