"""The pieces shared by the SPSS and SAS read-in syntax parsers (:mod:`lsa.io_syntax`,
:mod:`lsa.io_syntax_sas`): the layout of a fixed-width record, a tokenizer that keeps line numbers,
and the assembly of labels, value labels and user-missing codes into one :class:`Layout`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ReadError

__all__ = ["Field", "Layout", "Tok", "tokens", "strip_comments", "split_statements", "syntax_error", "assemble",
           "read_syntax_text"]


@dataclass(frozen=True)
class Field:
    """One variable of a fixed-width record: columns ``start``..``end`` (1-based, inclusive)."""

    name: str
    start: int
    end: int
    text: bool
    decimals: int = 0
    line: int = 0                      # line of the syntax file that declares it

    @property
    def width(self) -> int:
        return self.end - self.start + 1


@dataclass(frozen=True)
class Layout:
    """What a read-in syntax says about its text file."""

    source: str
    language: str                      # "SPSS" or "SAS"
    fields: tuple[Field, ...]
    labels: dict = field(default_factory=dict)
    value_labels: dict = field(default_factory=dict)
    missing: dict = field(default_factory=dict)
    record_length: int | None = None   # SAS LRECL/LINESIZE when given
    data_file: str | None = None       # the file the syntax names (FILE= / FILENAME / INFILE)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def last_column(self) -> int:
        return max(f.end for f in self.fields)


def read_syntax_text(path: Path) -> str:
    """The text of a syntax file (UTF-8, else Windows-1252 as OECD's files are)."""
    raw = path.read_bytes()
    for enc in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1", errors="replace")  # pragma: no cover - latin-1 decodes any byte


# --------------------------------------------------------------------------------------------
# tokens
# --------------------------------------------------------------------------------------------
_TOKEN = re.compile(r"""
    (?P<str>"(?:[^"\n]|"")*"|'(?:[^'\n]|'')*')
  | (?P<num>(?<![\w.])[-+]?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?(?![\w]))
  | (?P<word>\$\d+(?:\.\d*)?|[$@]?[A-Za-z_#][\w#@$]*(?:\.(?=\w)\w*)*\.?)
  | (?P<at>@\d+)
  | (?P<punct>[/()=,\-;+*<>$@])
  | (?P<dot>\.)
""", re.VERBOSE)


@dataclass(frozen=True)
class Tok:
    kind: str
    text: str
    line: int

    @property
    def up(self) -> str:
        return self.text.upper()

    def value(self):
        if self.kind == "str":
            q = self.text[0]
            return self.text[1:-1].replace(q + q, q)
        return float(self.text)


def strip_comments(text: str, spss: bool) -> str:
    """Blank out comments, keeping line breaks (so that token lines stay right)."""
    def blank(m):
        return re.sub(r"[^\n]", " ", m.group(0))

    text = re.sub(r"/\*.*?\*/", blank, text, flags=re.S)
    if spss:  # a line starting with * (or COMMENT) is a comment up to a line ending in '.'
        text = re.sub(r"(?im)^[ \t]*(\*|comment\b).*?\.[ \t]*$", blank, text, flags=re.S | re.M)
    else:     # SAS: '* ... ;' comment statements
        text = re.sub(r"(?m)(^|;)[ \t]*\*[^;]*;", lambda m: m.group(1) + blank(m)[len(m.group(1)):], text)
    return text


def tokens(text: str, spss: bool) -> list[Tok]:
    """Tokens with their line; in SPSS a word's trailing period ends the command (``EXECUTE.``), in
    SAS it is part of a format name (``ST04Q01F.``, ``$3.``)."""
    out, line, pos = [], 1, 0
    for m in _TOKEN.finditer(text):
        line += text.count("\n", pos, m.start())
        pos = m.start()
        kind = m.lastgroup
        tok = m.group(0)
        if spss and kind == "word" and tok.endswith("."):
            out.append(Tok("word", tok[:-1], line))
            out.append(Tok("dot", ".", line))
            continue
        out.append(Tok(kind, tok, line))
    return out


def split_statements(toks: list[Tok], ends) -> list[list[Tok]]:
    """The tokens cut into statements at every index ``i`` where ``ends(i)`` holds (SPSS: a period that
    ends a line; SAS: ``;``); the terminator is dropped and empty statements are skipped."""
    out, cur = [], []
    for i, t in enumerate(toks):
        if ends(i):
            if cur:
                out.append(cur)
            cur = []
        else:
            cur.append(t)
    if cur:
        out.append(cur)
    return out


def syntax_error(path, line, what) -> ReadError:
    return ReadError(f"{path}, line {line}: {what}")


# --------------------------------------------------------------------------------------------
# both
# --------------------------------------------------------------------------------------------
def _typed(tok: Tok, text: bool):
    """A code as the variable stores it: text for A/$ variables, float for numbers."""
    if tok is None:
        return None
    if text:
        v = tok.value() if tok.kind == "str" else tok.text
        return str(v).rstrip()
    try:
        return float(tok.value())
    except ValueError:
        return None


def _declared(seen: dict[str, Field], sets):
    """``(field, items)`` for every name of every ``(names, items)`` set that the layout declares
    (names matched case-insensitively; undeclared names are skipped)."""
    for names, items in sets:
        for n in names:
            f = seen.get(n.upper())
            if f is not None:
                yield f, items


def assemble(path, language, fields, labels, vsets, msets, reclen, data_file) -> Layout:
    seen: dict[str, Field] = {}
    for f in fields:
        if f.name.upper() in seen:
            raise syntax_error(path, f.line, f"{f.name} is declared twice (first on line {seen[f.name.upper()].line}).")
        if f.start < 1:
            raise syntax_error(path, f.line, f"{f.name} starts at column {f.start}; columns start at 1.")
        seen[f.name.upper()] = f
    value_labels: dict[str, dict] = {}
    for f, pairs in _declared(seen, vsets):
        d = value_labels.setdefault(f.name, {})
        for tok, lab in pairs:
            code = _typed(tok, f.text)
            if code is not None:
                d[code] = lab
    missing: dict[str, list] = {}
    for f, ranges in _declared(seen, msets):
        out = missing.setdefault(f.name, [])
        for lo, hi in ranges:
            if lo is not None and lo.kind == "dot" or hi is not None and hi.kind == "dot":
                continue
            lo_v = -float("inf") if lo is None else _typed(lo, f.text)
            hi_v = float("inf") if hi is None else _typed(hi, f.text)
            if lo_v is None or hi_v is None:
                continue
            r = {"lo": lo_v, "hi": hi_v}
            if r not in out:
                out.append(r)
    missing = {k: v for k, v in missing.items() if v}
    labels = {seen[k.upper()].name: v for k, v in labels.items() if k.upper() in seen}
    return Layout(str(path), language, tuple(fields), labels, value_labels, missing, reclen, data_file)
