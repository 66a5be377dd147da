"""Recipes: a TOML file that names the data, the design, the analyses and the published numbers
they should reproduce (read with the standard library's ``tomllib``).

```toml
title = "PISA 2003 Netherlands: mean performance"

[data]
dataset = "pisa2003_nld"            # a bundled extract; or file = "students.sav"; or
                                    # folder = "TIMSS2019", countries = ["aut"] (lsa.io.read_study)
[design]
study = "PISA"                      # from data_dictionaries/; or ids / weights / pvs / replicates
cycle = 2003

[[derive]]                          # optional new columns
name = "gender"
recode = { source = "ST03Q01", map = { "1" = "Female", "2" = "Male" } }

[[analysis]]
name = "Mean performance"
function = "mean"                   # any lsa estimator, mixed, mix_pv, robust.clustered, ...
variables = ["MATH", "READ"]

[[analysis.published]]              # optional: numbers the analysis must reproduce
term = "MATH"
estimate = 538
std_error = 3.1
digits = 0                          # agree to the printed digit (or tolerance = 0.5)
std_error_digits = 1
source = "OECD (2004), Table 2.5c"
```
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import LsaError


class RecipeError(LsaError, ValueError):
    """A recipe cannot be read or names something that does not exist."""


TOP_KEYS = {"title", "description", "data", "design", "derive", "analysis", "output", "seed"}
DATA_KEYS = {"dataset", "file", "folder", "study", "cycle", "grade", "countries", "columns"}
ANALYSIS_BASE = {"name", "function", "published", "plot"}
PUBLISHED_KEYS = {"term", "by", "estimate", "std_error", "digits", "std_error_digits", "tolerance",
                  "std_error_tolerance", "source", "column", "mark", "estimate_column", "std_error_column"}


@dataclass(frozen=True)
class Recipe:
    path: Path
    text: str
    title: str
    data: dict
    design: dict
    derive: list
    analyses: list
    output: dict = field(default_factory=dict)
    seed: int | None = None
    description: str = ""

    def line_of(self, key: str, analysis: int | None = None) -> int | None:
        """Line number of ``key`` (inside the n-th [[analysis]] table when given), for messages."""
        lines = self.text.splitlines()
        start = 0
        if analysis is not None:
            heads = [i for i, l in enumerate(lines) if l.strip() == "[[analysis]]"]
            if analysis < len(heads):
                start = heads[analysis]
        pat = re.compile(rf"^\s*{re.escape(key)}\s*=")
        for i in range(start, len(lines)):
            if pat.match(lines[i]):
                return i + 1
        return start + 1 if analysis is not None else None

    def where(self, key: str, analysis: int | None = None) -> str:
        line = self.line_of(key, analysis)
        return f"{self.path}" + (f", line {line}" if line else "")


def load_recipe(path: str | Path) -> Recipe:
    """Read and check a recipe; errors name the file, the line or key and the fix."""
    path = Path(path)
    if path.is_dir():
        raise RecipeError(f"recipe {path} is a folder; give the recipe's .toml file.")
    if not path.is_file():
        raise RecipeError(f"recipe {path} does not exist.")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise RecipeError(f"recipe {path} is not a UTF-8 text file ({exc.reason} at byte {exc.start}); "
                          "a recipe is a TOML text file.") from exc
    except OSError as exc:
        raise RecipeError(f"recipe {path} cannot be read: {exc.strerror or exc}.") from exc
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(f"{path}: not valid TOML: {exc}") from exc
    _check_types(path, raw)
    rec = Recipe(path, text, raw.get("title", path.stem), raw.get("data", {}), raw.get("design", {}),
                 raw.get("derive", []), raw.get("analysis", []), raw.get("output", {}), raw.get("seed"),
                 raw.get("description", ""))
    _unknown(rec, set(raw), TOP_KEYS, "top level")
    _unknown(rec, set(rec.data), DATA_KEYS, "[data]")
    if not rec.data:
        raise RecipeError(f"{path}: a [data] table is needed (dataset = \"pisa2003_nld\", file = ..., or folder = ...).")
    if not rec.analyses:
        raise RecipeError(f"{path}: no [[analysis]] tables; add at least one with name and function.")
    for i, a in enumerate(rec.analyses):
        for key in ("name", "function"):
            if key not in a:
                raise RecipeError(f"{rec.where('function', i)}: analysis {i + 1} needs '{key}'.")
        for p in a.get("published", []):
            bad = set(p) - PUBLISHED_KEYS
            if bad:
                raise RecipeError(f"{rec.where(sorted(bad)[0], i)}: unknown key(s) {sorted(bad)} in "
                                  f"[[analysis.published]] of {a['name']!r}; allowed: {sorted(PUBLISHED_KEYS)}.")
    return rec


def _check_types(path: Path, raw: dict) -> None:
    """The top-level entries have the TOML types the runner expects."""
    tables = {"data": "a table ([data])", "design": "a table ([design])", "output": "a table ([output])"}
    for key, what in tables.items():
        if key in raw and not isinstance(raw[key], dict):
            raise RecipeError(f"{path}: {key!r} must be {what}; got {type(raw[key]).__name__} {raw[key]!r}.")
    for key, what in (("analysis", "[[analysis]]"), ("derive", "[[derive]]")):
        if key in raw and not (isinstance(raw[key], list) and all(isinstance(a, dict) for a in raw[key])):
            raise RecipeError(f"{path}: {key!r} must be a list of tables ({what}); got {raw[key]!r}.")
    for key in ("title", "description"):
        if key in raw and not isinstance(raw[key], str):
            raise RecipeError(f"{path}: {key!r} must be a string; got {raw[key]!r}.")
    seed = raw.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32):
        raise RecipeError(f"{path}: 'seed' must be an integer between 0 and 2**32 - 1; got {seed!r}.")


def _unknown(rec: Recipe, keys: set, allowed: set, where: str) -> None:
    bad = sorted(keys - allowed)
    if bad:
        raise RecipeError(f"{rec.where(bad[0])}: unknown key {bad[0]!r} in {where}; allowed: {sorted(allowed)}.")


def check_kwargs(rec: Recipe, index: int, fn_name: str, kwargs: dict[str, Any], allowed: set[str]) -> None:
    bad = sorted(set(kwargs) - allowed)
    if bad:
        raise RecipeError(f"{rec.where(bad[0], index)}: {fn_name} has no option {bad[0]!r}; "
                          f"its options are {sorted(allowed)}.")
