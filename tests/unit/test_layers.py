"""The package's layering, read from the source with ast (function-level imports included)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "loadorch"
PURE = ("config", "stats", "verdict", "report", "traffic", "k8s", "profiling", "monitor")
CAPABILITIES = ("metrics", "db", "browser")  # own processes or servers, but no reach into the orchestrator
SHELL = ("loadorch.run", "loadorch.runtime", "loadorch.commands")
PURE_MODULES = ("errors.py", "wire.py", "results.py", "hosts.py", "heap.py")  # top-level modules every layer may import


def imports_of(path: Path, package: str | None = None) -> list[tuple[int, str]]:
    """(line, module) for every import in the file, at any depth; relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    if package is None:
        package = ".".join(("loadorch", *path.relative_to(PACKAGE).parent.parts))
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            out.append((node.lineno, module))
            out += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return out


def modules(where: Path) -> list[Path]:
    return sorted(where.rglob("*.py"))


def under(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def offences(paths: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{p.relative_to(PACKAGE.parent)}:{line}: imports {module}"
        for p in paths
        for line, module in imports_of(p)
        if under(module, forbidden)
    ]


@pytest.mark.parametrize("folder", PURE)
def test_pure_folders_import_no_shell(folder: str) -> None:
    assert (PACKAGE / folder).is_dir()
    assert offences(modules(PACKAGE / folder), SHELL) == []


@pytest.mark.parametrize("folder", CAPABILITIES)
def test_capability_folders_import_no_orchestrator(folder: str) -> None:
    assert (PACKAGE / folder).is_dir()
    assert offences(modules(PACKAGE / folder), SHELL) == []


def test_shared_top_level_modules_import_no_shell() -> None:
    assert offences([PACKAGE / name for name in PURE_MODULES], SHELL) == []


def test_runtime_does_not_import_the_orchestrator() -> None:
    assert offences(modules(PACKAGE / "runtime"), ("loadorch.run", "loadorch.commands")) == []


def test_the_client_imports_no_locust_process_and_no_orchestrator() -> None:
    """client/ is the lean HTTP client setup, the database probe and the workers share: no runtime under it."""
    assert (PACKAGE / "client").is_dir()
    assert offences(modules(PACKAGE / "client"), ("loadorch.runtime", *SHELL)) == []


def test_the_orchestrator_starts_the_runtime_never_imports_it() -> None:
    """run/, commands/ and cli.py start `python -m loadorch.runtime`; what they send themselves goes through
    client/."""
    shell = [*modules(PACKAGE / "run"), *modules(PACKAGE / "commands"), PACKAGE / "cli.py"]
    assert offences(shell, ("loadorch.runtime",)) == []


def test_only_runtime_imports_gevent_or_locust() -> None:
    outside = [p for p in modules(PACKAGE) if "runtime" not in p.relative_to(PACKAGE).parts]
    assert offences(outside, ("gevent", "locust")) == []


def folder_graph() -> dict[str, set[str]]:
    """Folder (or top-level module) -> the folders and top-level modules of the package it imports."""
    def part(module: str) -> str | None:
        pieces = module.split(".")
        if pieces[0] != "loadorch" or len(pieces) < 2:
            return None
        name = pieces[1]
        return name if (PACKAGE / name).is_dir() or (PACKAGE / f"{name}.py").exists() else None

    graph: dict[str, set[str]] = {}
    for path in modules(PACKAGE):
        rel = path.relative_to(PACKAGE).parts
        source = rel[0] if len(rel) > 1 else rel[0].removesuffix(".py")
        for _, module in imports_of(path):
            target = part(module)
            if target and target != source:
                graph.setdefault(source, set()).add(target)
    return graph


def test_folders_import_each_other_in_one_direction_only() -> None:
    """No circle between folders: every domain stands on the ones below it (TYPE_CHECKING imports count)."""
    graph = folder_graph()
    cycles = []

    def visit(node: str, trail: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt in trail:
                cycles.append(" -> ".join([*trail[trail.index(nxt):], nxt]))
            elif len(trail) < len(graph) + 1:
                visit(nxt, [*trail, nxt])

    for start in sorted(graph):
        visit(start, [start])
    assert cycles == []


def test_the_checker_sees_function_level_and_relative_imports(tmp_path: Path) -> None:
    """The checks above could pass by reading nothing: show that they catch what they look for."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    import gevent\n    from ..run import plan\n", encoding="utf-8")
    found = imports_of(probe, "loadorch.verdict")
    assert (2, "gevent") in found and (3, "loadorch.run") in found



def private_imports(path: Path, own: str) -> list[str]:
    """`from loadorch.X import _name` in `path`, where X is not `own` (the importer's folder) or below it."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return [
        f"{node.module}.{a.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").startswith("loadorch.")
        and not ((node.module or "") == own or (node.module or "").startswith(own + "."))
        for a in node.names
        if a.name.startswith("_") and not a.name.startswith("__")
    ]  # fmt: skip


def test_no_folder_imports_another_ones_private_names() -> None:
    """Domains join the verdict through its public helpers (verdict.evaluate.decide, aggregate), never its
    private functions: a private name may change without notice to other folders."""
    found = []
    for p in modules(PACKAGE):
        rel = p.relative_to(PACKAGE).parts
        own = "loadorch." + (rel[0] if len(rel) > 1 else rel[0].removesuffix(".py"))
        found += [f"{p.relative_to(PACKAGE.parent)}: {name}" for name in private_imports(p, own)]
    assert found == []


def test_the_private_import_check_sees_one(tmp_path: Path) -> None:
    probe = tmp_path / "gates.py"
    probe.write_text("from loadorch.verdict.evaluate import _aggregate, decide\nfrom loadorch.db.x import _y\n")
    assert private_imports(probe, "loadorch.db") == ["loadorch.verdict.evaluate._aggregate"]


def test_profiling_is_pure_and_imports_only_itself() -> None:
    """Profiles are read, ranked and drawn from data: py-spy is started and its files read by run/profiler.py."""
    assert (PACKAGE / "profiling").is_dir()
    found = [
        f"{p.relative_to(PACKAGE.parent)}:{line}: imports {module}"
        for p in modules(PACKAGE / "profiling")
        for line, module in imports_of(p)
        if module.startswith("loadorch") and not under(module, ("loadorch.profiling",))
    ]
    assert found == []
