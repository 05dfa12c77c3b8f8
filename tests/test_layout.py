"""The package layout says the architecture: no import cycles between modules or between the stage packages
(lazy imports inside functions count), and no module past ~500 lines."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 500


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted((ROOT / "kb").rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(path: Path, known: set[str]) -> set[str]:
    """Every kb module `path` imports, at top level or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != "kb":
                found.add(name)
    return found


def _graph(unit) -> dict[str, set[str]]:
    mods = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        src = unit(name)
        for dep in _imports(path, set(mods)):
            if unit(dep) != src:
                graph.setdefault(src, set()).add(unit(dep))
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if not state.get(m):
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if not state.get(n):
            found = visit(n)
            if found:
                return found
    return None


def _package(module: str) -> str:
    """kb.ingest.parsers.pdf -> kb.ingest; top-level modules (kb.settings) stand for themselves."""
    return ".".join(module.split(".")[:2])


def test_no_import_cycle_between_modules():
    assert _cycle(_graph(lambda m: m)) is None


def test_no_import_cycle_between_stage_packages():
    assert _cycle(_graph(_package)) is None


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}}) is None


def test_no_module_past_500_lines():
    long = {name: n for name, path in _modules().items()
            if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, long


def test_each_stage_is_a_package():
    for stage in ("ingest", "store", "backends", "answer", "grounding", "digest"):
        assert (ROOT / "kb" / stage / "__init__.py").is_file(), stage
