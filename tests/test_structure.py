"""The code's shape: no import cycles between modules or packages, deferred imports included."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports anywhere in its body (function-level imports too)."""
    modules = {_module_name(p): p for p in (ROOT / "augment").rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base]).strip(".")
                names = [f"{base}.{alias.name}" for alias in node.names] + [base]
            else:
                continue
            for imported in names:
                while imported and imported not in modules:  # `from pkg import module` or `from module import name`
                    imported = imported.rpartition(".")[0]
                # A package's parents are imported with it: an edge to one is no dependency.
                if imported and imported != name and not name.startswith(f"{imported}."):
                    targets.add(imported)
        graph[name] = targets
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as a path that returns to its start, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Subpackage -> subpackages it imports; a package's __init__ and __main__ sit above it (they
    present it), the modules directly in `augment/` are the core every subpackage may use."""
    def package(module: str) -> str | None:
        parts = module.split(".")
        if len(parts) < 3 or parts[-1] == "__main__":
            return None  # core modules, package fronts and command lines
        return ".".join(parts[:2])

    packages: dict[str, set[str]] = {}
    for module, targets in graph.items():
        source = package(module)
        if source is None:
            continue
        packages.setdefault(source, set())
        packages[source] |= {t for t in map(package, targets) if t and t != source}
    return packages


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_between_modules():
    graph = import_graph()
    assert "augment.pipeline" in graph and "augment.sample" in graph["augment.pipeline"]  # the walk sees imports
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_no_import_cycle_between_packages():
    packages = package_graph(import_graph())
    assert {"augment.tabular", "augment.text", "augment.evaluate", "augment.train"} <= set(packages)
    assert find_cycle(packages) is None, " -> ".join(find_cycle(packages))


def test_core_modules_do_not_import_the_jobs_layer():
    """The core (schema, data, runs, ...) never reaches up to the jobs that use it."""
    graph = import_graph()
    for module in ("augment.schema", "augment.data", "augment.runs", "augment.rows", "augment.split"):
        assert not {"augment.jobs", "augment.api", "augment.pipeline"} & graph[module], module
