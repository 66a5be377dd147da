"""The layout of lsa.impute after the split of issue 11 (pipeline → spec, tables, chains, kernel, norm).

Oracles: the source tree itself (which modules import miceforest/LightGBM), the installed
miceforest (the private methods lsa.impute.kernel overrides must exist with the signatures it
was written for, and miceforest must call them, or the overrides would be silently bypassed:
no cluster bootstrap, no linear-normal draw), and ``lsa.datasets.load`` (the deprecated
``lsa.impute.load_belgium_wmiss`` must return the same frame).
"""

import ast
import inspect
from pathlib import Path

import pandas as pd
import pytest

import lsa
import lsa.impute as li

ROOT = Path(__file__).resolve().parents[1] / "lsa"


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_miceforest_and_lightgbm_only_in_kernel():
    users = sorted(str(p.relative_to(ROOT.parent)) for p in ROOT.rglob("*.py")
                   if _imported_roots(p) & {"miceforest", "lightgbm"})
    assert users == ["lsa/impute/kernel.py"]


def test_overridden_miceforest_methods_exist_and_are_called():
    mf = pytest.importorskip("miceforest")
    kernel = mf.ImputationKernel
    assert list(inspect.signature(kernel._get_nonmissing_subset_index).parameters) == ["self", "variable", "seed"]
    assert list(inspect.signature(kernel._mean_match_mice).parameters) == [
        "self", "variable", "lgbmodel", "bachelor_features", "candidate_features", "candidate_values", "dataset",
        "iteration"]
    assert list(inspect.signature(kernel._get_nonmissing_index).parameters) == ["self", "variable"]
    assert "self._get_nonmissing_subset_index(" in inspect.getsource(kernel._make_features_label)
    assert "self._mean_match_mice(" in inspect.getsource(kernel.mice)


def test_tutorial_data_alias_is_deprecated():
    with pytest.warns(DeprecationWarning, match=r'lsa\.datasets\.load\("pisa2018_bel_wmiss"\)'):
        df = li.load_belgium_wmiss()
    pd.testing.assert_frame_equal(df, lsa.datasets.load("pisa2018_bel_wmiss"), check_exact=True)
    assert not (ROOT / "impute" / "tutorial_data.py").exists()


def test_public_names_unchanged():
    from lsa.impute.kernel import DEFAULT_LGB_PARAMS
    from lsa.impute.norm import norm_draw
    from lsa.impute.pipeline import _norm_draw

    assert li.DEFAULT_LGB_PARAMS is DEFAULT_LGB_PARAMS and _norm_draw is norm_draw
    assert callable(li.impute) and li.impute.__module__ == "lsa.impute.pipeline"
