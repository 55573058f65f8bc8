"""The house: every package on a floor, imports only downward, no cycle.

FLOORS is the one statement of the layer order (README's architecture section and docs/contracts.md
describe it). A package may import packages of the floors below its own, never one of its own floor
or above. The gateway's parts have floors of their own (GATEWAY_FLOORS), by the same rule. Imports are
read with `ast` from every module, the ones inside functions included (a lazy import is still a
dependency), so a cycle cannot hide behind an import done late.

`python -m tests.test_layers [ROOT]` prints the figures (packages, edges, cycles, upward imports) of
the tree at ROOT (default: this checkout), e.g. of an older commit exported with `git archive`.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# bottom first: a package imports only packages of lower floors
FLOORS: tuple[tuple[str, ...], ...] = (
    ("settings",),  # the typed configuration, passed in by the entry points
    ("processes", "market_data", "feature_kernels"),  # child processes; bars and stores; the Numba kernels
    ("registry", "serving", "model_repository"),  # PocketBase; Triton (launcher, contract, model control); its models
    ("training", "gateway"),  # the MGDL network and its runs; the thin FastAPI gateway (no torch, no Numba)
    ("export",),  # a run -> ONNX -> a version of the Triton repository
    ("lifecycle",),  # registered exports, deployments, retraining
    ("wig80", "benchmarks"),  # the top floor: every entry point (`wig80 ...`), and the benchmarks
)
# inside the gateway, bottom first (gateway/<part>.py or gateway/<part>/)
GATEWAY_FLOORS: tuple[tuple[str, ...], ...] = (
    ("metrics", "schemas", "client_identity", "redaction"),  # shared by every part
    ("forecasting",),  # hot windows, held forecasts, the served model, responses derived from them
    ("realtime",),  # new-bar events and the WebSocket hub
    ("services",),  # the long-lived parts of one process, wired together
    ("api",),  # routes, dependencies, errors, middleware
    ("main", "server"),  # the app factory; the uvicorn options
)
NOT_PACKAGES = {"tests", "scripts", "deploy", "docs", "var", "build", "dist"}


@dataclass
class House:
    """Import edges between units (top-level packages, or parts of the gateway) and where each comes from."""

    packages: list[str]
    edges: dict[tuple[str, str], list[str]] = field(default_factory=lambda: defaultdict(list))

    def add(self, importer: str, imported: str, where: str) -> None:
        if importer != imported:
            self.edges[(importer, imported)].append(where)

    def graph(self, units: set[str]) -> dict[str, set[str]]:
        graph: dict[str, set[str]] = {unit: set() for unit in units}
        for a, b in self.edges:
            if a in units and b in units:
                graph[a].add(b)
        return graph


def package_dirs(root: Path) -> list[str]:
    """Top-level folders holding Python source (not tests, scripts, deployment files)."""
    return sorted(
        path.name for path in root.iterdir()
        if path.is_dir() and not path.name.startswith(".") and path.name not in NOT_PACKAGES
        and any(path.rglob("*.py"))
    )


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(path: Path, module: str) -> list[tuple[str, int]]:
    """(absolute module name, line) of every import in the file, relative ones resolved."""
    names = []
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            names += [(f"{base}.{alias.name}" if base else alias.name, node.lineno) for alias in node.names]
    return names


def unit_of(name: str, packages: set[str]) -> str | None:
    """The unit a module belongs to: its top-level package, or `gateway.<part>`."""
    parts = name.split(".")
    if parts[0] not in packages:
        return None
    if parts[0] == "gateway" and len(parts) > 1 and floor_of(parts[1], GATEWAY_FLOORS) is not None:
        return f"gateway.{parts[1]}"
    return parts[0]


def floor_of(name: str, floors: tuple[tuple[str, ...], ...]) -> int | None:
    return next((level for level, members in enumerate(floors) if name in members), None)


def read_house(root: Path = ROOT) -> House:
    house = House(package_dirs(root))
    packages = set(house.packages)
    for package in house.packages:
        for path in sorted((root / package).rglob("*.py")):
            module = module_name(root, path)
            importer = unit_of(module, packages)
            for name, line in imported_names(path, module):
                imported = unit_of(name, packages)
                if imported is not None and importer is not None:
                    house.add(importer, imported, f"{path.relative_to(root)}:{line} imports {name}")
    return house


def upward_imports(house: House) -> list[str]:
    """Every import of a unit on the importer's own floor or above, as `file:line imports name`."""
    found = []
    for (a, b), places in sorted(house.edges.items()):
        top_a, top_b = a.split(".")[0], b.split(".")[0]
        if top_a == top_b == "gateway":
            floors, low, high = GATEWAY_FLOORS, b.partition(".")[2], a.partition(".")[2]
        else:
            floors, low, high = FLOORS, top_b, top_a
        importer_floor, imported_floor = floor_of(high, floors), floor_of(low, floors)
        if importer_floor is None or imported_floor is None or imported_floor >= importer_floor:
            found += [f"{a} -> {b}: {place}" for place in places]
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one unit (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def package_graph(house: House) -> dict[str, set[str]]:
    """Edges between top-level packages (the gateway's parts folded into `gateway`)."""
    graph: dict[str, set[str]] = {package: set() for package in house.packages}
    for a, b in house.edges:
        top_a, top_b = a.split(".")[0], b.split(".")[0]
        if top_a != top_b:
            graph[top_a].add(top_b)
    return graph


def gateway_graph(house: House) -> dict[str, set[str]]:
    parts = {unit for edge in house.edges for unit in edge if unit.startswith("gateway.")}
    return house.graph(parts)


def figures(house: House) -> dict:
    graph = package_graph(house)
    return {
        "packages": len(house.packages),
        "edges": sum(len(targets) for targets in graph.values()),
        "cycles": cycles(graph),
        "mutual_pairs": sorted({tuple(sorted((a, b))) for a in graph for b in graph[a] if a in graph[b]}),
        "gateway_cycles": cycles(gateway_graph(house)),
        "upward_imports": upward_imports(house),
    }


def test_every_package_has_a_floor():
    unplaced = [package for package in package_dirs(ROOT) if floor_of(package, FLOORS) is None]
    assert not unplaced, f"packages on no floor of tests/test_layers.py FLOORS: {unplaced}"


def test_no_package_cycle():
    house = read_house()
    assert cycles(package_graph(house)) == []
    assert cycles(gateway_graph(house)) == []


def test_no_import_runs_up_or_sideways():
    upward = upward_imports(read_house())
    assert not upward, "imports against the floors of tests/test_layers.py:\n" + "\n".join(upward)


def test_the_reader_sees_late_and_relative_imports(tmp_path):
    """The figures are only as good as the import reader: a function-level import and a relative one count."""
    (tmp_path / "settings").mkdir()
    (tmp_path / "settings" / "__init__.py").write_text("def late():\n    from wig80.commands import serve\n")
    (tmp_path / "wig80" / "commands").mkdir(parents=True)
    (tmp_path / "wig80" / "__init__.py").write_text("")
    (tmp_path / "wig80" / "commands" / "__init__.py").write_text("from ..cli import main\n")
    (tmp_path / "wig80" / "cli.py").write_text("import settings\n")
    house = read_house(tmp_path)
    assert package_graph(house) == {"settings": {"wig80"}, "wig80": {"settings"}}
    assert cycles(package_graph(house)) == [["settings", "wig80"]]
    assert upward_imports(house) == ["settings -> wig80: settings/__init__.py:2 imports wig80.commands.serve"]


def test_the_gateway_imports_neither_torch_nor_numba():
    """The gateway image ships without them (Dockerfile): its app and its worker entry must not need them."""
    probe = ("import sys, gateway.main, wig80.commands.gateway_worker; "
             "heavy = sorted({'torch', 'numba', 'onnxruntime'} & set(sys.modules)); "
             "print(','.join(heavy)); sys.exit(1 if heavy else 0)")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"the gateway imported {result.stdout.strip()}{result.stderr[-2000:]}"


if __name__ == "__main__":
    measured = figures(read_house(Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else ROOT))
    print(f"packages {measured['packages']}, edges {measured['edges']}, cycles {measured['cycles']}, "
          f"mutual pairs {measured['mutual_pairs']}, gateway cycles {measured['gateway_cycles']}, "
          f"upward imports {len(measured['upward_imports'])}")
    print("\n".join(measured["upward_imports"]))
