"""The shape of the package, read from its source with ``ast`` (no import is executed).

Oracle: the rules of AGENTS.md and issue 11 item 7, checked on every module of ``lsa/``:

* the graph of lsa-internal imports (module-level and function-level, relative and absolute)
  has no cycle;
* the module-level imports, each with the ``__init__`` of every package above the imported module
  that Python runs first (``from lsa.robust.blocks import X`` runs ``lsa/robust/__init__.py``),
  have no cycle either: such a cycle breaks ``import`` in one order and not the other (``lsa`` itself
  is left out: it runs before any of its modules, and loads its names lazily);
* no name starting with ``_`` (dunders such as ``__version__`` excepted) is imported from
  another lsa module, and no private module (``_core``) is imported from outside its package;
* no file is over 500 lines and no function body over 80 lines (its docstring not counted).

The helpers are checked on small hand-made sources first, so that a test that cannot fail
would show here.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "lsa"
MAX_FILE_LINES = 500
MAX_BODY_LINES = 80


def module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _absolute(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    """The absolute module named by ``from <module> import ...`` inside ``importer``."""
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(source: str, importer: str, is_package: bool, modules: set[str]):
    """Yield (imported module, imported name or None, line) for every lsa-internal import."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "lsa":
                    yield a.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            target = _absolute(node, importer, is_package)
            if target.split(".")[0] != "lsa":
                continue
            for a in node.names:
                sub = f"{target}.{a.name}"
                if sub in modules:                         # ``from . import io``: a module
                    yield sub, None, node.lineno
                else:
                    yield target, a.name, node.lineno


def module_level(source: str) -> str:
    """The import statements of ``source`` run when the module is imported (not those in functions)."""
    out, stack = [], [ast.parse(source)]
    while stack:
        for child in ast.iter_child_nodes(stack.pop()):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                out.append(child)
            stack.append(child)
    return ast.unparse(ast.Module(body=sorted(out, key=lambda n: n.lineno), type_ignores=[]))


def with_package_inits(graph: dict[str, set[str]], packages: set[str]) -> dict[str, set[str]]:
    """``graph`` plus an edge from each importer to every package (below ``lsa``) above the module it
    imports, unless the importer is inside that package (then its ``__init__`` is already running)."""
    out = {m: set(v) for m, v in graph.items()}
    for m, targets in graph.items():
        for target in targets:
            parts = target.split(".")
            for i in range(2, len(parts)):
                package = ".".join(parts[:i])
                if package in packages and not (m == package or m.startswith(package + ".")):
                    out[m].add(package)
    return out


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_module_violation(importer: str, target: str) -> str | None:
    """A private module (``lsa.x._core``) may be imported only from inside its package (``lsa.x``)."""
    parts = target.split(".")
    for i, p in enumerate(parts):
        if is_private(p):
            package = ".".join(parts[:i])
            if not (importer == package or importer.startswith(package + ".")):
                return p
    return None


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (or a self-import), each as a
    cycle path, by Tarjan's algorithm."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph.get(v, ()):
                out.append(_cycle_path(sorted(comp), graph))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _cycle_path(comp: list[str], graph: dict[str, set[str]]) -> list[str]:
    """One cycle through the component, from its first module back to it (breadth-first)."""
    members, start = set(comp), comp[0]
    prev, queue = {start: None}, [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph.get(v, ())):
            if w == start:
                path = [v]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return path[::-1] + [start]
            if w in members and w not in prev:
                prev[w] = v
                queue.append(w)
    return comp  # pragma: no cover - a component always holds a cycle


def long_functions(source: str) -> list[tuple[str, int, int]]:
    """(qualified name, line, body lines without the docstring) of functions over the limit."""
    out = []

    def walk(node, prefix):
        for child in ast.iter_child_nodes(node):
            name = f"{prefix}{getattr(child, 'name', '')}"
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = child.body
                if (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                        and isinstance(body[0].value.value, str)):
                    body = body[1:]
                n = (body[-1].end_lineno - body[0].lineno + 1) if body else 0
                if n > MAX_BODY_LINES:
                    out.append((name, child.lineno, n))
                walk(child, name + ".")
            elif isinstance(child, ast.ClassDef):
                walk(child, name + ".")
            else:
                walk(child, prefix)

    walk(ast.parse(source), "")
    return out


def _package():
    files = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(p): p for p in files}
    return files, modules


def _graph_and_private(select=lambda source: source):
    files, modules = _package()
    names = set(modules)
    graph: dict[str, set[str]] = {m: set() for m in names}
    private = []
    for m, p in modules.items():
        source = select(p.read_text(encoding="utf-8"))
        for target, name, line in imports_of(source, m, p.name == "__init__.py", names):
            while target and target not in names:       # ``lsa.x.y`` where y is a name of lsa.x
                target = target.rsplit(".", 1)[0] if "." in target else ""
            if not target:
                continue
            if target != m:
                graph[m].add(target)
            if name is not None and is_private(name):
                private.append(f"{p.relative_to(PACKAGE.parent)}:{line} imports {name} from {target}")
            bad = private_module_violation(m, target)
            if bad:
                private.append(f"{p.relative_to(PACKAGE.parent)}:{line} imports the private module {target}")
    return graph, private


# -- the helpers on hand-made sources -------------------------------------------------------------
def test_helpers_find_what_they_should():
    src = ("from .a import b, _c\nfrom ..x import _y as z\nimport lsa.q\n"
           "def f():\n    from . import mod\n    from lsa.r import __version__\n")
    found = list(imports_of(src, "lsa.pkg.m", False, {"lsa.pkg.mod"}))
    assert found == [("lsa.pkg.a", "b", 1), ("lsa.pkg.a", "_c", 1), ("lsa.x", "_y", 2), ("lsa.q", None, 3),
                     ("lsa.pkg.mod", None, 5), ("lsa.r", "__version__", 6)]
    assert [n for *_, n in [(t, n) for t, n, _ in found] if n and is_private(n)] == ["_c", "_y"]
    assert private_module_violation("lsa.mixed.fit", "lsa.estimators._core") == "_core"
    assert private_module_violation("lsa.estimators.lm", "lsa.estimators._core") is None
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []
    lazy = "import lsa.a\ndef f():\n    from lsa.b import c\nclass K:\n    from lsa.d import e\n"
    assert module_level(lazy) == "import lsa.a\nfrom lsa.d import e"
    inits = with_package_inits({"lsa.p.m": {"lsa.q.r.s"}, "lsa.q": {"lsa.q.r.s"}}, {"lsa.q", "lsa.q.r"})
    assert inits == {"lsa.p.m": {"lsa.q.r.s", "lsa.q", "lsa.q.r"}, "lsa.q": {"lsa.q.r.s", "lsa.q.r"}}
    assert find_cycles(with_package_inits({"lsa.a.x": {"lsa.b.y"}, "lsa.b": {"lsa.b.z"}, "lsa.b.z": {"lsa.a.x"}},
                                          {"lsa.a", "lsa.b"})) == [["lsa.a.x", "lsa.b", "lsa.b.z", "lsa.a.x"]]
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_BODY_LINES + 1))
    doc = '    """' + "\n" * 30 + '    """\n'
    assert long_functions(f"def f():\n{doc}{body}\n") == [("f", 1, MAX_BODY_LINES + 1)]
    short = "\n".join(f"        x{i} = {i}" for i in range(MAX_BODY_LINES))
    method = "class A:\n    def g(self):\n        \"\"\"doc" + "\n" * 30 + "        \"\"\"\n" + short + "\n"
    assert long_functions(method) == []
    assert long_functions(method + "        x = 1\n") == [("A.g", 2, MAX_BODY_LINES + 1)]


# -- the package ----------------------------------------------------------------------------------
def test_no_import_cycles():
    graph, _ = _graph_and_private()
    cycles = find_cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_no_import_cycles_through_package_inits():
    graph, _ = _graph_and_private(module_level)
    packages = {m for m, p in _package()[1].items() if p.name == "__init__.py"}
    cycles = find_cycles(with_package_inits(graph, packages))
    assert not cycles, "import cycles through package __init__s:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_no_private_names_imported_across_modules():
    _, private = _graph_and_private()
    assert not private, "private names imported across modules:\n" + "\n".join(private)


def test_no_file_over_500_lines():
    files, _ = _package()
    long = [f"{p.relative_to(PACKAGE.parent)}: {n} lines" for p in files
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_FILE_LINES]
    assert not long, f"files over {MAX_FILE_LINES} lines:\n" + "\n".join(long)


def test_no_function_body_over_80_lines():
    files, _ = _package()
    long = [f"{p.relative_to(PACKAGE.parent)}:{line} {name}: {n} lines"
            for p in files for name, line, n in long_functions(p.read_text(encoding="utf-8"))]
    assert not long, f"function bodies over {MAX_BODY_LINES} lines (docstring not counted):\n" + "\n".join(long)
