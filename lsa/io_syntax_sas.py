"""The SAS read-in syntax of the PISA 2000-2012 text files (``PROC FORMAT``, ``LENGTH``, ``INFILE ...
LRECL=``, ``INPUT``, ``LABEL``, ``FORMAT``, ``IF x=code THEN x=.N``); the rules are in :mod:`lsa.io_syntax`."""

from __future__ import annotations

import re

from .errors import ReadError
from .io_syntax_base import Field, Layout, Tok, assemble, split_statements, strip_comments, syntax_error, tokens

__all__ = ["parse_sas"]


def _sas_statements(toks: list[Tok]) -> list[list[Tok]]:
    return split_statements(toks, lambda i: toks[i].text == ";")


_SAS_INFMT = re.compile(r"^(\$?)([A-Za-z]*)(\d*)\.(\d*)$")


def _sas_input(st: list[Tok], path, lengths: dict[str, bool]) -> list[Field]:
    fields, i, pointer = [], 1, None
    while i < len(st):
        t = st[i]
        if t.kind == "at" or (t.text == "@" and i + 1 < len(st)):
            pointer = int(t.text[1:]) if t.kind == "at" else int(float(st[i + 1].text))
            i += 1 if t.kind == "at" else 2
            continue
        if t.kind != "word":
            raise syntax_error(path, t.line, f"INPUT: expected a variable name, got {t.text!r}.")
        name, i = t.text, i + 1
        text = lengths.get(name.upper(), False)
        if i < len(st) and st[i].text == "$":
            text, i = True, i + 1
        if i < len(st) and st[i].kind == "num" and pointer is None:          # column input
            start = end = int(float(st[i].text))
            i += 1
            if i + 1 < len(st) and st[i].text == "-" and st[i + 1].kind == "num":
                end, i = int(float(st[i + 1].text)), i + 2
            elif i < len(st) and st[i].kind == "num" and st[i].text.startswith("-"):
                end, i = int(-float(st[i].text)), i + 1
            dec = 0
            if i < len(st) and st[i].kind == "num" and st[i].text.startswith("."):
                dec, i = int(st[i].text[1:]), i + 1
            fields.append(Field(name, start, end, text, 0 if text else dec, t.line))
            continue
        fmt = st[i].text if i < len(st) else ""
        if i + 1 < len(st) and st[i].kind == "num" and st[i + 1].kind == "dot" and "." not in fmt:
            fmt, i = fmt + ".", i + 2                                        # '2.' tokenised as 2, .
        elif i < len(st) and st[i].kind == "num" and re.fullmatch(r"\d+\.\d*", fmt):
            i += 1
        elif i < len(st) and st[i].kind == "word" and _SAS_INFMT.match(fmt):
            i += 1
        else:
            raise syntax_error(path, t.line, f"INPUT: {name} has neither columns (start-end) nor an informat (w.d).")
        m = _SAS_INFMT.match(fmt)
        if pointer is None:
            raise syntax_error(path, t.line, f"INPUT: {name} has an informat but no @column pointer before it.")
        width = int(m.group(3) or 0)
        if not width:
            raise syntax_error(path, t.line, f"INPUT: the informat {fmt} of {name} has no width.")
        text = text or bool(m.group(1))
        fields.append(Field(name, pointer, pointer + width - 1, text, 0 if text else int(m.group(4) or 0), t.line))
        pointer += width
    return fields


def _sas_missing(st: list[Tok], msets: list) -> None:
    """``IF X=9997 OR X=. THEN X=.N`` (also ``IF X IN (7,8,9) THEN X=.``): X's codes are user-missing."""
    then = next((k for k, t in enumerate(st) if t.up == "THEN"), None)
    if then is None or then + 3 >= len(st):
        return
    target, eq, rhs = st[then + 1], st[then + 2], st[then + 3]
    blank = rhs.kind == "str" and not rhs.value().strip()   # text variables: IF X="97" THEN X=" "
    if target.kind != "word" or eq.text != "=" or not (rhs.kind == "dot" or blank):
        return
    codes, cond = [], st[1:then]
    for k, t in enumerate(cond):
        if t.kind != "word" or t.up != target.up or k + 2 >= len(cond):
            continue
        if cond[k + 1].text == "=" and cond[k + 2].kind in ("num", "str"):
            codes.append(cond[k + 2])
        elif cond[k + 1].up == "IN" and cond[k + 2].text == "(":
            for x in cond[k + 3:]:
                if x.text == ")":
                    break
                if x.kind in ("num", "str"):
                    codes.append(x)
    if codes:
        msets.append(([target.text], [(c, c) for c in codes]))


def parse_sas(text: str, path) -> Layout:
    stmts = _sas_statements(tokens(strip_comments(text, spss=False), False))
    formats: dict[str, list[tuple]] = {}
    lengths: dict[str, bool] = {}
    labels, assigned, msets = {}, {}, []
    fields, reclen, data_file, cur_fmt = None, None, None, None
    for st in stmts:
        head = st[0].up
        if head == "PROC" and len(st) > 1 and st[1].up == "FORMAT":
            continue
        if head == "VALUE" and len(st) > 1:
            cur_fmt = st[1].text.upper()
            pairs, k = [], 2
            while k + 2 < len(st):
                if st[k].kind in ("num", "str") and st[k + 1].text == "=" and st[k + 2].kind == "str":
                    pairs.append((st[k], st[k + 2].value()))
                    k += 3
                else:
                    k += 1
            formats[cur_fmt] = pairs
        elif head == "LENGTH":
            k = 1
            while k < len(st):
                if st[k].kind == "word" and k + 1 < len(st):
                    nxt = st[k + 1]
                    is_text = nxt.text == "$" or nxt.text.startswith("$")
                    lengths[st[k].text.upper()] = is_text
                    k += 3 if nxt.text == "$" else 2
                else:
                    k += 1
        elif head == "FORMAT":  # display formats (9.4, $3.) and value-label formats (ST04Q01F.)
            for k in range(1, len(st) - 1):
                a, b = st[k], st[k + 1]
                if a.kind == "word" and b.kind == "word" and b.text.endswith(".") and re.match(r"^\$?[A-Za-z_]", b.text):
                    assigned[a.text.upper()] = b.text[:-1].upper()
        elif head == "FILENAME" and len(st) > 2 and st[2].kind == "str":
            data_file = st[2].value()
        elif head == "INFILE":
            for k in range(1, len(st) - 2):
                if st[k].up in ("LRECL", "LINESIZE", "LS") and st[k + 1].text == "=" and st[k + 2].kind == "num":
                    reclen = int(float(st[k + 2].text))
            if len(st) > 1 and st[1].kind == "str":
                data_file = st[1].value()
        elif head == "INPUT":
            if fields is not None:
                raise syntax_error(path, st[0].line, "a second INPUT statement; lsa reads syntax files with one.")
            fields = _sas_input(st, path, lengths)
        elif head == "LABEL":
            k = 1
            while k + 2 < len(st):
                if st[k].kind == "word" and st[k + 1].text == "=" and st[k + 2].kind == "str":
                    labels[st[k].text] = st[k + 2].value().strip()
                    k += 3
                else:
                    k += 1
        elif head == "IF":
            _sas_missing(st, msets)
    if not fields:
        raise ReadError(f"{path}: no INPUT statement with variables and columns; is this the SAS read-in "
                        "syntax of a fixed-width file?")
    upper = {f.name.upper(): f.name for f in fields}
    vsets = [([upper[v]], formats[fmt]) for v, fmt in assigned.items()
             if v in upper and fmt in formats]
    return assemble(path, "SAS", fields, labels, vsets, msets, reclen, data_file)
