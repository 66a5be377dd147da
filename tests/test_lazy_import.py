"""``import lsa`` loads its names lazily (PEP 562), so that the command line starts fast.

Oracle: what each fresh interpreter has in ``sys.modules`` (the modules Python actually loaded) and
the objects ``lsa.X`` resolves to, compared with where ``lsa/__init__.py`` declares each name lives.
Every check runs in a new interpreter (``subprocess``), because the test session has imported
everything already. No timing here: the time of ``lsa search`` is in ``benchmarks/bench_search.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pyreadstat

HEAVY = ("statsmodels", "formulaic", "lightgbm", "miceforest", "scipy", "joblib")


def run(code: str) -> dict:
    """Run ``code`` in a new interpreter; it prints one JSON object as its last line."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


LOADED = "import json, sys; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"


def test_import_lsa_and_lsa_cli_load_no_heavy_dependency():
    for stmt in ("import lsa", "import lsa.cli"):
        loaded = set(run(f"{stmt}\n{LOADED}"))
        assert "lsa" in loaded
        assert not loaded & set(HEAVY + ("pandas", "numpy", "pyreadstat")), (stmt, loaded & set(HEAVY))


def test_lsa_search_command_loads_no_estimator_dependency(tmp_path):
    pyreadstat.write_sav(pd.DataFrame({"IDSTUD": [1.0, 2.0], "ASBGSB": [1.0, 2.0]}), str(tmp_path / "asgautm7.sav"),
                         column_labels=["STUDENT ID", "STUDENT BULLYING/SCL"])
    code = ("import contextlib, io, json, sys\nimport lsa.cli\nbuf = io.StringIO()\n"
            "with contextlib.redirect_stdout(buf):\n"
            f"    code = lsa.cli.main(['search', {str(tmp_path)!r}, 'bully'])\n"
            "print(json.dumps({'code': code, 'out': buf.getvalue(),"
            " 'loaded': sorted({m.split('.')[0] for m in sys.modules}),"
            " 'lsa': sorted(m for m in sys.modules if m.startswith('lsa'))}))")
    res = run(code)
    assert res["code"] == 0 and "ASBGSB" in res["out"] and "1 variable(s) in 1 file(s)" in res["out"], res["out"]
    assert not set(res["loaded"]) & set(HEAVY), set(res["loaded"]) & set(HEAVY)
    assert not {"lsa.design", "lsa.estimators", "lsa.mixed", "lsa.robust", "lsa.impute"} & set(res["lsa"]), res["lsa"]


def test_every_exported_name_resolves_to_its_declared_object():
    code = ("import json, importlib, types, lsa\n"
            "bad = []\n"
            "for name in lsa.__all__:\n"
            "    where = lsa._WHERE[name]\n"
            "    want = importlib.import_module('lsa.' + name) if where is None else "
            "getattr(importlib.import_module('lsa.' + where), name)\n"
            "    if getattr(lsa, name) is not want: bad.append(name)\n"
            "ns = {}\nexec('from lsa import *', ns)\n"
            "print(json.dumps({'bad': bad, 'star': sorted(set(lsa.__all__) - set(ns)),"
            " 'dir': sorted(set(lsa.__all__) - set(dir(lsa))), 'version': lsa.__version__,"
            " 'design': lsa.design.__name__}))")
    res = run(code)
    assert res == {"bad": [], "star": [], "dir": [], "version": res["version"], "design": "lsa.design"}, res
    assert res["version"]


def test_functions_named_like_their_submodule_stay_functions_in_any_import_order():
    """``lsa.mixed``, ``lsa.mix_pv`` and ``lsa.model_inputs`` are functions even when the submodule of
    the same name was imported first (the import system binds a submodule as an attribute of its
    package); the submodules stay importable. Each order used to fail or return the module."""
    for first in ("lsa.mix_pv", "lsa.mixed", "lsa.mixed.cluster_blocks", "lsa.model_inputs", "lsa.robust.mixed",
                  "lsa.mixed.covariance", "lsa.robust"):
        code = (f"import json, types\nimport {first}\nimport lsa\nfrom lsa.mixed import fit\n"
                "from lsa import mixed, mix_pv, model_inputs\n"
                "print(json.dumps({'types': [type(f).__name__ for f in (lsa.mixed, lsa.mix_pv, lsa.model_inputs,"
                " mixed, mix_pv, model_inputs)], 'fit': fit.__name__,"
                " 'robust_mixed': lsa.robust.robust_mixed.__module__}))")
        res = run(code)
        assert res == {"types": ["function"] * 6, "fit": "lsa.mixed.fit", "robust_mixed": "lsa.robust.mixed"}, (first, res)
