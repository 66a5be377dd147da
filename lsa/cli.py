"""The ``lsa`` command line: ``lsa demo``, ``lsa run RECIPE``, ``lsa studies``, ``lsa describe FILE``,
``lsa search FOLDER WORD``, ``lsa codebook FOLDER --out DIR``, ``lsa convert SOURCE TARGET``.

Exit codes: 0 success; 1 an analysis of a recipe failed or a published number was not
reproduced (the report says which); 2 a user error: a wrong argument, a file that is missing or
cannot be read, a recipe that is invalid, an output folder that cannot be written. A user error is
one line ``lsa: error: ...`` on stderr, never a traceback: every :class:`~lsa.errors.LsaError` and
every ``OSError`` (files and folders) counts as one. Any other exception is a bug in lsa and keeps
its traceback so that it can be reported.
"""

from __future__ import annotations

import argparse
import sys

from .errors import LsaError


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(args.out, quiet=args.quiet).exit_code


def _run(args: argparse.Namespace) -> int:
    from .report.runner import run_recipe

    res = run_recipe(args.recipe, args.out, quiet=args.quiet)
    for o in res.outcomes:
        state = "FAILED" if o.error else (f"{o.failed_checks} published number(s) outside tolerance"
                                          if o.failed_checks else "ok")
        print(f"{o.name}: {state}")
        if o.error:
            print(f"  {o.error.splitlines()[-1]}", file=sys.stderr)
    print(f"report: {res.paths['html']}")
    return res.exit_code


def _studies(args: argparse.Namespace) -> int:
    from .dictionaries import studies

    table = studies()
    if args.study:
        want = args.study.strip().lower()
        sel = (table["study"].str.lower() == want) | (table["name"].str.lower() == want)
        if not sel.any():
            from .errors import StudyError

            raise StudyError(f"unknown study {args.study!r}; known: {', '.join(table['study'].unique())}.")
        table = table[sel]
    if args.unverified:
        return _print_unverified(table)
    if not args.all:
        table = table[["name", "cycle", "grade", "final_weight", "method", "n_replicates", "variance_factor",
                       "pv_variance", "n_pv", "pv_roots", "n_unverified"]].assign(
            pv_roots=lambda t: t["pv_roots"].map(lambda r: r if len(r) <= 40 else r[:37] + "..."))
    print(table.to_string(index=False))
    return 0


def _print_unverified(table) -> int:
    """One line per study cycle that still carries unverified facts, with their dotted paths."""
    import pandas as pd

    rows = table[table["n_unverified"] > 0]
    for _, r in rows.iterrows():
        grade = "" if pd.isna(r["grade"]) or str(r["grade"]) == "" else f" grade {r['grade']}"
        print(f"{r['name']} {r['cycle']}{grade}: {r['n_unverified']} unverified: {r['unverified']}")
    print(f"{len(rows)} of {len(table)} study cycles carry unverified facts "
          f"({int(rows['n_unverified'].sum())} in all); sources of the verified ones: "
          "lsa/data_dictionaries/README.md")
    return 0


def _search(args: argparse.Namespace) -> int:
    import pandas as pd

    from .io_search import data_files, search

    hits = search(args.folder, args.word, regex=args.regex, in_values=args.values)
    if hits.empty:
        print(f"no variable matches {args.word!r} in {len(data_files(args.folder))} file(s)")
        return 0
    shown = hits.drop(columns=["type"]).assign(
        value_labels=lambda t: t["value_labels"].map(lambda v: v if len(v) <= 50 else v[:47] + "..."))
    with pd.option_context("display.max_rows", None, "display.width", 200, "display.max_colwidth", 60):
        print(shown.to_string(index=False))
    print(f"{len(hits)} variable(s) in {hits['file'].nunique()} file(s)")
    return 0


def _codebook(args: argparse.Namespace) -> int:
    from .io_search import codebook

    formats = ["html", "markdown"] if args.format == "both" else [args.format]
    for path in codebook(args.folder, args.out, formats=formats, title=args.title).values():
        print(f"codebook: {path}")
    return 0


def _convert(args: argparse.Namespace) -> int:
    from .io_parquet import to_parquet

    cols = [c.strip() for part in args.columns or [] for c in part.split(",") if c.strip()] or None
    out = to_parquet(args.source, args.target, cols,
                     chunksize=args.chunksize, n_jobs=args.n_jobs, progress=False if args.quiet else None)
    print(f"parquet: {out}")
    return 0


def _describe(args: argparse.Namespace) -> int:
    from .io import describe

    print(describe(args.file))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lsa", description="Secondary analysis of large-scale assessments.")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="analyse the bundled PISA 2003 Netherlands extract and write a report")
    d.add_argument("--out", default="lsa-demo", help="output folder (default: lsa-demo)")
    d.add_argument("--quiet", action="store_true", help="print nothing but errors")
    d.set_defaults(func=_demo)
    r = sub.add_parser("run", help="run a recipe (TOML) and write its report")
    r.add_argument("recipe", help="path to a recipe .toml file")
    r.add_argument("--out", default=None, help="output folder (default: <recipe name>-report)")
    r.add_argument("--quiet", action="store_true", help="no progress lines")
    r.set_defaults(func=_run)
    s = sub.add_parser("studies", help="list the studies and cycles the data dictionaries know")
    s.add_argument("study", nargs="?", help="only this study")
    s.add_argument("--all", action="store_true", help="every column (ids, files, unverified facts)")
    s.add_argument("--unverified", action="store_true", help="list the facts still marked unverified")
    s.set_defaults(func=_studies)
    f = sub.add_parser("describe", help="variables, labels and missing codes of a data file, and its study/cycle")
    f.add_argument("file")
    f.set_defaults(func=_describe)
    q = sub.add_parser("search", help="variables whose name or label contains a word, across the files of a folder")
    q.add_argument("folder", help="a folder of SPSS/Stata/SAS files, or one file")
    q.add_argument("word", help="the text to look for (case-insensitive)")
    q.add_argument("--regex", action="store_true", help="WORD is a regular expression")
    q.add_argument("--values", action="store_true", help="also search the value labels")
    q.set_defaults(func=_search)
    c = sub.add_parser("codebook", help="write an HTML and Markdown codebook of the files of a folder")
    c.add_argument("folder", help="a folder of SPSS/Stata/SAS files, or one file")
    c.add_argument("--out", default="codebook", help="output folder (default: codebook)")
    c.add_argument("--format", choices=["html", "markdown", "both"], default="both", help="default: both")
    c.add_argument("--title", default=None, help="heading of the codebook")
    c.set_defaults(func=_codebook)
    v = sub.add_parser("convert", help="convert an SPSS/Stata/SAS file to Parquet, keeping labels and missing codes")
    v.add_argument("source", help="a .sav, .zsav, .dta or .sas7bdat file")
    v.add_argument("target", help="the .parquet file to write")
    v.add_argument("--columns", nargs="+", default=None, help="only these columns (names, or comma-separated)")
    v.add_argument("--chunksize", type=int, default=None, help="rows per chunk (default: about 64 MB)")
    v.add_argument("--n-jobs", dest="n_jobs", type=int, default=1, help="processes reading each chunk")
    v.add_argument("--quiet", action="store_true", help="no progress bar")
    v.set_defaults(func=_convert)
    return p


USER_ERROR = 2


def user_error_message(exc: BaseException) -> str:
    """One line for a user error: the lsa message, or for an ``OSError`` its reason and path."""
    if isinstance(exc, OSError) and not isinstance(exc, LsaError) and exc.strerror:
        where = f" {exc.filename}" if exc.filename else ""
        text = f"{exc.strerror}:{where}" if where else exc.strerror
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)       # usage errors: argparse prints usage, exits 2
    try:
        return args.func(args)
    except BrokenPipeError:                      # output piped into head/less that closed early
        return 0
    except (LsaError, OSError) as exc:           # user errors: bad arguments, files, recipes, folders
        print(f"lsa: error: {user_error_message(exc)}", file=sys.stderr)
        return USER_ERROR
    # anything else is a bug in lsa: let it show its traceback


if __name__ == "__main__":
    sys.exit(main())
