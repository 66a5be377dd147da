"""ruff (configuration in pyproject.toml: pycodestyle E4/E7/E9 and pyflakes F, line length 120)
finds nothing in lsa/, tests/ or benchmarks/. ruff is in the ``test`` extra: if it is missing,
this fails rather than skips."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_check_is_clean():
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "lsa", "tests", "benchmarks"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"ruff check found problems (fix them, or run `ruff check --fix`):\n" \
                                 f"{proc.stdout[-6000:]}{proc.stderr[-2000:]}"


def test_version_has_one_source():
    """pyproject.toml holds the version; lsa.__version__ is read from the installed metadata. If this
    fails after a version bump, reinstall (``pip install -e .``)."""
    import tomllib
    from importlib.metadata import version

    import lsa

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert lsa.__version__ == version("lsa") == declared


def test_changelog_has_an_unreleased_section():
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert text.startswith("# Changelog") and "## [Unreleased]" in text


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    command = next(line.split("#")[0].strip() for line in readme.splitlines() if "python -m pytest" in line)
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert command in ci, (command, ci)
