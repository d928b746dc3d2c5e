"""Text a target or a scenario controls, through the real writers, read back by real parsers (html.parser, json,
the Prometheus text formats, the GitHub Actions runner's command rules, Markdown's code spans, links and tables):
it stays data. Sources: response bodies, failure reasons, page URLs, trace links, paths, names; sinks: the
terminal summary, summary.md, compare.md, report.html, results.json, compare.json, the workflow commands."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from loadorch.report import gha
from loadorch.report.summary import markdown, terminal
from loadorch.results import Results, results_of
from loadorch.run.artifacts import dumps
from tests.synthetic import full_results, synthetic_results

ERROR_PAGE = ("503 <html>\r\n<head><title>503</title></head>\r\n<body>\r\n::warning::from the target\r\n"
              "##[add-mask]ep-000\r\n\x1b]0;retitled\x07\x1b[2Jgone</body></html>")
# the commands the runner knows (actions/runner: the command extensions and stop-commands)
REGISTERED = {"set-env", "set-output", "save-state", "add-mask", "add-path", "add-matcher", "remove-matcher", "debug",
              "warning", "error", "notice", "group", "endgroup", "echo", "stop-commands"}


def _unescape(text: str, prop: bool) -> str:
    for escaped, char in ((("%3A", ":"), ("%2C", ",")) if prop else ()) + (("%0D", "\r"), ("%0A", "\n"), ("%25", "%")):
        text = text.replace(escaped, char)
    return text


def runner_commands(output: str) -> list[tuple[str, dict[str, str], str]]:
    """The workflow commands the GitHub Actions runner reads in `output`, by its rules (ActionCommand.cs): lines end
    at CR, LF or CRLF; a line that starts with `::` after spaces is a command, and so is one that holds `##[`
    anywhere (the legacy form); `::stop-commands::TOKEN` reads none but `::TOKEN::` until that resumes them."""
    out: list[tuple[str, dict[str, str], str]] = []
    token = None
    for line in re.split(r"\r\n|\r|\n", output):
        found = None
        start = line.lstrip()
        if start.startswith("::") and (end := start.find("::", 2)) >= 0:
            name, _, props = start[2:end].partition(" ")
            pairs = (p.partition("=") for p in props.split(",") if "=" in p)
            found = (name, {k: _unescape(v, True) for k, _, v in pairs}, _unescape(start[end + 2:], False))
        elif (at := line.find("##[")) >= 0 and (close := line.find("]", at)) >= 0:
            found = (line[at + 3:close].split(" ")[0], {}, line[close + 1:])
        if found is None:
            continue
        if token is not None:
            token = None if found[0] == token else token
        elif found[0] == "stop-commands":
            token = found[2]
        elif found[0] in REGISTERED:
            out.append(found)
    return out


def _error_page_run() -> Results:
    doc = json.loads(dumps(synthetic_results(endpoints=2, seconds=3)))
    doc["errors"] = [{"name": "ep-000", "kind": "read", "status": 503, "reason": "status 503", "count": 3,
                      "example": ERROR_PAGE}]
    doc["expect_checks"] = [{"user": "u", "name": "ep-001", "check": "contains", "passes": 0, "fails": 2, "rate": 0.0,
                             "example": ERROR_PAGE}]
    return results_of(doc, "results.json")


def test_the_terminal_summary_shows_a_servers_page_on_one_line_a_row_and_no_escape_sequence_of_it() -> None:
    """An error page's lines made a table row of many lines (a reverse proxy's 502 page does), its escape sequences
    reached the terminal (and the CI log) as they were, and a line of it starting with `::` was a workflow
    command in GitHub Actions: every cell is now one line, with control characters shown as escapes."""
    text = terminal(_error_page_run())
    errors = text.split("top errors\n", 1)[1].split("\n\n", 1)[0].splitlines()
    checks = text.split("failing checks:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert len(errors) == 3 and len(checks) == 3  # the head, its rule and the one row
    assert "::warning::from the target" in errors[2] and "\\x1b]0;retitled\\x07\\x1b[2Jgone" in errors[2]
    assert "503 <html> <head>" in checks[2]
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f]", text)
    assert not [line for line in text.splitlines() if line.lstrip().startswith("::")]


def test_in_github_actions_the_runner_reads_our_annotations_and_not_what_the_target_said() -> None:
    """The runner takes `##[add-mask]...` anywhere in a line as a command: the summary printed around our own
    annotations is read with commands stopped (gha.quiet), so only ours are commands."""
    doc = _error_page_run()
    failing = [t for t in doc.thresholds if t.verdict == "fail"]
    printed = gha.threshold_commands(failing, {}, {}) + gha.quiet(terminal(doc))
    assert [c[0] for c in runner_commands(terminal(doc))] == ["add-mask", "add-mask"]  # what quiet() is for
    assert [c[0] for c in runner_commands(printed)] == ["error"] * len(failing) and failing
    assert "##[add-mask]ep-000" in printed  # shown, not acted on


@pytest.mark.parametrize("text", [
    "p(95) %0A::add-mask::x", "a\r\n::warning::x", "a\n##[error]x", "50%25 ,line=1,title=x::y", "a:b,c=d %",
])
def test_an_annotation_holds_any_message_and_file_as_written(text: str) -> None:
    """report/gha.py's escaping (data: % CR LF; properties: also : and ,) read back by the runner's rules."""
    [(name, props, data)] = runner_commands(gha.error_command(f"breached: {text}", f"scenarios/{text}.yaml", 7, text))
    assert (name, props, data) == ("error", {"file": f"scenarios/{text}.yaml", "line": "7", "title": text},
                                   f"breached: {text}")


def test_k8s_collect_in_github_actions_prints_the_runs_summary_with_commands_stopped(
        tmp_path: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """`loadorch k8s collect` prints the collected run's summary as the run does: in GitHub Actions the target's
    `##[add-mask]` in an error page was a command there too."""
    from loadorch.cli import main
    from loadorch.k8s.framing import frame

    doc = json.loads(dumps(synthetic_results(endpoints=2, seconds=3)))
    doc["errors"] = [{"name": "ep-000", "kind": "read", "status": 503, "reason": f"status 503 {ERROR_PAGE}", "count": 3}]
    log = tmp_path / "master.log"
    log.write_text(frame({"results.json": json.dumps(doc).encode()}))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert main(["k8s", "collect", str(log), "--out", str(tmp_path / "collected")]) == doc["exit_code"]
    out = capsys.readouterr().out
    assert "##[add-mask]ep-000" in out and runner_commands(out) == []


def _md_outside_code(md: str) -> str:
    """`md` without its fenced blocks, code spans and autolinks (CommonMark: a code span ends at the next run of
    as many backticks as opened it; an autolink is `<scheme:...>` without spaces, `<` or `>`): what is read as
    Markdown and HTML."""
    md = re.sub(r"(?ms)^```.*?^```$", "", md)
    md = re.sub(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", "", md)
    return re.sub(r"<[A-Za-z][A-Za-z0-9+.-]{1,31}:[^<>\s]*>", "", md)


def _unescaped_markup(md: str) -> list[str]:
    """Raw HTML tags and links or images (`[x](...)`, `![](...)`) that Markdown would make of `md`."""
    rest = _md_outside_code(md)
    return re.findall(r"<[A-Za-z/!?][^>]*>", rest) + re.findall(r"(?<!\\)\[[^\]\n]*\]\(", rest)


def _columns(md: str) -> set[int]:
    """The cell count of each table line (a `|` escaped as `\\|` is inside a cell)."""
    return {len(re.findall(r"(?<!\\)\|", line)) for line in md.splitlines() if line.startswith("|")}


def test_summary_md_shows_the_browser_sections_pages_urls_and_reasons_as_text() -> None:
    """The Browser section of summary.md was written raw: a URL a page asked for outside allowed_hosts (the target's
    markup chooses it) with `[...](...)` or `![](...)` in it was a link or an image on the job's summary page, a
    failed step's reason was HTML, and a page name with `|` or a newline broke the vitals table."""
    doc = json.loads(dumps(full_results()))
    browser = doc["browser"]
    browser["pages"]["a|b\n<img src=x>"] = browser["pages"]["home"]
    browser["blocked"] = [{"page": "home", "url": "https://ads.example/[win](https://evil.example)![](https://evil.example/p.png)",
                           "count": 2}]
    browser["failures"][0]["reason"] = "timeout <img src=https://evil.example/p.png> | [x](https://evil.example)"
    text = markdown(results_of(doc, "results.json"))
    section = text.split("### Browser", 1)[1].split("\n### ", 1)[0]
    assert _unescaped_markup(section) == [] and len(_columns(section.split("Page weight")[0])) == 1
    assert "https://ads.example/\\[win](https://evil.example)!\\[](https://evil.example/p.png)" in section
    assert "a\\|b &lt;img src=x&gt;" in section


def test_a_trace_link_is_one_autolink_in_summary_md_and_compare_md() -> None:
    """A trace link (the profile's `trace.url`, or a results.json's from elsewhere) was written bare: Markdown read
    `[x](https://...)` or `![](...)` inside it as a link or an image of its own. It is now an autolink."""
    from loadorch.report.compare_evidence import markdown_part, regressions_evidence
    from loadorch.verdict.compare import Row

    doc = json.loads(dumps(full_results()))
    slowest = doc["thresholds"][-1]["evidence"]["slowest"]
    for s in slowest:
        s["trace_url"] = f"https://tempo.example/trace/{s['trace_id']}/[docs](https://evil.example)/![](https://evil.example/p.png)"
    model = results_of(doc, "results.json")
    summary = markdown(model)
    compare = "\n".join(markdown_part(regressions_evidence(model, model, [
        Row("endpoint", "order", "p95", 10.0, 30.0, 20.0, 200.0, 0.1, True, "regression")])))
    for text in (summary, compare):
        assert _unescaped_markup(text) == [] and "<https://tempo.example/trace/" in text


def test_compare_md_shows_a_run_folders_path_as_written() -> None:
    """The baseline's and current run's folders were in one-backtick code spans: a backtick in a path ended the
    span, and the rest was Markdown and HTML (`<img src=x onerror=...>`)."""
    from loadorch.commands.compare import markdown as compare_markdown
    from loadorch.verdict.compare import Budgets, Comparison

    base, cur = "runs/a`<img src=x onerror=alert(1)>`", "runs/``[x](https://evil.example)\nb"
    text = compare_markdown(Comparison(rows=[]), base, cur, Budgets())
    assert _unescaped_markup(text) == ["<details>", "<summary>", "</summary>", "</details>"]  # its own
    assert "baseline `` runs/a`<img src=x onerror=alert(1)>` `` -> current" in text and "current ```runs/``[x](https://evil.example) b```;" in text


LONE = "\ud83d"  # a string cut inside an emoji (JavaScript's slice): JSON writes it as the escape \ud83d


def _lone_surrogate_run() -> dict[str, Any]:
    """A results.json an earlier loadorch wrote (its JSON escaped what a page or a server said): a lone surrogate
    in an endpoint name, an error's example, a trace link and a page's LCP element and blocked URL."""
    doc = json.loads(dumps(full_results()))
    doc["endpoints"][f"caf{LONE}"] = doc["endpoints"].pop("order")
    doc["errors"][0]["example"] = f'503 {{"name": "caf{LONE}"}}'
    slowest = doc["thresholds"][-1]["evidence"]["slowest"]
    slowest[0]["trace_url"] = f"https://tempo.example/trace/{LONE}"
    doc["thresholds"][-1]["evidence"]["browser"] = {"metric": "browser_web_vital_lcp", "unit": "ms", "views": [
        {"role": "p(75)", "value": 1.0, "page": "home", "user": "visitor", "at_s": 1.0,
         "lcp": {"element": f"img#hero-{LONE}", "url": "", "ttfb": 1, "load_delay": 1, "load_duration": 1,
                 "render_delay": 1}}]}
    doc["browser"]["blocked"] = [{"page": "home", "url": f"https://ads.example/{LONE}", "count": 1}]
    return doc


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def test_results_json_holds_no_lone_surrogate_escape() -> None:
    """`"\\ud83d"` alone is an escape strict JSON parsers refuse (serde_json: "lone leading surrogate"): results.json
    writes U+FFFD in its place, as junit.xml does."""
    text = dumps(_lone_surrogate_run())
    back = json.loads(text)
    assert "\\ud83d" not in text and "caf\ufffd" in back["endpoints"]
    for s in _strings(back):
        s.encode("utf-8")  # strict: a lone surrogate cannot be encoded


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)


def test_report_and_compare_write_every_artifact_of_a_run_with_lone_surrogates(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A lone surrogate (a page's LCP element, a blocked URL, a trace link, an endpoint name) made `loadorch report`
    and `loadorch compare` an internal error (exit 5), report.html and summary.md unwritten: no UTF-8 writes it.
    Files write it as U+FFFD, standard output as its escape."""
    from loadorch.cli import main

    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").write_text(json.dumps(_lone_surrogate_run()))  # as the earlier dumps wrote it: escaped
    assert main(["report", str(run)]) == 0
    html, md = ((run / name).read_bytes().decode("utf-8") for name in ("report.html", "summary.md"))
    parser = _Tags()
    parser.feed(html)
    assert "main" in parser.tags and "img#hero-\ufffd" in html and f"caf{chr(0xfffd)}" in md
    code = main(["compare", str(run), str(run), "--out", str(tmp_path / "cmp")])
    compared = json.loads((tmp_path / "cmp" / "compare.json").read_bytes().decode("utf-8"))
    assert code == 6 and compared["verdict"] == "inconclusive"  # the small run's few samples: not an internal error
    assert any(r["name"] == "caf\ufffd" for r in compared["rows"])
    for name in ("compare.md", "compare.html", "compare-junit.xml"):
        (tmp_path / "cmp" / name).read_bytes().decode("utf-8")
    assert "caf\\ud83d" in capsys.readouterr().out  # compare.md on standard output


NAME = 'say "hi"\\n {{ $labels.x }}\nnext, a=b} | <img>'  # a quote, a backslash and n, a template, a line break
DESC = 'hit "cold" \\ path\t'  # a Server-Timing desc (quoted-string: any quote and backslash it escaped)


@pytest.mark.parametrize("accept", ["text/plain", "application/openmetrics-text; version=1.0.0"])
def test_the_metrics_endpoint_keeps_names_and_descs_as_label_values(accept: str) -> None:
    """/metrics in both formats read back by prometheus-client's own parsers: an endpoint name, a threshold and
    a Server-Timing desc are label values as written (`\\`, `"` and the line break escaped), nothing more."""
    from prometheus_client.openmetrics.parser import text_string_to_metric_families as read_openmetrics
    from prometheus_client.parser import text_string_to_metric_families as read_text

    from loadorch.metrics.exposition import metrics_app
    from loadorch.metrics.families import Gauges, build
    from loadorch.metrics.names import edges_us
    from loadorch.stats.tables import Merged, Recorder, SeriesKey
    from loadorch.verdict.evaluate import ThresholdResult

    rec = Recorder(1.0, 0.0)
    key = SeriesKey("u", NAME, "read", "GET", 200, True)
    rec.record(key, 1000, 0.5)
    rec.record_server_timing(key, [("cache", 1.0, DESC)], 0.5)
    merged = Merged(1.0)
    merged.add_delta(0, rec.take_delta())
    threshold = ThresholdResult(f"http_req_duration{{name:{NAME}}}", "p(95)<300", 1.0, 300.0, "ms", 1, 0.0, "pass", "")
    families = build(("r", "p", "s"), merged, edges_us([300.0]), Gauges(), [threshold])
    replies: list[str] = []
    body = b"".join(metrics_app(lambda: families)(
        {"REQUEST_METHOD": "GET", "PATH_INFO": "/metrics", "QUERY_STRING": "", "HTTP_ACCEPT": accept,
         "wsgi.url_scheme": "http", "SERVER_NAME": "localhost", "SERVER_PORT": "80"},
        lambda status, headers: replies.append(status)))
    read = read_openmetrics if "openmetrics" in accept else read_text
    labels = [s.labels for f in read(body.decode("utf-8")) for s in f.samples]
    assert replies == ["200 OK"] and labels
    assert {lab.get("name") for lab in labels} >= {NAME} and {lab.get("desc") for lab in labels} >= {DESC}
    assert {lab.get("threshold") for lab in labels} >= {f"http_req_duration{{name:{NAME}}} p(95)<300"}
    assert {lab["run_id"] for lab in labels} == {"r"}  # no label value ran into another series' labels
