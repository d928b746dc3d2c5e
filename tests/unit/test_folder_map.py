"""CONTRIBUTING.md's folder map against the package: every folder and top-level module of loadorch/ has one
row, every name in it exists, and what each part imports (read with ast) is within its "may import" column."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import pytest

from tests.support.project import REPO
from tests.unit.test_layers import PACKAGE, folder_graph

ALWAYS = {"errors"}  # the map's introduction: every part may import errors.py
imports_by_part = functools.cache(folder_graph)  # the sources are read once per test process


def parts() -> set[str]:
    """The package's folders and top-level modules, as folder_graph names them."""
    return {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()} | {
        p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}


def part_of(name: str) -> str:
    """`loadorch/cli.py` -> cli, `commands/` -> commands, `client/vu.py` -> client."""
    name = name.removeprefix("loadorch/")
    return name.split("/")[0] if "/" in name else name.removesuffix(".py")


@dataclass
class Row:
    line: int
    names: list[str]
    allowed: set[str]
    never: set[str]


def _ticked(text: str) -> list[str]:
    return [n for n in re.findall(r"`([^`]+)`", text) if re.fullmatch(r"[\w/]+(\.py)?/?", n)]


def read_map(text: str, everything: set[str]) -> list[Row]:
    """The rows of the table under '## The map': the first column's names, the "may import" column read as
    its first clause (everything / everything but ... / nothing / a list) and clauses starting with never."""
    section = text.split("## The map", 1)[1].split("\n## ", 1)[0]
    offset = text[: text.index("## The map")].count("\n")
    rows = []
    for i, line in enumerate(section.splitlines()):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) != 3 or cells[0] in ("folder", "---"):
            continue
        first, *rest = cells[2].split(";")
        if first.startswith("everything but"):
            allowed = everything - {part_of(n) for n in _ticked(first)}
        elif first.startswith("everything"):
            allowed = set(everything)
        else:
            allowed = {part_of(n) for n in _ticked(first)}
        never = {part_of(n) for clause in rest if clause.strip().startswith("never") for n in _ticked(clause)}
        names = [part_of(n) for n in _ticked(cells[0])]
        rows.append(Row(offset + i + 1, names, allowed, never))
    return rows


def check(text: str) -> list[str]:
    """What the map says that the package contradicts, one line each."""
    everything = parts()
    graph = imports_by_part()
    rows = read_map(text, everything)
    problems = []
    named = [n for row in rows for n in row.names]
    problems += [f"no row for loadorch/{p}" for p in sorted(everything - set(named))]
    problems += [f"{n}: in more than one row" for n in sorted({n for n in named if named.count(n) > 1})]
    for row in rows:
        for name in sorted((set(row.names) | row.allowed | row.never) - everything):
            problems.append(f"CONTRIBUTING.md:{row.line}: {name} is not a folder or module of loadorch/")
        for name in row.names:
            imports = graph.get(name, set())
            outside = sorted(imports - row.allowed - ALWAYS)
            banned = sorted(imports & row.never)
            if outside:
                problems.append(f"CONTRIBUTING.md:{row.line}: {name} imports {', '.join(outside)}, not in its row")
            if banned:
                problems.append(f"CONTRIBUTING.md:{row.line}: {name} imports {', '.join(banned)}, which it says never")
    return problems


def test_the_folder_map_matches_the_package() -> None:
    text = (REPO / "CONTRIBUTING.md").read_text()
    assert len(read_map(text, parts())) >= 15
    assert check(text) == []


@pytest.mark.parametrize(("edit", "expected"), [
    # a folder or module without a row (the map had no fastexit.py)
    (lambda t: re.sub(r"\n\| `loadorch/fastexit.py`[^\n]*", "", t), "no row for loadorch/fastexit"),
    # a row naming what does not exist
    (lambda t: t.replace("| `target/` |", "| `target/`, `shops/` |"), "shops is not a folder or module"),
    # an import the row does not allow (metrics/ draws the live page with report/'s charts)
    (lambda t: t.replace("| `report/`, `stats/`, `verdict/`, `config/`, `traffic/`, `wire.py`, `results.py`; never",
                         "| `stats/`, `verdict/`, `config/`, `traffic/`, `wire.py`, `results.py`; never"),
     "metrics imports report, not in its row"),
    # an import the row forbids
    (lambda t: t.replace("never `run/`, `commands/` |", "never `run/`, `commands/`, `db/` |"),
     "runtime imports db, which it says never"),
])
def test_the_check_catches_a_stale_map(edit, expected) -> None:
    """The check above could pass by reading nothing: each stale edit of the real map is caught."""
    text = (REPO / "CONTRIBUTING.md").read_text()
    edited = edit(text)
    assert edited != text
    problems = "\n".join(check(edited))
    assert expected in problems, problems
