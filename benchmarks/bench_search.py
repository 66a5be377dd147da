"""Time of ``lsa.io.search`` (and ``lsa search``) over a folder of 50 study files.

Synthetic data: 50 small SPSS files in the TIMSS 2019 grade 4 naming scheme
(``asg<cnt>m7.sav``), each with 400 labelled variables (IEA-style labels such as
``GEN\\HOW OFTEN\\MADE FUN OF ME``, value labels and a user-missing code) and 20 rows; one
variable per file carries the word searched for (``STUDENT BULLYING/SCL``). Baseline, timed in
the same run: reading the 50 headers with ``pyreadstat.read_sav(metadataonly=True)`` and nothing
else. Timed against it: ``lsa.io.search(folder, "bully")``, the command ``lsa search`` run
in-process through ``lsa.cli.main``, and the shell command end to end: ``lsa search FOLDER bully``
in a new interpreter (the installed script, or ``python -m lsa.cli``), which adds the interpreter's
start and the imports (``import lsa`` is lazy, :mod:`lsa`; the command loads pandas and the readers,
not the estimators). Issue 15 asks for under 1 s for 50 files: the full run prints whether the
shell command met it (best of 5 wall times, and the CPU time of that process, which a busy machine
inflates less) and asserts the ratio: ``lsa search`` is faster than reading the headers with
pyreadstat (it reads SPSS dictionaries itself, :mod:`lsa.io_savheader`). Every run checks that
each file's variable is found once.

Measured (full run, shared 2-core machine, load average 4-6 from other jobs): headers only with
pyreadstat 0.93 s; ``lsa.io.search`` 0.41 s (0.44 x); ``lsa search`` in-process 0.28 s (0.30 x);
the shell command 0.94 s wall (best of 5), 0.66 s CPU: the 1 s target met. Before the lazy
``import lsa`` (issue 15), ``import lsa`` alone took 1.3-1.4 s and the command about 3.3 s.

    python benchmarks/bench_search.py [--quick]

``--quick``: 10 files of 60 variables, one timing run (checks the code path, not the speed).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat

import lsa
from lsa import cli

from _common import best_of, quick_requested

COUNTRIES = [f"c{i:02d}" for i in range(100)]


def write_folder(folder: Path, n_files: int, n_vars: int, n_rows: int = 20) -> None:
    rng = np.random.default_rng(1)
    names = [f"ASBG{i:03d}" for i in range(n_vars - 1)] + ["ASBGSB"]
    labels = [f"GEN\\HOW OFTEN\\ITEM {i}" for i in range(n_vars - 1)] + ["STUDENT BULLYING/SCL"]
    vl = {1: "Never", 2: "A few times a year", 3: "Once or twice a month", 4: "At least once a week",
          9: "Omitted or invalid"}
    for c in COUNTRIES[:n_files]:
        df = pd.DataFrame(rng.integers(1, 5, size=(n_rows, n_vars)).astype(float), columns=names)
        pyreadstat.write_sav(df, str(folder / f"asg{c}m7.sav"), column_labels=labels,
                             variable_value_labels={n: vl for n in names[:-1]},
                             missing_ranges={n: [9] for n in names[:-1]})


def headers_only(folder: Path) -> int:
    return sum(len(pyreadstat.read_sav(str(p), metadataonly=True)[1].column_names)
               for p in sorted(folder.glob("*.sav")))


def cli_search(folder: Path) -> str:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = cli.main(["search", str(folder), "bully"])
    assert code == 0, code
    return buf.getvalue()


def shell_search(folder: Path) -> tuple[float, float, str]:
    """Wall and CPU seconds of ``lsa search FOLDER bully`` in a new process, and its output."""
    script = shutil.which("lsa")
    cmd = [script] if script else [sys.executable, "-m", "lsa.cli"]
    before = os.times()
    t0 = time.perf_counter()
    out = subprocess.run(cmd + ["search", str(folder), "bully"], check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return wall, cpu, out.stdout


def main(quick: bool = False) -> None:
    n_files, n_vars, repeat = (10, 60, 1) if quick else (50, 400, 5)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_folder(folder, n_files, n_vars)
        headers_only(folder)                                         # warm the file cache
        t_base, n_seen = best_of(lambda: headers_only(folder), repeat)
        t_search, hits = best_of(lambda: lsa.io.search(folder, "bully"), repeat)
        t_cli, text = best_of(lambda: cli_search(folder), repeat)
        shell = [shell_search(folder) for _ in range(repeat)]
        t_script, cpu_script, shell_text = min(shell)
    assert n_seen == n_files * n_vars, n_seen
    assert len(hits) == n_files and set(hits["variable"]) == {"ASBGSB"}, hits
    assert (hits["matched"] == "label").all() and hits["file"].is_unique
    assert f"{n_files} variable(s) in {n_files} file(s)" in text, text
    assert shell_text == text, (shell_text, text)
    print(f"{n_files} files x {n_vars} variables{' (quick mode: the times mean nothing)' if quick else ''}")
    print(f"headers only (pyreadstat, baseline): {t_base:.3f} s")
    print(f"lsa.io.search:                      {t_search:.3f} s  ({t_search / t_base:.2f} x baseline)")
    print(f"lsa search (cli.main, in-process):  {t_cli:.3f} s  ({t_cli / t_base:.2f} x baseline)")
    print(f"lsa search as a shell command (new interpreter, imports included): {t_script:.3f} s wall, "
          f"{cpu_script:.3f} s CPU")
    if not quick:   # the claim is a ratio (the machine may be shared); the 1 s of issue 15 is printed
        print(f"issue 15 target: the shell command under 1 s for 50 files -> "
              f"{'met' if t_script < 1.0 else 'NOT met'} on this run (wall {t_script:.2f} s, CPU {cpu_script:.2f} s)")
        assert t_cli < t_base, f"lsa search ({t_cli:.2f} s) is slower than reading the headers ({t_base:.2f} s)"


if __name__ == "__main__":
    main(quick_requested())
