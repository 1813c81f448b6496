"""Dependencies run one way: no import cycle anywhere in edgeseg/ (imports inside functions count, only
`if TYPE_CHECKING:` blocks do not), and the runtime reaches nothing of the builder, training, export
or benchmarks. Read from the source with `ast`, so nothing is imported and every lazy import is seen."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "edgeseg"
FORBIDDEN_FOR_RUNTIME = ("edgeseg.engines.build", "edgeseg.train", "edgeseg.export", "edgeseg.bench")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _type_checking_only(node: ast.AST, parents: dict) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The edgeseg modules an import statement loads (a name that is a submodule counts as it)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name in MODULES]
    if node.level:
        package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{node.module}" if node.module else package
    else:
        base = node.module or ""
    found = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES]
    if len(found) < len(node.names) and base in MODULES:
        found.append(base)
    return found


def _edges() -> dict[str, dict[str, int]]:
    """module -> {imported module: line of the first import}."""
    edges: dict[str, dict[str, int]] = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        out = edges.setdefault(module, {})
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and not _type_checking_only(node, parents):
                for target in _targets(module, node):
                    if target != module:
                        out.setdefault(target, node.lineno)
    return edges


EDGES = _edges()


def _where(module: str, target: str) -> str:
    path = MODULES[module].relative_to(ROOT.parent)
    return f"{path}:{EDGES[module][target]} imports {target}"


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in EDGES.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(EDGES):
        if v not in index:
            visit(v)
    return found


def test_the_walker_sees_lazy_and_relative_imports():
    assert "edgeseg.models" in EDGES["edgeseg.checkpoint"]  # `from .models import create_model` inside load()
    assert "edgeseg.models.flops" in EDGES["edgeseg.export.api"]  # inside _export_variant
    assert "edgeseg.data.sample" in EDGES["edgeseg.data.synthetic"]
    assert "edgeseg.cli.train" in EDGES["edgeseg.cli"]  # `from . import ..., train`


def test_no_import_cycles():
    cycles = _cycles()
    lines = []
    for component in cycles:
        members = set(component)
        lines += [_where(m, t) for m in component for t in EDGES[m] if t in members]
    assert not cycles, "import cycles:\n" + "\n".join(lines)


def _reach(start: str) -> dict[str, tuple[str, str]]:
    """Every module reachable from `start`, with the edge it was first reached by."""
    seen: dict[str, tuple[str, str]] = {}
    todo = [start]
    while todo:
        module = todo.pop()
        for target in EDGES.get(module, {}):
            if target not in seen and target != start:
                seen[target] = (module, target)
                todo.append(target)
    return seen


def _chain(start: str, end: str, seen: dict[str, tuple[str, str]]) -> list[str]:
    chain = []
    while end != start:
        module, target = seen[end]
        chain.append(_where(module, target))
        end = module
    return chain[::-1]


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("edgeseg.runtime")))
def test_the_runtime_reaches_no_builder_training_export_or_bench_code(module):
    seen = _reach(module)
    bad = sorted(t for t in seen if any(t == f or t.startswith(f + ".") for f in FORBIDDEN_FOR_RUNTIME))
    assert not bad, "\n".join(" -> ".join(_chain(module, t, seen)) for t in bad)
