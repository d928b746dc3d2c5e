"""`loadorch report RUN_DIR`: rebuild report.html and summary.md from a run's results.json."""

from __future__ import annotations

import os

from loadorch.errors import ConfigError, ExitCode, Problem
from loadorch.report.html import render_html
from loadorch.report.summary import markdown
from loadorch.results import Results, parse_results
from loadorch.run.artifacts import write_text
from loadorch.run.profiler import read_flamegraphs


def load_results(run_dir: str) -> Results:
    """A run folder's results.json; a missing, unreadable, malformed or foreign file is a configuration
    error naming the file and each field that is wrong (exit 3), never an internal error."""
    path = os.path.join(run_dir, "results.json")
    try:
        with open(path, "rb") as fh:
            text = fh.read()
    except OSError as exc:
        raise ConfigError([Problem(path, None, "", f"cannot read results: {exc.strerror}")]) from None
    return parse_results(text, path)


def rebuild(run_dir: str) -> int:
    doc = load_results(run_dir)
    write_text(os.path.join(run_dir, "report.html"), render_html(doc, read_flamegraphs(run_dir, doc)))
    write_text(os.path.join(run_dir, "summary.md"), markdown(doc))
    print(f"wrote {os.path.join(run_dir, 'report.html')} and summary.md")
    return ExitCode.OK
