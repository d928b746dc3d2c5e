"""A run's artifacts: rendered from the results document and written atomically (redacted)."""

from __future__ import annotations

import contextlib
import heapq
import json
import os
import platform
import socket
import sys
from datetime import datetime
from importlib import metadata

import yaml

from loadorch import __version__
from loadorch.config.collectors import Collectors, redacted_dsn
from loadorch.config.resolve import LAYERS, RunConfig
from loadorch.errors import RunError
from loadorch.k8s.framing import FramingError, frame
from loadorch.report.evidence import short_text
from loadorch.report.html import render_html
from loadorch.report.junit import render as render_junit
from loadorch.report.record import RunRecord
from loadorch.report.summary import markdown, terminal
from loadorch.results import Results, ResultsError, results_of
from loadorch.run.artifacts import write_json, write_lines, write_text
from loadorch.run.profiler import read_flamegraphs
from loadorch.traffic.redact import Redactor


def sort_request_log(path: str, out_path: str, redactor: Redactor, chunk_bytes: int = 64 << 20) -> None:
    """requests.jsonl sorted by worker, user, sequence: the order in which runs can be compared.

    Streamed, so memory stays bounded however long the run: runs of at most `chunk_bytes` of lines
    are sorted (and redacted) in memory and written next to `path`, then merged line by line into
    `out_path` (written atomically)."""
    runs: list[str] = []
    try:
        with open(path, encoding="utf-8") as fh:
            while True:
                chunk = fh.readlines(chunk_bytes)
                if not chunk:
                    break
                lines = [line if line.endswith("\n") else line + "\n" for line in chunk if line.strip()]
                lines.sort(key=_log_key)
                run_path = f"{path}.{len(runs)}"
                with open(run_path, "w", encoding="utf-8") as out:
                    out.writelines(redactor.json_lines(line) for line in lines)
                runs.append(run_path)
        files = [open(r, encoding="utf-8") for r in runs]  # noqa: SIM115 (closed below)
        try:
            write_lines(out_path, heapq.merge(*files, key=_log_key))
        finally:
            for fh in files:
                fh.close()
    finally:
        for r in runs:
            with contextlib.suppress(OSError):
                os.unlink(r)


def _log_key(line: str) -> tuple[int, int, int]:
    rec = json.loads(line)
    return rec["worker"], rec["user"], rec["sequence"]


# what travels in the master's log (gzip + base64): never the request log, which can be gigabytes, and
# not report.html or summary.md, which `k8s collect` rebuilds from results.json
LOG_ARTIFACTS = ("results.json", "junit.xml", "config.yaml")


def print_artifacts(out_dir: str, summary_export: str | None = None) -> None:
    """The framed block `loadorch k8s collect` reads back from this process's log (with k6's summary JSON
    when `--summary-export` wrote it into the run folder, as `k8s render --summary-export` asks)."""
    files = {}
    names = list(LOG_ARTIFACTS)
    if summary_export and os.path.dirname(os.path.abspath(summary_export)) == os.path.abspath(out_dir):
        names.append(os.path.basename(summary_export))
    for name in names:
        path = os.path.join(out_dir, name)
        if os.path.exists(path):
            with open(path, "rb") as fh:
                files[name] = fh.read()
    try:
        block = frame(files)
    except FramingError as exc:
        raise RunError(f"cannot hand the artifacts over through the log: {exc}") from None
    sys.stdout.write(block)
    sys.stdout.flush()


def results_model(doc: object, out: str) -> Results:
    """The run's results.json (as built and redacted: a JSON document, checked here) as the model its
    summaries are rendered from. A document the model refuses is a loadorch bug: the run's numbers are not
    lost for it, results.json is written as built and the run ends in a run error that says so (exit 5)."""
    path = os.path.join(out, "results.json")
    try:
        return results_of(doc, path)
    except ResultsError as exc:
        write_json(path, doc)
        raise RunError(
            f"results.json does not match its model (a loadorch bug: please report it); it was written as built, "
            f"the other artifacts were not:\n{exc}"
        ) from None


def write_artifacts(
    out: str,
    junit_path: str | None,
    started: datetime,
    cfg: RunConfig,
    redactor: Redactor,
    doc: object,  # results.json as built (report/results.py) and redacted, a JSON document written as it is
    results: Results,  # the same document as the model the summaries are rendered from
    record: RunRecord,
    summary_export: str | None = None,
) -> None:
    """results.json, junit.xml, summary.md, config.yaml and report.html of one run (redacted)."""
    write_json(os.path.join(out, "results.json"), doc)
    junit = render_junit(
        f"loadorch.{record.profile}",
        started.strftime("%Y-%m-%dT%H:%M:%S"),
        socket.gethostname() or "localhost",
        record.elapsed_s,
        record.thresholds,
        record.checks,
        properties=[
            ("profile", record.profile),
            ("scenario", record.scenario_name),
            ("seed", str(record.seed)),
            ("workers", str(record.workers)),
            ("users", str(record.users)),
            ("verdict", record.verdict),
        ],
        system_out=terminal(results),
        redact=redactor.value,
        evidence=[short_text(row.evidence) for row in results.thresholds],
    )
    write_text(os.path.join(out, "junit.xml"), junit)  # the run folder is complete either way
    if junit_path:
        write_text(junit_path, junit)
    write_text(os.path.join(out, "summary.md"), markdown(results))
    if summary_export:
        from loadorch.report.k6summary import k6_summary

        write_json(summary_export, redactor.keyed(k6_summary(record)))  # names are keys there
    write_text(os.path.join(out, "config.yaml"), effective_config_yaml(cfg, redactor))
    write_text(os.path.join(out, "report.html"), render_html(results, read_flamegraphs(out, results)))


def effective_config_yaml(cfg: RunConfig, redactor: Redactor) -> str:
    """config.yaml: the run's effective configuration and where each value came from (RunConfig's one
    rendering as a document)."""
    doc = {
        "profile": cfg.profile_name,
        "profile_file": cfg.profile_path,
        "scenario_file": cfg.scenario.path,
        "scenario_sha256": cfg.scenario.sha256,
        "host": cfg.host,
        "allowed_hosts": list(cfg.profile.allowed_hosts),
        "headers": redactor.headers(dict(cfg.headers)),
        "load": {
            "users": cfg.users,
            "spawn_rate": cfg.spawn_rate,
            "duration_s": cfg.duration_s,
            "iterations": cfg.iterations,
        },
        "workers": cfg.workers,
        "seed": cfg.seed,
        "min_samples": cfg.min_samples,
        "request_timeout_s": cfg.profile.request_timeout,
        "max_response_body": cfg.profile.max_response_body,
        "worker_connect_timeout_s": cfg.profile.worker_connect_timeout,
        "allow_saturated_generator": cfg.profile.allow_saturated_generator,
        "collectors": _collectors_shown(cfg).model_dump(mode="json"),
        "thresholds": [
            f"{t.selector}: {t.expression}" + (" (abort_on_fail)" if t.abort_on_fail else "") for t in cfg.thresholds
        ],
        "sources": dict(cfg.sources),
        "precedence": " < ".join(LAYERS),
    }
    return yaml.safe_dump(redactor.obj(doc), sort_keys=False, allow_unicode=True)


def _collectors_shown(cfg: RunConfig) -> Collectors:
    """The collectors' settings as config.yaml shows them: the DSN with no user and no password."""
    collectors = cfg.profile.collectors
    if collectors.postgres is None:
        return collectors
    postgres = collectors.postgres.model_copy(update={"dsn": redacted_dsn(collectors.postgres.dsn)})
    return collectors.model_copy(update={"postgres": postgres})


def versions() -> dict[str, str]:
    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "unknown"

    return {"loadorch": __version__, "locust": version("locust"), "python": platform.python_version()}
