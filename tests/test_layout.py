"""The package's floors: every import (module level or inside a function) points down.

    version, errors, validation  <-  core  <-  nn  <-  data | metrics | io  <-  train
    <-  interop  <-  cli  <-  the package root (rnnkit/__init__, __main__)

A module may import from its own subpackage and from any lower floor; never from a higher
floor, nor from another subpackage of its own floor (data, metrics and io are siblings).
And there is no import cycle at all between modules, lazy imports included.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
FLOORS = {
    "rnnkit.version": 0, "rnnkit.errors": 0, "rnnkit.validation": 0,
    "rnnkit.core": 1,
    "rnnkit.nn": 2,
    "rnnkit.data": 3, "rnnkit.metrics": 3, "rnnkit.io": 3,
    "rnnkit.train": 4,
    "rnnkit.interop": 5,
    "rnnkit.cli": 6,
    "rnnkit": 7, "rnnkit.__main__": 7,
}
MAX_ROOT_MODULES = 8  # plain modules directly in src/rnnkit besides __init__ and __main__


def module_files() -> dict[str, Path]:
    mods = {}
    for path in sorted((SRC / "rnnkit").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Every rnnkit module that ``name`` imports, wherever the import statement stands."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(up + ([base] if base else []))
            # "from pkg import sub" imports the submodule pkg.sub
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                       for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:  # "import rnnkit.core.cells.lstm" -> that module
                t = t.rpartition(".")[0]
            if t.startswith("rnnkit") and t != name:
                found.add(t)
    return found


def floor_of(module: str) -> tuple[str, int]:
    """(floor group, rank): the longest FLOORS entry that is the module or a parent."""
    best = max((g for g in FLOORS if module == g or module.startswith(g + ".")), key=len)
    return best, FLOORS[best]


GRAPH = {name: imports_of(name, path, set(module_files()))
         for name, path in module_files().items()}


def test_every_module_has_a_floor():
    for name in GRAPH:
        assert floor_of(name)


@pytest.mark.parametrize("name", sorted(GRAPH))
def test_imports_point_down(name):
    group, rank = floor_of(name)
    for target in sorted(GRAPH[name]):
        tgroup, trank = floor_of(target)
        assert trank < rank or tgroup == group, (
            f"{name} (floor {group}) imports {target} (floor {tgroup}): imports must point "
            "to a lower floor or stay inside their own subpackage")


def test_no_import_cycles():
    state: dict[str, int] = {}  # 1 on the current path, 2 finished
    path: list[str] = []

    def visit(node):
        state[node] = 1
        path.append(node)
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(GRAPH):
        if node not in state:
            visit(node)


def test_few_plain_modules_at_the_root():
    plain = sorted(p.name for p in (SRC / "rnnkit").glob("*.py")
                   if p.name not in ("__init__.py", "__main__.py"))
    assert len(plain) <= MAX_ROOT_MODULES, plain


def test_the_checker_sees_lazy_and_relative_imports(tmp_path):
    pkg = tmp_path / "rnnkit" / "core"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from ..cli import main\n    from . import b\n")
    known = {"rnnkit", "rnnkit.core", "rnnkit.core.a", "rnnkit.core.b", "rnnkit.cli"}
    assert imports_of("rnnkit.core.a", pkg / "a.py", known) == {"rnnkit.cli", "rnnkit.core.b"}


def test_tests_mirror_the_subpackages():
    tests = Path(__file__).resolve().parent
    folders = {p.name for p in tests.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))}
    subpackages = {p.name for p in (SRC / "rnnkit").iterdir() if (p / "__init__.py").is_file()}
    assert folders - {"data"} <= subpackages, folders - subpackages  # tests/data: also fixtures
    assert all(list((tests / name).glob("test_*.py")) for name in folders & subpackages)
