"""summary.md tables hold whatever names and messages users and servers produce without breaking."""

from __future__ import annotations

from loadorch.report.summary import markdown
from loadorch.results import Results, results_of

from ..synthetic import synthetic_results


def _doc() -> Results:
    stats = {"kind": "read", "method": "GET", "count": 3, "failures": 1, "rps": 1.0, "min_ms": 1.0, "mean_ms": 1.5,
             "p50_ms": 1.0, "p90_ms": 2.0, "p95_ms": 2.0, "p99_ms": 2.0, "p999_ms": 3.0, "max_ms": 3.0}
    doc = synthetic_results(endpoints=1, seconds=2)
    doc.update({
        "verdict": "fail", "error": None,
        "thresholds": [{"verdict": "fail", "selector": "http_req_duration{name:a|b}", "expression": "p(95)<1",
                        "observed": 2.0, "limit": 1, "unit": "ms", "samples": 3, "error_bound": 0, "message": "m"}],
        "checks": [{"verdict": "error", "name": "run", "message": "got <script>alert(1)</script> | x\nnext line"}],
        "endpoints": {"a|b <img src=x>": stats},
        "expect_checks": [], "errors": [],
    })
    return results_of(doc, "results.json")


def test_pipes_html_and_newlines_in_cells_keep_the_tables_whole() -> None:
    text = markdown(_doc())
    assert "<script>" not in text and "<img" not in text
    assert "&lt;script&gt;" in text and "a\\|b &lt;img src=x&gt;" in text
    for line in text.splitlines():
        if line.startswith("|"):
            cells = line.replace("\\|", "").count("|") - 1
            header = {"selector": 5, "check": 3, "endpoint": 9}
            assert cells in header.values(), line
    assert "next line" in text and "\nnext line" not in text


def test_compare_markdown_escapes_endpoint_names() -> None:
    from loadorch.commands.compare import markdown as compare_markdown
    from loadorch.verdict.compare import Budgets, Comparison, Row

    rows = [Row("endpoint", "a|b <script>x</script>", "p95", 10.0, 20.0, 10.0, 100.0, 0.1, True, "regression")]
    text = compare_markdown(Comparison(rows=rows), "base", "cur", Budgets())
    assert "<script>" not in text and "a\\|b &lt;script&gt;" in text


def test_names_written_as_markdown_links_or_images_stay_text() -> None:
    """An endpoint named `[docs](https://evil.example)` (or an image, or a reference definition) was a link or a
    tracking image in summary.md as GitHub renders it: every `[` is escaped, and every backslash (a name's own
    `\\[` would otherwise undo ours). The same in compare.md."""
    from loadorch.commands.compare import markdown as compare_markdown
    from loadorch.report.markdown import _md
    from loadorch.verdict.compare import Budgets, Comparison, Row

    names = ["[docs](https://evil.example/a)", "![](https://evil.example/pixel.png)", "\\[x](https://evil.example)"]
    doc = _doc()
    stats = doc.endpoints["a|b <img src=x>"]
    doc = doc.model_copy(update={"endpoints": {name: stats for name in names}})
    texts = [markdown(doc), compare_markdown(Comparison(rows=[
        Row("endpoint", name, "p95", 10.0, 20.0, 10.0, 100.0, 0.1, True, "regression") for name in names]),
        "base", "cur", Budgets())]
    for text in texts:
        assert "\\[docs](https://evil.example/a)" in text and "!\\[](https://evil.example/pixel.png)" in text
        assert "\\\\\\[x](https://evil.example)" in text  # the name's backslash shown, its [ still escaped
    assert _md("a \\ b [c] <d>") == "a \\\\ b \\[c] &lt;d&gt;"
