"""deploy/gateway-requirements.txt covers what the gateway image imports.

The gateway image installs that file, not pyproject.toml's list (which drags in the training stack). A
module the gateway reaches but the file lacks fails only at request time in the image (a 500 on the
first `/forecast` when the XWAR calendar was missing). So: every import, at any depth, of every module
reachable from `gateway/` through first-party imports, mapped to its distribution, must be in the file
or installed by something in it."""

from __future__ import annotations

import ast
import re
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "deploy" / "gateway-requirements.txt"
FIRST_PARTY = {"gateway", "settings", "processes", "wig80", "market_data", "registry", "analogues", "serving",
               "feature_kernels", "training", "export", "lifecycle"}
IMAGE_PACKAGES = {"gateway", "settings", "processes", "market_data", "registry", "analogues", "serving", "wig80"}


def module_file(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imports_of(path: Path, package: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing package
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                names.add(f"{base}.{node.module}" if node.module else base)
            elif node.module:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def reachable_third_party(start: str) -> tuple[set[str], set[str]]:
    """(third-party top-level names, first-party modules) reachable from every module under `start`."""
    todo = [".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            for p in (ROOT / start).rglob("*.py")]
    seen, third = set(), set()
    while todo:
        name = todo.pop()
        path = module_file(name)
        if name in seen or path is None:
            continue
        seen.add(name)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for imported in imports_of(path, package):
            top = imported.split(".")[0]
            if top in FIRST_PARTY:
                todo.append(imported)
            elif top not in sys.stdlib_module_names and top != "__future__":
                third.add(top)
    return third, seen


def required_distributions() -> set[str]:
    """The file's distributions and everything they install (their requirements, transitively, with extras)."""
    def normal(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    todo = []
    for line in REQUIREMENTS.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            match = re.match(r"([A-Za-z0-9_.-]+)(\[([^\]]+)\])?", line)
            todo.append((match.group(1), set((match.group(3) or "").replace(" ", "").split(",")) - {""}))
    found: set[str] = set()
    while todo:
        name, extras = todo.pop()
        if normal(name) in found:
            continue
        found.add(normal(name))
        try:
            requirements = metadata.requires(name) or []
        except metadata.PackageNotFoundError:  # not in this venv (the image installs it): its own needs unknown
            continue
        for requirement in requirements:
            spec, _, marker = requirement.partition(";")
            wanted = re.findall(r'extra\s*==\s*"([^"]+)"', marker)
            if wanted and not set(wanted) & extras:
                continue
            match = re.match(r"([A-Za-z0-9_.-]+)(\[([^\]]+)\])?", spec.strip())
            todo.append((match.group(1), set((match.group(3) or "").split(",")) - {""}))
    return found


def test_every_module_the_gateway_reaches_is_installed_by_its_requirements():
    third, modules = reachable_third_party("gateway")
    assert "market_data.calendar" in modules  # the scan follows first-party imports inside functions too
    providers = metadata.packages_distributions()
    required = required_distributions()
    missing = {}
    for top in sorted(third):
        dists = {re.sub(r"[-_.]+", "-", d).lower() for d in providers.get(top, [])}
        if not dists & required:
            missing[top] = sorted(dists) or ["not installed here"]
    assert not missing, f"imported by the gateway's code but not installed by {REQUIREMENTS.name}: {missing}"


def test_the_gateway_reaches_only_packages_its_image_copies():
    _, modules = reachable_third_party("gateway")
    assert {name.split(".")[0] for name in modules} <= IMAGE_PACKAGES
