"""loadorch/runtime/locust_import.py's two assumptions about the installed Locust and the standard library, read
without importing Locust (its import in a unit test can hang the suite): they fail here, loudly, if an upgrade
changes them. Its effect on a real Locust import is tests/integration/test_locust_import.py's."""

from __future__ import annotations

import ast
import importlib.util
from importlib import metadata
from pathlib import Path

from loadorch.runtime.locust_import import _entry_points_read_once


def _locust_root(package: str = "locust") -> Path:
    spec = importlib.util.find_spec(package)  # finds the package without running it
    assert spec is not None and spec.origin is not None
    return Path(spec.origin).parent


def _charset_uses(root: Path) -> dict[str, list[tuple[str, list[str]]]]:
    """file -> each use of charset_normalizer in it: ("from", names), ("import", []) or ("name", []) (the name as a
    string, as requests.compat gives importlib.import_module)."""
    found: dict[str, list[tuple[str, list[str]]]] = {}
    for path in sorted(root.rglob("*.py")):
        uses: list[tuple[str, list[str]]] = []
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "charset_normalizer":
                uses.append((f"from {node.module}", [a.name for a in node.names]))
            elif isinstance(node, ast.Import):
                uses += [("import", []) for a in node.names if a.name.split(".")[0] == "charset_normalizer"]
            elif isinstance(node, ast.Constant) and node.value == "charset_normalizer":
                uses.append(("name", []))
        if uses:
            found[str(path.relative_to(root))] = uses
    return found


def _web_imports(path: Path, root: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of each import of locust.web in one of Locust's files."""
    package = ".".join(("locust", *path.relative_to(root).parent.parts))
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package if node.level <= 1 else package.rsplit(".", node.level - 1)[0]
            module = f"{base}.{node.module}" if node.level else node.module or ""
            names = [a.name for a in node.names]
            if module == "locust.web" or (module == "locust" and "web" in names):
                found.append((module, names))
        elif isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names if a.name == "locust.web"]
    return found


def test_only_locust_env_imports_the_web_ui_and_only_its_webui() -> None:
    """The stand-in `locust.web` answers `WebUI` itself: any other import of the module by Locust would make it
    import the real one (correct, but the saving gone): this test says so at the upgrade."""
    root = _locust_root()
    imports = {str(p.relative_to(root)): _web_imports(p, root) for p in sorted(root.rglob("*.py"))}
    assert {name: found for name, found in imports.items() if found and "test" not in name} == {
        "env.py": [("locust.web", ["WebUI"])]
    }


def test_locust_and_requests_use_of_charset_normalizer_is_what_its_stand_in_answers() -> None:
    """While Locust imports, `charset_normalizer` is a stand-in with the real `__version__` and a `detect` that
    imports the real module (locust_import.py): Locust binds `detect`, requests reads `__version__` and keeps the
    module it gets by name (its attributes read at use, forwarded). Another use (a name bound at import, a
    submodule) would import the real one or fail while Locust imports: this test says so at the upgrade.
    (`requests.help` is `python -m requests.help`, not imported by requests: tests/integration's probe checks it.)"""
    found = {f"locust/{k}": v for k, v in _charset_uses(_locust_root()).items() if "test" not in k}
    found |= {f"requests/{k}": v for k, v in _charset_uses(_locust_root("requests")).items()}
    found |= {f"urllib3/{k}": v for k, v in _charset_uses(_locust_root("urllib3")).items()}
    assert found == {
        "locust/contrib/fasthttp.py": [("from charset_normalizer", ["detect"])],
        "requests/__init__.py": [("from charset_normalizer", ["__version__"])],
        "requests/compat.py": [("name", [])],
        "requests/help.py": [("import", []), ("name", [])],
    }


def test_entry_points_read_once_answer_as_the_library_does() -> None:
    calls: list[dict[str, str]] = []
    real = metadata.entry_points

    def counting(**params: str) -> metadata.EntryPoints:
        calls.append(params)
        return real(**params)

    metadata.entry_points = counting  # type: ignore[assignment]
    try:
        with _entry_points_read_once():
            groups = ("console_scripts", "pytest11", "no.such.group")
            answers = [sorted(ep.name for ep in metadata.entry_points(group=g)) for g in groups * 2]
            by_name = sorted(ep.group for ep in metadata.entry_points(name="loadorch"))
        assert metadata.entry_points is counting  # the library's function again afterwards
    finally:
        metadata.entry_points = real  # type: ignore[assignment]
    assert calls == [{}]  # every distribution's metadata read once, for 7 questions
    expected = [sorted(ep.name for ep in real(group=g)) for g in groups * 2]
    assert answers == expected and "loadorch" in answers[0] and answers[2] == []
    assert by_name == sorted(ep.group for ep in real(name="loadorch")) == ["console_scripts"]
