"""Parse the OECD read-in syntax of the PISA 2000-2012 fixed-width text files (SPSS or SAS).

OECD distributes PISA 2000-2012 as fixed-width text (``INT_STQ09_DEC11.txt``) with an SPSS
syntax (``DATA LIST FILE=... / CNT 1-3 (A) ... PV1MATH 745-752 (F,4)``, then ``VARIABLE LABELS``,
``VALUE LABELS``, ``MISSING VALUES``, ``FORMATS``) and a SAS syntax (``PROC FORMAT; VALUE ...;``,
``LENGTH``, ``FORMAT``, ``INFILE ... LRECL=``/``LINESIZE=``, ``INPUT CNT 1-3 ...`` or
``INPUT @1 CNT $3. ...``, ``LABEL``, ``FORMAT var fmtF.`` and ``IF var=9997 THEN var=.N;``).
:func:`parse_syntax` reads either into one :class:`Layout`: the columns of every variable, text
or number, the implied decimals, variable labels, value labels and the user-missing codes.

Rules taken from the two languages
----------------------------------
* SPSS DATA LIST, fixed format: ``name start-end (A)`` is text; no format, ``(F)``, ``(F,d)`` or
  ``(Fw.d)`` is a number with ``d`` implied decimals: a field without a decimal point is divided
  by 10^d, a coded decimal point overrides the implied ones; a blank field is system-missing
  (IBM SPSS Statistics Command Syntax Reference, DATA LIST, "Implied Decimal Positions").
* SAS column input ``name $ start-end .d`` and formatted input ``@start name $w.`` / ``w.d``
  follow the same rule for ``d`` (SAS informat w.d: "if the data contain decimal points, d is
  ignored"); ``$`` or a ``LENGTH name $n`` marks text.
* User-missing codes: SPSS ``MISSING VALUES`` (discrete values and ``lo THRU hi`` ranges); SAS
  statements ``IF name=code ... THEN name=.X`` (special missing values, discrete codes). Both
  become the SPSS declaration pyreadstat reports (``[{"lo": 9997.0, "hi": 9997.0}, ...]``).
"""

from __future__ import annotations

import re
from pathlib import Path

from .errors import ReadError
from .io_syntax_base import (Field, Layout, Tok, assemble, read_syntax_text, split_statements, strip_comments,
                             syntax_error, tokens)
from .io_syntax_sas import parse_sas

__all__ = ["Field", "Layout", "parse_syntax", "read_syntax_text"]


# --------------------------------------------------------------------------------------------
# SPSS
# --------------------------------------------------------------------------------------------
def _spss_commands(toks: list[Tok]) -> list[list[Tok]]:
    """Commands end with a period that ends a line (SPSS's terminator)."""
    return split_statements(toks, lambda i: toks[i].kind == "dot"
                            and (i + 1 == len(toks) or toks[i + 1].line > toks[i].line))


_SPSS_FORMAT = re.compile(r"^(A|AHEX|F|N|E|COMMA|DOT|DOLLAR|PCT)(\d+)?(?:\.(\d+))?$", re.I)


def _spss_data_list(cmd: list[Tok], path) -> tuple[list[Field], str | None]:
    i, data_file = 2, None
    while i < len(cmd) and cmd[i].text != "/":
        if cmd[i].up == "FILE":
            j = i + 1 + (cmd[i + 1].text == "=" if i + 1 < len(cmd) else 0)
            if j < len(cmd) and cmd[j].kind == "str":
                data_file = cmd[j].value()
        i += 1
    if i >= len(cmd):
        raise syntax_error(path, cmd[0].line, "DATA LIST has no '/' before its variables; lsa reads fixed-format "
                                      "DATA LIST commands (one record per case).")
    i += 1
    fields: list[Field] = []
    names: list[Tok] = []
    while i < len(cmd):
        t = cmd[i]
        if t.text == "/":
            raise syntax_error(path, t.line, "DATA LIST with several records per case ('/' between variables) is "
                                     "not supported; PISA files have one record per case.")
        if t.kind == "word":
            names.append(t)
            i += 1
            continue
        if t.kind != "num" or not names:
            raise syntax_error(path, t.line, f"DATA LIST: expected a variable name or its columns, got {t.text!r}.")
        start = end = int(float(t.text))
        i += 1
        if i + 1 < len(cmd) and cmd[i].text == "-" and cmd[i + 1].kind == "num":
            end = int(float(cmd[i + 1].text))
            i += 2
        elif i < len(cmd) and cmd[i].kind == "num" and cmd[i].text.startswith("-"):
            end = int(-float(cmd[i].text))  # '1 -3' tokenised as 1, -3
            i += 1
        text, dec = False, 0
        if i < len(cmd) and cmd[i].text == "(":
            close = next((k for k in range(i, len(cmd)) if cmd[k].text == ")"), None)
            if close is None:
                raise syntax_error(path, cmd[i].line, "DATA LIST: a format in parentheses is not closed.")
            spec = "".join(x.text for x in cmd[i + 1:close]).replace(" ", "")
            kind, _, after = spec.partition(",")
            m = _SPSS_FORMAT.match(kind)
            if not m:
                raise syntax_error(path, cmd[i].line, f"DATA LIST: format ({spec}) of {names[-1].text} is not one lsa "
                                              "reads (A, F, N, E, COMMA, DOT, DOLLAR, PCT).")
            text = m.group(1).upper().startswith("A")
            dec = int(after or m.group(3) or 0) if not text else 0
            i = close + 1
        if end < start:
            raise syntax_error(path, t.line, f"DATA LIST: {names[-1].text} ends at column {end} before it starts ({start}).")
        width = end - start + 1
        if width % len(names):
            raise syntax_error(path, t.line, f"DATA LIST: columns {start}-{end} cannot be shared equally by "
                                     f"{[n.text for n in names]}.")
        w = width // len(names)
        for k, n in enumerate(names):
            fields.append(Field(n.text, start + k * w, start + (k + 1) * w - 1, text, dec, n.line))
        names = []
    if names:
        raise syntax_error(path, names[0].line, f"DATA LIST: {[n.text for n in names]} have no columns.")
    return fields, data_file


def _spss_labels(cmd: list[Tok], start: int) -> dict[str, str]:
    out, name, i = {}, None, start
    while i < len(cmd):
        t = cmd[i]
        if t.kind == "word":
            name = t.text
        elif t.kind == "str" and name:
            text = t.value()
            while i + 2 < len(cmd) and cmd[i + 1].text == "+" and cmd[i + 2].kind == "str":
                text += cmd[i + 2].value()
                i += 2
            out[name] = text.strip()
            name = None
        i += 1
    return out


def _spss_value_labels(cmd: list[Tok], start: int) -> list[tuple[list[str], list[tuple]]]:
    sets, names, pairs, i = [], [], [], start
    while i < len(cmd):
        t = cmd[i]
        if t.text == "/" or (t.kind == "word" and pairs):
            if names:
                sets.append((names, pairs))
            names, pairs = [], []
            if t.text == "/":
                i += 1
                continue
        if t.kind == "word":
            names.append(t.text)
        elif t.kind in ("num", "str") and i + 1 < len(cmd) and cmd[i + 1].kind == "str":
            pairs.append((t, cmd[i + 1].value()))
            i += 1
        i += 1
    if names:
        sets.append((names, pairs))
    return sets


def _spss_missing(cmd: list[Tok], start: int, path) -> list[tuple[list[str], list]]:
    sets, names, i = [], [], start
    while i < len(cmd):
        t = cmd[i]
        if t.kind == "word":
            names.append(t.text)
        elif t.text == "(":
            close = next((k for k in range(i, len(cmd)) if cmd[k].text == ")"), None)
            if close is None:
                raise syntax_error(path, t.line, "MISSING VALUES: a list in parentheses is not closed.")
            inner = [x for x in cmd[i + 1:close] if x.text != ","]
            ranges, k = [], 0
            while k < len(inner):
                a = inner[k]
                if k + 2 < len(inner) and inner[k + 1].up in ("THRU", "THROUGH"):
                    lo, hi = a, inner[k + 2]
                    ranges.append((None if lo.up in ("LO", "LOWEST") else lo,
                                   None if hi.up in ("HI", "HIGHEST") else hi))
                    k += 3
                else:
                    ranges.append((a, a))
                    k += 1
            sets.append((names, ranges))
            names, i = [], close
        i += 1
    return sets


def _parse_spss(text: str, path) -> Layout:
    cmds = _spss_commands(tokens(strip_comments(text, spss=True), True))
    fields, data_file, labels, vsets, msets = None, None, {}, [], []
    for cmd in cmds:
        head = " ".join(t.up for t in cmd[:3] if t.kind == "word")
        if head.startswith("DATA LIST"):
            if fields is not None:
                raise syntax_error(path, cmd[0].line, "a second DATA LIST; lsa reads syntax files with one.")
            fields, data_file = _spss_data_list(cmd, path)
        elif head.startswith(("VARIABLE LABELS", "VAR LABELS")):
            labels.update(_spss_labels(cmd, 2))
        elif head.startswith("VALUE LABELS"):
            vsets += _spss_value_labels(cmd, 2)
        elif head.startswith("ADD VALUE LABELS"):
            vsets += _spss_value_labels(cmd, 3)
        elif head.startswith("MISSING VALUES"):
            msets += _spss_missing(cmd, 2, path)
    if not fields:
        raise ReadError(f"{path}: no DATA LIST command with variables and columns; is this the SPSS read-in "
                        "syntax of a fixed-width file?")
    return assemble(path, "SPSS", fields, labels, vsets, msets, None, data_file)


def parse_syntax(path) -> Layout:
    """The :class:`Layout` of an OECD SPSS (``DATA LIST``) or SAS (``INPUT``) read-in syntax file.

    The language is recognised from the text (a ``DATA LIST`` command is SPSS; an ``INPUT``
    statement is SAS). Errors are :class:`~lsa.errors.ReadError` naming the file and its line.
    """
    path = Path(path)
    if not path.exists():
        from .io_readers import check_data_file  # its message lists the nearest names in the folder
        check_data_file(path, "spss")
    if path.is_dir():
        raise ReadError(f"{path} is a folder, not a syntax file.")
    text = read_syntax_text(path)
    body = strip_comments(text, spss=True)
    if re.search(r"(?im)^\s*data\s+list\b", body):
        return _parse_spss(text, path)
    if re.search(r"(?i)(^|;)\s*input\b", strip_comments(text, spss=False)):
        return parse_sas(text, path)
    raise ReadError(f"{path} is not an SPSS or SAS read-in syntax: it has no DATA LIST command and no INPUT "
                    "statement.")
