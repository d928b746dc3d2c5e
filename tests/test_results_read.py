"""Reading a results.json from elsewhere (`report`, `compare`, `k8s collect`): a malformed, truncated,
foreign or garbage file is a located error (`file: field: message`) with the documented exit code,
never an internal error, and nothing is written."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from loadorch.cli import main
from loadorch.k8s.framing import frame

from .synthetic import synthetic_results

Doc = dict[str, Any]


def _drop(key: str) -> Callable[[Doc], None]:
    return lambda doc: doc.pop(key)


def _set(path: str, value: object) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        *parents, last = path.split(".")
        for p in parents:
            doc = doc[p]
        doc[last] = value

    return change


# (what is wrong, the change, the field named, words of the message)
CASES = [
    ("missing run", _drop("run"), "run", "missing"),
    ("missing histograms", _drop("histograms"), "histograms", "missing"),
    ("missing field", _set("run", {"profile": "p"}), "run.scenario", "missing"),
    ("wrong type", _set("totals.requests", "many"), "totals.requests", "valid integer"),
    ("wrong section type", _set("endpoints", []), "endpoints", "valid dictionary"),
    ("threshold row", _set("thresholds", [{"selector": "x"}]), "thresholds.0.expression", "missing"),
    ("histogram rows", _set("histograms.series", [["no"]]), "histograms.series.0.0", "valid tuple"),
    ("unknown field", _set("surprise", 1), "surprise", "unknown field"),
    ("bad verdict", _set("verdict", "great"), "verdict", "pass"),
]
GARBAGE = [
    ("not JSON", b"\x00\xffgarbage", "not valid JSON"),
    ("truncated", None, "not valid JSON"),
    ("a list", b"[1, 2]", "not a loadorch.results/v1 document"),
    ("no schema", b'{"verdict": "pass"}', "schema: missing"),
    ("newer version", b'{"schema": "loadorch.results/v2"}', "schema: loadorch.results/v2 is a version"),
    ("foreign", b'{"schema": "k6/summary"}', 'schema: "k6/summary" is not loadorch.results/v1'),
]


def good() -> Doc:
    return json.loads(json.dumps(synthetic_results(endpoints=3, seconds=5, users=2)))


def text_of(case: str, data: bytes | None) -> bytes:
    return json.dumps(good()).encode()[:300] if data is None else data


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_clear(code: int, err: str, expected: int, where: str, words: str, *texts: str) -> None:
    """Exit `expected`; a line of err starts (after indentation) with `where` and says `words`."""
    assert code == expected, err
    assert any(line.strip().startswith(where) and words in line for line in err.splitlines()), err
    for text in texts:
        assert text in err, err
    assert "Traceback" not in err and "internal error" not in err and "KeyError" not in err, err


def run_dir(root: Path, name: str, data: bytes) -> Path:
    folder = root / name
    folder.mkdir()
    (folder / "results.json").write_bytes(data)
    return folder


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_report_names_the_file_and_field(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: Any) -> None:
    _, change, field, words = case
    doc = good()
    change(doc)
    folder = run_dir(tmp_path, "run", json.dumps(doc).encode())
    code, _, err = cli(capsys, "report", str(folder))
    assert_clear(code, err, 3, f"{folder / 'results.json'}: {field}: ", words, "unreadable results")
    assert not (folder / "report.html").exists() and not (folder / "summary.md").exists()


@pytest.mark.parametrize("case", GARBAGE, ids=[c[0] for c in GARBAGE])
def test_report_of_garbage_is_a_located_error(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: Any) -> None:
    name, data, words = case
    folder = run_dir(tmp_path, "run", text_of(name, data))
    code, _, err = cli(capsys, "report", str(folder))
    assert_clear(code, err, 3, f"{folder / 'results.json'}: ", words)


@pytest.mark.parametrize("case", CASES[:5], ids=[c[0] for c in CASES[:5]])
def test_compare_names_the_file_and_field(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: Any) -> None:
    _, change, field, words = case
    base = run_dir(tmp_path, "base", json.dumps(good()).encode())
    doc = good()
    change(doc)
    cur = run_dir(tmp_path, "cur", json.dumps(doc).encode())
    out = tmp_path / "cmp"
    code, _, err = cli(capsys, "compare", str(base), str(cur), "--out", str(out))
    assert_clear(code, err, 3, f"{cur / 'results.json'}: {field}: ", words)
    assert not out.exists()


@pytest.mark.parametrize("case", GARBAGE[:3], ids=[c[0] for c in GARBAGE[:3]])
def test_compare_of_garbage_is_a_located_error(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: Any) -> None:
    name, data, words = case
    base = run_dir(tmp_path, "base", text_of(name, data))
    cur = run_dir(tmp_path, "cur", json.dumps(good()).encode())
    code, _, err = cli(capsys, "compare", str(base), str(cur), "--out", str(tmp_path / "cmp"))
    assert_clear(code, err, 3, f"{base / 'results.json'}: ", words)


def test_the_good_document_reads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The cases above differ from a document that reads by their one change only."""
    base = run_dir(tmp_path, "base", json.dumps(good()).encode())
    cur = run_dir(tmp_path, "cur", json.dumps(good()).encode())
    assert cli(capsys, "report", str(cur))[0] == 0
    # read: no regression, or inconclusive where the golden's few samples cannot bound a row (a p99)
    assert cli(capsys, "compare", str(base), str(cur), "--out", str(tmp_path / "cmp"))[0] in (0, 6)
    log = tmp_path / "master.log"
    log.write_text("noise\n" + frame({"results.json": json.dumps(good()).encode()}))
    code, _, err = cli(capsys, "k8s", "collect", str(log), "--out", str(tmp_path / "collected"))
    assert code == good()["exit_code"], err
    assert (tmp_path / "collected" / "report.html").exists()


@pytest.mark.parametrize("case", [*CASES[:5], *[(n, None, "", w) for n, _, w in GARBAGE]], ids=lambda c: c[0])
def test_k8s_collect_names_the_field_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: Any
) -> None:
    name, change, field, words = case
    if change is None:
        data = text_of(name, next(d for n, d, _ in GARBAGE if n == name))
    else:
        doc = good()
        change(doc)
        data = json.dumps(doc).encode()
    log = tmp_path / "master.log"
    log.write_text("noise\n" + frame({"results.json": data, "junit.xml": b"<testsuites/>"}))
    out = tmp_path / "collected"
    code, _, err = cli(capsys, "k8s", "collect", str(log), "--out", str(out))
    where = f"{log}: results.json: {field}: " if field else f"{log}: results.json: "
    assert_clear(code, err, 5, where, words, "nothing was written")
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["master.log"]
