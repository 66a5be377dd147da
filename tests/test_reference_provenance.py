"""Every file in tests/reference/ and tests/data/ has its provenance in tests/reference/README.md:
a row naming the script that made it or the source it was copied from, with its sha256 (the last
cell). A new reference file without a row, a changed file whose row was not updated, or a row for
a file that no longer exists fails here."""

import hashlib
import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
REFERENCE = TESTS / "reference"
README = REFERENCE / "README.md"
ROW = re.compile(r"^\| `([^`]+)` \|.*\| `([0-9a-f]{64})` \|\s*$")
NOT_LISTED = {REFERENCE / "README.md", TESTS / "data" / "README.md"}  # the provenance notes themselves


def _rows() -> dict[Path, str]:
    rows = {}
    for line in README.read_text(encoding="utf-8").splitlines():
        m = ROW.match(line)
        if m:
            path = (REFERENCE / m.group(1)).resolve()
            assert path not in rows, f"{m.group(1)} is listed twice in {README.name}"
            rows[path] = m.group(2)
    return rows


def _files() -> set[Path]:
    found = set()
    for folder in (REFERENCE, TESTS / "data"):
        found |= {p.resolve() for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    return found - {p.resolve() for p in NOT_LISTED}


def test_every_reference_file_is_listed_with_its_sha256():
    rows, files = _rows(), _files()
    missing = sorted(str(p.relative_to(TESTS)) for p in files - set(rows))
    assert not missing, f"no provenance row in tests/reference/README.md for: {missing}"
    stale = sorted(str(p) for p in set(rows) - files)
    assert not stale, f"rows for files that do not exist: {stale}"
    wrong = {str(p.relative_to(TESTS)): (sha, hashlib.sha256(p.read_bytes()).hexdigest())
             for p, sha in rows.items() if hashlib.sha256(p.read_bytes()).hexdigest() != sha}
    assert not wrong, f"sha256 differs from the README (listed, actual): {wrong}"


def test_the_parser_sees_the_table():
    assert len(_rows()) >= 35  # 31 reference files + 4 test data files when this test was written
