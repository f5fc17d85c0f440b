"""The harness in floors (docs/adr/0006-harness-layers.md): a module imports its own floor and lower
ones, never a higher one (imports in functions and under TYPE_CHECKING count), no modules import each
other in a circle, and the top of harness/ holds only the floors, __init__.py and cli.py."""

from __future__ import annotations

import ast
from pathlib import Path

HARNESS = Path(__file__).resolve().parents[2] / "harness"
FLOORS = ("base", "clients", "lab", "faults", "drive", "checks", "bdd", "report", "cli")


def sources(root: Path = HARNESS) -> dict[str, tuple[str, str]]:
    """module name -> (file, source) of every module under ``root``."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = (str(path), path.read_text())
    return out


def imports(source: str, known: set[str]) -> list[tuple[int, str]]:
    """(line, module) of each harness module ``source`` imports, wherever the import stands."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):  # a relative one is in no floor: write it absolute
            module = f"harness.{'.' * node.level}{node.module}" if node.level else str(node.module)
            found += [(node.lineno, f"{module}.{a.name}" if f"{module}.{a.name}" in known else module)
                      for a in node.names]
    return [(line, module) for line, module in found if module.split(".")[0] == "harness"]


def floor(module: str) -> int:
    """Index in FLOORS; -1 for the package itself (below all), len(FLOORS) for no floor."""
    top = module.split(".")[1] if "." in module else None
    return -1 if top is None else FLOORS.index(top) if top in FLOORS else len(FLOORS)


def upward(modules: dict[str, tuple[str, str]]) -> list[str]:
    return [f"{path}:{line}: {name} imports {target}, a higher floor"
            for name, (path, source) in modules.items()
            for line, target in imports(source, set(modules)) if floor(target) > floor(name)]


def cycles(modules: dict[str, tuple[str, str]]) -> list[list[str]]:
    graph = {name: {t for _, t in imports(source, set(modules)) if t in modules and t != name}
             for name, (_, source) in modules.items()}
    found: list[list[str]] = []
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> None:  # depth first; a node on the path again is a circle
        if node in path:
            found.append([*path[path.index(node):], node])
        elif node not in done:
            for target in sorted(graph[node]):
                visit(target, [*path, node])
            done.add(node)

    for node in graph:
        visit(node, [])
    return found


def test_no_floor_imports_a_higher_one() -> None:
    assert not upward(sources()), "\n".join(upward(sources()))


def test_no_modules_import_each_other_in_a_circle() -> None:
    assert not cycles(sources()), cycles(sources())


def test_the_top_holds_only_the_floors_the_package_and_the_cli() -> None:
    top = {p.name for p in HARNESS.iterdir() if p.name != "__pycache__"}
    assert top <= {*FLOORS[:-1], "__init__.py", "cli.py", "__main__.py"}, sorted(top)
    assert not imports((HARNESS / "__init__.py").read_text(), set()), "harness/__init__.py imports"


def test_the_checker_rejects_an_upward_import_and_a_circle() -> None:
    type_only = "import typing\n\nif typing.TYPE_CHECKING:\n    from harness.checks import expect\n"
    fake = {"harness.base.waiting": ("harness/base/waiting.py", type_only),
            "harness.checks.expect": ("harness/checks/expect.py", "from harness.base import waiting\n")}
    assert upward(fake) == ["harness/base/waiting.py:4: harness.base.waiting imports harness.checks.expect, "
                            "a higher floor"]
    assert cycles(fake) == [["harness.base.waiting", "harness.checks.expect", "harness.base.waiting"]]
    assert upward({"harness.base.x": ("harness/base/x.py", "from . import y\n")})  # relative: no floor
