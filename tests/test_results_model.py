"""results.json's model (loadorch/results.py): the golden document, its published JSON Schema, and
the version rule (an older v1 file, without the sections added since, still reads and renders).

Regenerate after an intended change (and review the diff):
    LOADORCH_REGEN_GOLDEN=1 python3 -m pytest -q tests/test_results_model.py
    python3 -m loadorch.results > docs/results.schema.json
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from loadorch.report.html import render_html
from loadorch.report.summary import markdown
from loadorch.results import SCHEMA, Results, json_schema, results_of
from loadorch.run.artifacts import dumps

from .synthetic import full_results
from .test_golden import check_golden

REPO = Path(__file__).resolve().parents[1]
# what v1's first release wrote; every other field was added later, with a default in the model
FIRST_V1 = ("schema", "verdict", "exit_code", "error", "run", "totals", "kinds", "endpoints", "thresholds",
            "checks", "integrity", "service_time", "errors", "timeseries", "histograms")  # fmt: skip


def test_golden_results_json() -> None:
    """Every section filled, as a run writes it; the model reads it back to the same document."""
    doc = full_results()
    text = dumps(doc) + "\n"
    check_golden("results.json", text)
    results = results_of(json.loads(text), "results.json")
    assert results.model_dump(mode="json", by_alias=True, exclude_unset=True) == json.loads(text)
    filled = [name for name, value in results if value in (None, [], {})]
    assert filled == ["error"], f"the golden document should fill every section: {filled} are empty"


def test_published_json_schema_matches_the_model() -> None:
    """docs/results.schema.json is generated from the model: regenerate it with the command in the
    module docstring whenever the model changes."""
    published = (REPO / "docs" / "results.schema.json").read_text()
    assert published == json_schema(), "docs/results.schema.json is stale: python3 -m loadorch.results > docs/results.schema.json"
    schema = json.loads(published)
    assert schema["title"] == SCHEMA and schema["additionalProperties"] is False
    assert set(schema["required"]) >= {"run", "histograms", "verdict", "thresholds"}


def _older(doc: dict[str, Any]) -> dict[str, Any]:
    """The document as v1's first release wrote it: later top-level sections and run.tags absent."""
    old = {k: v for k, v in doc.items() if k in FIRST_V1}
    old["run"] = {k: v for k, v in old["run"].items() if k != "tags"}
    for ep in old["endpoints"].values():
        ep.pop("db_queries_per_request", None)
        ep.pop("tags", None)
    old["integrity"] = {k: old["integrity"][k] for k in ("workers_expected", "workers_seen", "workers_lost",
                                                         "generator_cpu_peak")}  # fmt: skip
    return old


def test_an_older_v1_file_still_reads_and_renders() -> None:
    old = _older(json.loads(dumps(full_results())))
    results = results_of(old, "old/results.json")
    assert results.browser is None and results.window is None and results.load is None
    assert results.run.tags == {} and results.integrity.per_worker == []
    assert "full" in markdown(results) and "<html" in render_html(results)


@pytest.mark.parametrize("extra", ["surprise", "run.surprise", "kinds.read.surprise"])
def test_a_field_v1_does_not_have_is_refused(extra: str) -> None:
    doc = json.loads(dumps(full_results()))
    *parents, last = extra.split(".")
    place = doc
    for p in parents:
        place = place[p]
    place[last] = 1
    with pytest.raises(Exception) as info:
        results_of(doc, "r.json")
    assert f"r.json: {extra}: unknown field" in str(info.value)


def test_every_section_is_a_frozen_model() -> None:
    results = results_of(json.loads(dumps(full_results())), "r.json")
    with pytest.raises(Exception, match="frozen"):
        results.run.profile = "other"  # type: ignore[misc]
    assert isinstance(results, Results)


def test_thresholds_are_parsed_once_as_the_file_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """The report's limits, breaches, spectra and sparklines use the rows' parsed thresholds: rendering
    report.html and summary.md parses no threshold text again (it used to, once per chart and endpoint)."""
    import loadorch.config.thresholds as thresholds

    results = results_of(json.loads(dumps(full_results())), "r.json")
    assert all(t.threshold is not None for t in results.thresholds)
    assert str(results.thresholds[0].threshold.selector) == results.thresholds[0].selector  # type: ignore[union-attr]
    calls: list[str] = []

    class Counting:  # parse_selector's pattern, counting its uses (whoever imported parse_selector)
        def match(self, text: str) -> object:
            calls.append(text)
            return real.match(text)

    real = thresholds._SELECTOR
    monkeypatch.setattr(thresholds, "_SELECTOR", Counting())
    assert results_of(json.loads(dumps(full_results())), "r.json") and calls  # the counter counts
    calls.clear()
    html = render_html(results)
    markdown(results)
    assert 'class="limit"' in html and calls == []


def test_a_document_the_model_refuses_is_still_written(tmp_path: Path) -> None:
    """A loadorch bug (the builder writing a field the model lacks) never loses the run's numbers:
    results.json is written as built and the run ends in a run error saying so."""
    from loadorch.errors import RunError
    from loadorch.run.outputs import results_model

    doc = json.loads(dumps(full_results()))
    assert results_model(doc, str(tmp_path)).run.profile == "full" and not (tmp_path / "results.json").exists()
    doc["run"]["new_figure"] = 1
    with pytest.raises(RunError) as info:
        results_model(doc, str(tmp_path))
    assert "a loadorch bug" in str(info.value) and "run.new_figure: unknown field" in str(info.value)
    assert json.loads((tmp_path / "results.json").read_text())["run"]["new_figure"] == 1


def test_a_file_written_by_the_first_v1_release_reads_renders_and_compares(tmp_path: Path) -> None:
    """tests/fixtures/results-v1-first-release.json was written by loadorch's first commit (0854f69, a
    3 s smoke run): today's model reads it, and report and compare work on it."""
    from loadorch.commands.compare import compare_runs
    from loadorch.verdict.compare import Budgets

    text = (REPO / "tests" / "fixtures" / "results-v1-first-release.json").read_text()
    old = results_of(json.loads(text), "v1-first-release.json")
    assert old.run.profile == "smoke" and old.load is None and old.run.tags == {}
    assert "smoke" in markdown(old) and 'id="latency-read"' in render_html(old)
    rows = compare_runs(old, old, Budgets()).rows
    assert rows and not [r for r in rows if r.verdict == "regression"]


def test_a_section_the_model_refuses_while_the_run_builds_it_is_a_run_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """The run builds results.json as the model (report/results.py): a section it refuses there is a
    loadorch bug, said as a run error naming the field (exit 5), never a traceback."""
    from loadorch.errors import RunError
    from loadorch.results import Totals
    from loadorch.run import finish

    monkeypatch.setattr(finish, "_record", lambda *args: object())
    monkeypatch.setattr(finish.results, "build", lambda record: Totals(requests="many", failures=0, rps=0.0))
    from types import SimpleNamespace

    from loadorch.traffic.redact import Redactor

    with pytest.raises(RunError) as info:
        finish._built(SimpleNamespace(redactor=Redactor()), None, None, None)  # type: ignore[arg-type]
    assert "a loadorch bug" in str(info.value) and "results.json: requests: " in str(info.value)
