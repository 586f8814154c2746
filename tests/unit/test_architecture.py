"""The arrows of docs/architecture.md, checked: no import cycles between our modules (imports inside
functions count), the engine never imports streamlit, and what components import from the engine loads
without torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("tracing", "model_zoo", "finetune", "jobs", "datafiles", "components", "page_glue", "pages")
ENGINE = ("tracing", "model_zoo", "finetune", "jobs", "datafiles")


def module_files() -> dict[str, Path]:
    files = {"app": REPO / "app.py"}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return files


def _under_type_checking(node: ast.AST, parents: dict) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imports_of(name: str, path: Path, known: set[str], top_level_only: bool = False) -> set[str]:
    """Our modules that ``name`` imports (``from pkg import module`` names the module itself)."""
    tree = ast.parse(path.read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if top_level_only and (parents.get(node) is not tree):
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        if _under_type_checking(node, parents):
            continue
        found.update(t for t in targets if t in known and t != name)
    return found


def test_no_import_cycles():
    files = module_files()
    known = set(files)
    graph = {name: imports_of(name, path, known) for name, path in files.items()}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[node] = 2
        path.pop()
        return None

    for module in sorted(graph):
        if module not in state:
            cycle = visit(module)
            assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_engine_never_imports_streamlit():
    for name, path in module_files().items():
        if name.split(".")[0] in ENGINE:
            tree = ast.parse(path.read_text())
            names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
            names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
            assert not any(n.split(".")[0] == "streamlit" for n in names), name


def test_what_components_import_from_the_engine_loads_without_torch():
    files = module_files()
    known = set(files)
    wanted = sorted(
        {
            target
            for name, path in files.items()
            if name.startswith("components.")
            for target in imports_of(name, path, known, top_level_only=True)
            if target.split(".")[0] in ENGINE
        }
    )
    assert "tracing.core.trace" in wanted and "tracing.experiments.comparison" in wanted
    script = "import sys; sys.modules['torch'] = None\n" + "".join(f"import {m}\n" for m in wanted)
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_no_page_file_is_named_like_a_package():
    """A page run as its own script has pages/ first on sys.path, where ``pages/<name>.py`` would stand in for
    a package of that name (ours or an installed one)."""
    from importlib.metadata import packages_distributions

    packages = {p for p in PACKAGES if p != "pages"} | {"app"} | set(packages_distributions())
    clashes = sorted(p.stem for p in (REPO / "pages").glob("*.py") if p.stem in packages)
    assert not clashes, f"page files named like a package: {clashes}"


def package_arrows() -> dict[str, set[str]]:
    """Which of our top-level packages each one imports (imports inside functions count)."""
    files = module_files()
    known = set(files)
    arrows: dict[str, set[str]] = {}
    for name, path in files.items():
        top = name.split(".")[0]
        arrows.setdefault(top, set()).update(t.split(".")[0] for t in imports_of(name, path, known))
    return {top: targets - {top} for top, targets in arrows.items()}


def test_no_two_packages_import_each_other():
    arrows = package_arrows()
    both_ways = sorted((a, b) for a in arrows for b in arrows[a] if a < b and a in arrows.get(b, set()))
    assert not both_ways, f"packages importing each other: {both_ways}"


def test_the_shared_rooms_import_neither_of_their_users():
    arrows = package_arrows()
    for room in ("jobs", "datafiles"):
        assert not arrows[room] & {"tracing", "finetune", "page_glue", "components", "pages"}, (room, arrows[room])
    assert {"jobs", "datafiles"} <= arrows["tracing"] and {"jobs", "datafiles"} <= arrows["finetune"]
    assert "finetune" not in arrows["tracing"]
