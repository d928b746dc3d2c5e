"""The real Prometheus (Debian's `prometheus` package) for tests: loopback port, temp config and storage."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support import tools


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Prometheus:
    def __init__(self, url: str) -> None:
        self.url = url

    def api(self, path: str, **params: Any) -> Any:
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=10) as resp:
            doc = json.load(resp)
        assert doc["status"] == "success", doc
        return doc["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        return list(self.api("query", query=expr, time=at)["result"])

    def value(self, expr: str, at: float | None = None) -> float:
        result = self.query(expr, at)
        assert len(result) == 1, (expr, result)
        return float(result[0]["value"][1])

    def final_time(self, run_id: str, since: float, settle_s: float = 5.0) -> float:
        """The last evaluation time at which the run's final values (run_finished == 1) are visible: an instant
        already past, never one after now. (It once ended a step past now, and a staleness marker Prometheus
        wrote a moment later, when a scrape found the run gone, hid the values at that instant.)"""
        series = f'loadorch_run_finished{{run_id="{run_id}"}}'
        # first the scrape that finds the run gone (bounded: a pushed run gets no staleness marker), so the
        # final sample is a scrape interval in the past and the evaluation points up to now cover it
        deadline = time.monotonic() + settle_s
        while self.query(series) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)
        data = self.api("query_range", query=f"{series} == 1", start=since, end=time.time(), step=1)
        assert data["result"], f"no final values of run {run_id} reached Prometheus"
        return float(data["result"][0]["values"][-1][0])


@contextmanager
def prometheus(scrape_port: int, rules: Path | None = None) -> Iterator[Prometheus]:
    """Prometheus on a free loopback port scraping 127.0.0.1:`scrape_port` every second, with the
    remote-write receiver on (and `rules`, a rules file, evaluated every second); stopped and its storage
    removed at the end."""
    tools.require("prometheus")
    binary = str(shutil.which("prometheus"))
    root = Path(tempfile.mkdtemp(prefix="loadorch-prometheus-"))
    port = free_port()
    (root / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}\n"
        + (f"rule_files: ['{rules}']\n" if rules is not None else "")
        + "scrape_configs:\n"
        "  - job_name: loadorch\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{scrape_port}']}}]\n")
    log = open(root / "prometheus.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([binary, f"--config.file={root / 'prometheus.yml'}",
                             f"--storage.tsdb.path={root / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
                             "--web.enable-remote-write-receiver", "--storage.tsdb.retention.time=1h"],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            assert proc.poll() is None, (root / "prometheus.log").read_text()
            assert time.monotonic() < deadline, "prometheus did not become ready"
            time.sleep(0.2)
        yield Prometheus(url)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()
        shutil.rmtree(root, ignore_errors=True)
