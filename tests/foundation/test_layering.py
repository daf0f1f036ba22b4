"""The dependency direction of the house style, checked on the real import graph."""

import ast
import functools
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest

CHECK = """
import importlib, pkgutil, sys
pkg = importlib.import_module({pkg!r})
for info in pkgutil.walk_packages(pkg.__path__, {pkg!r} + "."):
    importlib.import_module(info.name)
bad = sorted(m for m in sys.modules if m.split(".")[0] in {forbidden!r})
print(",".join(bad))
"""


def imported(pkg: str, forbidden: set[str]) -> str:
    code = CHECK.format(pkg=pkg, forbidden=forbidden)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize("pkg", ["optimizer", "enforcement"])
def test_optimizer_and_enforcement_import_no_faust_and_no_dash(pkg):
    assert imported(pkg, {"faust", "dash", "streams", "dashboard"}) == ""


@pytest.mark.parametrize("pkg", ["topis", "streams", "optimizer", "enforcement", "dashboard"])
def test_package_init_imports_nothing_heavy(pkg):
    code = f"import sys, {pkg}; print(','.join(m for m in ('faust', 'dash', 'numba', 'sqlalchemy') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_dashboard_never_imports_the_agents():
    assert "streams.live.agents" not in imported("dashboard", {"streams"})


# --- the static import graph (every import statement, including the ones inside functions) ---

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("topis", "streams", "optimizer", "enforcement", "dashboard")
#: The composition root: it starts everything, so it may import everything, and only the entry point imports it.
COMPOSITION_ROOT = "topis.cli"
#: The ground floor: the settings, codec, topic registry and schemas, broker, geometry and calendar.
FOUNDATION = ("topis.settings", "topis.wire", "topis.topics", "topis.schemas", "topis.broker", "topis.geo",
              "topis.holidays", "topis.process", "topis.publish")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def imports_of(path: Path) -> set[str]:
    """Every topis-project module ``path`` imports (``from a import b`` counts as ``a.b`` when b is a module)."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            found |= {f"{base}.{a.name}" if is_module(f"{base}.{a.name}") else base for a in node.names}
    return {name for name in found if name.split(".")[0] in PACKAGES}


def unit(module: str) -> str:
    """The node of the layering graph: a subpackage (``streams.bus``), or a top-level module of ``topis``."""
    parts = module.split(".")
    if len(parts) >= 2 and (is_module(".".join(parts[:2])) and (ROOT / parts[0] / parts[1]).is_dir()
                            or parts[0] == "topis" and is_module(".".join(parts[:2]))):
        return ".".join(parts[:2])
    if module.startswith("dashboard.app"):  # the dashboard's own composition root, above its pages
        return "dashboard.app"
    return parts[0]


@functools.cache
def import_graph() -> nx.DiGraph:
    graph = nx.DiGraph()
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            source = module_name(path)
            for target in imports_of(path):
                if unit(source) != unit(target):
                    graph.add_edge(unit(source), unit(target), via=f"{source} -> {target}")
    return graph


def test_no_import_cycles_between_packages():
    graph = import_graph()
    cycles = [[graph.edges[a, b]["via"] for a, b in zip(c, c[1:] + c[:1])] for c in nx.simple_cycles(graph)]
    assert cycles == []


def test_the_foundation_imports_nothing_above_it():
    graph = import_graph()
    upward = [graph.edges[a, b]["via"] for a, b in graph.edges
              if a.startswith(FOUNDATION) and not b.startswith(FOUNDATION) and b != "topis"]
    assert upward == []


def test_only_the_entry_point_imports_the_composition_root():
    graph = import_graph()
    assert sorted(a for a in graph.predecessors(COMPOSITION_ROOT)) == ["topis.__main__"]


def test_the_graph_sees_the_known_edges():
    """A guard on the checker itself: edges that exist must be found, or the tests above prove nothing."""
    graph = import_graph()
    assert graph.has_edge("topis.cli", "streams")  # topis worker builds the Faust app
    assert graph.has_edge("streams.bus", "topis.schemas")
    assert graph.has_edge("topis.topics", "topis.schemas")
