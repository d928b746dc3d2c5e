"""Browser users with Debian's real headless Chromium against the reference shop's storefront.

Two runs of the same scenario and seed share a module fixture: one with the storefront's knobs off,
one with every knob on (late hero, late banner, slow click handler, a request to an outside host).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.project import Project, assert_no_traceback, cli_in_process

from .helpers import finish, processes_started_by, start_run, until

pytestmark = pytest.mark.chromium

SHOP = """
name: shop
data:
  category: {choice: [books, games, toys]}
  sku: {pattern: "SKU-####"}
users:
  - name: api
    think_time: 0.5
    requests:
      - {name: list products, path: "/products?category={category}"}
browsers:
  - name: shopper
    pages: 2
    think_time: 0.3
    journey:
      - {visit: "/shop?category={category}", name: home}
      - {click: "#add-to-cart"}
      - {type: {selector: "#q", text: "{sku}"}}
      - {visit: /cart, name: cart}
thresholds:
  "browser_web_vital_lcp{page:home}": ["p(75)<2500"]
  "browser_web_vital_cls{page:home}": ["p(75)<0.1"]
  "browser_web_vital_inp{page:home}": ["p(75)<500"]
  "http_req_duration{kind:read}": ["p(95)<1000"]
  "http_req_failed": ["rate<0.01"]
min_samples: 3
"""
# the budgets stand far from both runs' values, so a busy machine moves neither across: INP p75<500 between a
# no-op click (tens of ms) and a 1 s click handler; LCP p75<2500 below a 3 s hero
BROKEN = {"hero_ms": 3000, "banner": 1, "click_ms": 1000, "tracker": 1, "frame": 1}
LOST = """\
  - name: stuck
    pages: 1
    think_time: 0.1
    journey:
      - {visit: "/shop?hero_ms={delay}", name: slow, timeout: 4s}
      - {click: "#checkout", timeout: 1s}
"""
LOST_SHOP = SHOP.replace("  sku:", "  delay: {choice: [0, 8000]}\n  sku:").replace("thresholds:", LOST + "thresholds:")


TRACES: dict[str, dict[str, Any]] = {}  # run name -> the trace ids the shop saw (trace id -> method, path)


@pytest.fixture(scope="module")
def shop_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[Project, int]]]:
    """The same seed, knobs off and on: {"ok": (project, exit code), "broken": ...}. The two runs go at once, each
    to a shop of its own (its knobs, its trace ids)."""
    from loadorch.target.server import start

    servers = {name: start() for name in ("ok", "broken")}
    try:
        started = {}
        # each page walks its journey a set number of times (3: at least 3 views of the home page for each
        # vital; 2: the stuck user's two failures), however busy the machine; the HTTP users send as many each
        for name, knobs, iterations in (("ok", {}, 3), ("broken", BROKEN, 2)):
            # the broken run has one more browser user whose steps fail; the shopper's journey is the same
            server = servers[name][0]
            requests.put(f"{server.url}/_knobs", json={"storefront": knobs}, timeout=5).raise_for_status()
            project = Project(tmp_path_factory.mktemp(name))
            project.write("scenarios/s.yaml", SHOP if name == "ok" else LOST_SHOP)
            project.write("profiles/p.yaml", f"""
                scenario: ../scenarios/s.yaml
                host: {server.url}
                load: {{users: 20, iterations: {iterations}}}
                seed: 7
                allow_saturated_generator: true
                """ + ("min_samples: 2\n" if name == "broken" else ""))  # a 3 s hero: fewer page views
            # (the generator's CPU is not these tests' subject: on a busy machine it may wait for a core)
            started[name] = (project, start_run(project, "--out", "o", "--request-log"))
        out = {}
        for name, (project, proc) in started.items():
            stdout, stderr = finish(proc, timeout=120)
            assert "Traceback" not in stdout + stderr, stderr
            out[name] = (project, proc.returncode)
            server = servers[name][0]
            with server.traces_lock:
                TRACES[name] = dict(server.traces)
                server.traces.clear()
        yield out
    finally:
        for server, thread in servers.values():
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)


def _junit(project: Project) -> dict[str, ET.Element]:
    root = ET.parse(project.root / "o" / "junit.xml").getroot()
    return {case.get("name", ""): case for case in root.iter("testcase")}


def _threshold(doc: dict[str, Any], selector: str) -> dict[str, Any]:
    return next(t for t in doc["thresholds"] if t["selector"] == selector)


def test_knobs_off_vitals_pass_beside_http_users_in_one_junit(shop_runs: dict[str, tuple[Project, int]]) -> None:
    project, code = shop_runs["ok"]
    doc = project.results("o")
    assert code == 0, json.dumps([doc["thresholds"], doc["checks"]], indent=1)
    for vital in ("lcp", "cls", "inp"):
        t = _threshold(doc, f"browser_web_vital_{vital}{{page:home}}")
        assert t["verdict"] == "pass" and t["samples"] >= 3, t
    assert doc["totals"]["requests"] > 0 and doc["run"]["users"] == 20
    cases = _junit(project)
    assert {"browser_web_vital_lcp{page:home} p(75)<2500", "http_req_duration{kind:read} p(95)<1000"} <= set(cases)
    assert all(case.find("failure") is None and case.find("error") is None for case in cases.values())
    browser = doc["browser"]
    assert browser["failed_steps"] == 0 and browser["blocked"] == []
    assert set(browser["pages"]) == {"home", "cart"}
    assert "<h2>Browser</h2>" in (project.root / "o" / "report.html").read_text()


def test_page_loads_carry_the_runs_trace_ids_to_the_target(shop_runs: dict[str, tuple[Project, int]]) -> None:
    # the shop's own record of the traceparent it was sent (#30): the browser worker's documents and their
    # subresources carry the run's trace ids (worker field 0xf000 + the browser worker), as the HTTP users' do
    traces = TRACES["ok"]
    pages = {t: e for t, e in traces.items() if int(t[12:16], 16) >= 0xF000}
    api = {t: e for t, e in traces.items() if int(t[12:16], 16) < 0xF000}
    assert api and pages, sorted({e["path"] for e in traces.values()})
    assert {t[:12] for t in pages} == {t[:12] for t in api}  # one run: the same 12 hex digits
    paths = {e["path"] for e in pages.values()}
    assert {"/shop", "/cart", "/static/hero.png"} <= paths, paths
    assert all(e["method"] == "GET" for e in pages.values())
    assert len(pages) == len({t[16:] for t in pages})  # each request its own id


def test_each_broken_vital_fails_naming_page_and_value(shop_runs: dict[str, tuple[Project, int]]) -> None:
    project, code = shop_runs["broken"]
    doc = project.results("o")
    assert code == 1, json.dumps(doc["thresholds"], indent=1)
    lcp = _threshold(doc, "browser_web_vital_lcp{page:home}")
    cls = _threshold(doc, "browser_web_vital_cls{page:home}")
    inp = _threshold(doc, "browser_web_vital_inp{page:home}")
    assert lcp["verdict"] == "fail" and lcp["observed"] >= 3000, lcp
    assert cls["verdict"] == "fail" and cls["observed"] > 0.1 and cls["unit"] == "", cls
    assert inp["verdict"] == "fail" and inp["observed"] >= 1000, inp
    cases = _junit(project)
    for t in (lcp, cls, inp):
        failure = cases[f"{t['selector']} {t['expression']}"].find("failure")
        assert failure is not None
        text = (failure.get("message") or "") + (failure.text or "")
        shown = f"{t['observed']:.4g}" if abs(t["observed"]) < 100 else f"{t['observed']:.1f}"
        assert "page:home" in cases[f"{t['selector']} {t['expression']}"].get("name", "") and shown in text, text
    # the HTTP users' verdicts are in the same junit.xml
    assert cases["http_req_failed rate<0.01"].find("failure") is None


def test_a_request_outside_allowed_hosts_is_blocked_and_reported(shop_runs: dict[str, tuple[Project, int]]) -> None:
    project, _ = shop_runs["broken"]
    doc = project.results("o")
    blocked = doc["browser"]["blocked"]
    urls = {b["url"] for b in blocked}
    # the page's own image, and one from a cross-site frame (a target of its own, guarded too)
    assert urls == {"http://tracker.invalid/pixel.gif", "http://tracker.invalid/frame-pixel.gif"}, blocked
    assert {b["page"] for b in blocked} >= {"home", "cart"}
    network = next(c for c in doc["checks"] if c["name"] == "browser network")
    assert network["verdict"] == "fail" and "tracker.invalid" in network["message"]
    assert "tracker.invalid" in (project.root / "o" / "summary.md").read_text()


def test_failed_steps_are_failed_samples_naming_the_step(shop_runs: dict[str, tuple[Project, int]]) -> None:
    project, _ = shop_runs["broken"]
    browser = project.results("o")["browser"]
    reasons = {f["reason"] for f in browser["failures"]}
    assert all(f["user"] == "stuck" for f in browser["failures"]), browser["failures"]
    # seed 7 draws delays 0, 8000, 0, ...: an element that is not there, then (the journey goes on with its
    # next iteration) a navigation timeout
    assert any(r.startswith("step 1 (slow): navigation to http") and "timed out after 4s" in r for r in reasons), reasons
    assert any(r.startswith("step 2 (click #checkout): no visible element matches '#checkout'") for r in reasons), reasons
    assert browser["pages"]["slow"]["failed_steps"] >= 2


def test_the_same_seed_gives_the_same_journey_data_in_the_same_order(
    shop_runs: dict[str, tuple[Project, int]],
) -> None:
    def steps(project: Project) -> dict[tuple[str, int, int, int], tuple[str, str | None]]:
        rows = [json.loads(line) for line in (project.root / "o" / "browser-steps.jsonl").read_text().splitlines()]
        return {(r["user"], r["page"], r["iteration"], r["step"]): (r["target"], r["text"]) for r in rows}

    ok, broken = steps(shop_runs["ok"][0]), steps(shop_runs["broken"][0])
    common = sorted(set(ok) & set(broken))
    assert len({(k[1], k[2]) for k in common}) >= 2  # at least two page iterations to compare
    assert [ok[k] for k in common] == [broken[k] for k in common]
    typed = [ok[k][1] for k in common if ok[k][1] is not None]
    assert typed and all(t.startswith("SKU-") for t in typed)
    assert len({ok[k][0] for k in common if k[3] == 1}) >= 1




def _chromium_pids(marker: str) -> list[int]:
    """Live Chromium processes whose command line contains `marker` (the test's temporary directory)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{entry}/stat", "rb") as fh:
                state = fh.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if "chromium" in cmd and marker in cmd and state != b"Z":
            found.append(int(entry))
    return found


def _browser_worker(controller: int, index: int) -> int | None:
    for pid in processes_started_by(controller):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read()
            with open(f"/proc/{pid}/environ", "rb") as fh:
                env = fh.read().split(b"\0")
        except OSError:
            continue
        if b"loadorch.browser" in cmd and f"LOADORCH_BROWSER_INDEX={index}".encode() in env:
            return pid
    return None


def _parents() -> dict[int, int]:
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as fh:
                    out[int(entry)] = int(fh.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    return out


def _chromium_of(marker: str, worker: int, renderer: bool = False) -> list[int]:
    """Chromium processes descending from the browser worker process `worker` (Chromium clears its
    children's environment, so the process tree tells whose they are)."""
    parents, mine = _parents(), {worker}
    for _ in range(6):
        mine |= {pid for pid, parent in parents.items() if parent in mine}
    pids = [p for p in _chromium_pids(marker) if p in mine]
    return [p for p in pids if not renderer or b"--type=renderer" in _cmdline(p)]


def _cmdline(pid: int) -> bytes:
    """A process's command line, empty once it has ended (a renderer may exit between the listing and the read)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def test_a_killed_browser_worker_and_sigint_leave_no_chromium(project: Project, tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    project.write("scenarios/s.yaml", SHOP)
    project.write("profiles/p.yaml", """
        scenario: ../scenarios/s.yaml
        host: embedded
        load: {users: 2, duration: 60s}
        browser_workers: 2
        """)
    proc = start_run(project, "--out", "o", env={"TMPDIR": str(scratch)})
    marker = str(scratch)
    try:
        assert until(lambda: _browser_worker(proc.pid, 0) and _browser_worker(proc.pid, 1), 60, every=0.1), "no browser workers"
        first, crashed = _browser_worker(proc.pid, 0), _browser_worker(proc.pid, 1)
        assert first is not None and crashed is not None
        assert until(lambda: _chromium_of(marker, first, True) and _chromium_of(marker, crashed, True), 90, every=0.1), "no pages"
        doomed = _chromium_of(marker, crashed)
        os.kill(crashed, signal.SIGKILL)  # a crash: its Chromium must not outlive it
        assert until(lambda: not set(doomed) & set(_chromium_pids(marker)), 15, every=0.1), doomed
        time.sleep(2)  # worker 0 goes on measuring
        proc.send_signal(signal.SIGINT)
        out, err = finish(proc, timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out + err
    assert until(lambda: not _chromium_pids(marker), 15, every=0.1), _chromium_pids(marker)
    doc = project.results("o")
    assert doc["verdict"] == "interrupted" and "browser" in doc
    assert (project.root / "o" / "junit.xml").exists() and (project.root / "o" / "report.html").exists()
    workers = next(c for c in doc["checks"] if c["name"] == "browser workers")
    assert workers["verdict"] == "error" and "[1]" in workers["message"]
    # the run's scratch folder, and the Chromium profiles in it, are gone
    assert not [p for p in scratch.iterdir() if p.name.startswith(("loadorch-run-", "loadorch-chromium-"))]


def test_no_chromium_is_exit_5_before_any_load(project: Project) -> None:
    project.write("scenarios/s.yaml", SHOP)
    project.write("profiles/p.yaml", "scenario: ../scenarios/s.yaml\nhost: embedded\nload: {users: 2, duration: 5s}\n")
    result = project.run("run", "p", "--out", "o", env={"PATH": "/nonexistent", "LOADORCH_CHROMIUM": ""})
    assert result.code == 5, result.out + result.err
    text = result.out + result.err
    assert "apt-get install chromium" in text and "LOADORCH_CHROMIUM" in text
    assert_no_traceback(result)
    assert project.results("o")["totals"]["requests"] == 0


LIGHTHOUSE_SCENARIO = """
name: api only
users:
  - name: api
    think_time: 0.2
    requests:
      - {name: health, path: /health}
"""


def _lighthouse_project(project: Project, files: str, thresholds: dict[str, str]) -> None:
    """The Lighthouse tests' scenario and profile: the embedded target, two users twice, `files` read."""
    project.write("scenarios/s.yaml", LIGHTHOUSE_SCENARIO)
    gates = "".join(f'  "{selector}": ["{expression}"]\n' for selector, expression in thresholds.items())
    project.write("profiles/p.yaml", "scenario: ../scenarios/s.yaml\nhost: embedded\n"
                  f"load: {{users: 2, iterations: 2}}\nmin_samples: 1\nlighthouse: [{files}]\nthresholds:\n{gates}")


def test_lighthouse_results_pass_and_fail_as_configured(project: Project) -> None:
    fixture = Path(__file__).resolve().parent.parent / "fixtures" / "lighthouse" / "lhr-shop.json"
    shutil.copy(fixture, project.root / "profiles" / "lhr-shop.json")
    _lighthouse_project(project, "lhr-shop.json", {
        "lighthouse_audit{id:largest-contentful-paint}": "max<2500",
        "lighthouse_audit{id:cumulative-layout-shift}": "max<0.1",
        "lighthouse_score{category:performance}": "min>=0.9",
        "browser_resource_bytes{type:script}": "max<300000",
        "browser_resource_count{type:total}": "max<20",
    })
    result = project.run("run", "p", "--out", "o")
    doc = project.results("o")
    assert result.code == 1, result.out + result.err
    verdicts = {t["selector"]: (t["verdict"], t["observed"]) for t in doc["thresholds"]}
    assert verdicts["lighthouse_audit{id:largest-contentful-paint}"] == ("pass", pytest.approx(2310.8, rel=1e-3))
    assert verdicts["lighthouse_audit{id:cumulative-layout-shift}"] == ("pass", pytest.approx(0.062, rel=1e-3))
    assert verdicts["lighthouse_score{category:performance}"] == ("fail", pytest.approx(0.82, rel=1e-3))
    # its resource-summary audit, read into the page-weight names
    assert verdicts["browser_resource_bytes{type:script}"] == ("fail", pytest.approx(402117, rel=1e-3))
    assert verdicts["browser_resource_count{type:total}"] == ("pass", 14)
    cases = {c.get("name"): c for c in ET.parse(project.root / "o" / "junit.xml").getroot().iter("testcase")}
    assert cases["lighthouse_score{category:performance} min>=0.9"].find("failure") is not None
    # a listed file that is not a Lighthouse result is a configuration error before any load
    (project.root / "profiles" / "lhr-shop.json").write_text('{"not": "lighthouse"}')
    bad = cli_in_process("validate", "profiles/p.yaml", cwd=project.root)
    assert bad.code == 3 and "p.yaml:" in bad.out + bad.err and "lighthouse" in bad.out + bad.err


def test_failing_lighthouse_gates_carry_their_evidence_in_every_artifact(project: Project) -> None:
    """issue 30: an LCP gate and a script-bytes gate read from two Lighthouse runs fail with the element, its
    phases and the heaviest scripts of the file that decided them; no URL's token reaches an artifact."""
    fixtures = Path(__file__).resolve().parent.parent / "fixtures" / "lighthouse"
    shutil.copy(fixtures / "lhr-v12-home.json", project.root / "profiles" / "lhr-1.json")
    shutil.copy(fixtures / "lhr-v10-home.json", project.root / "profiles" / "lhr-2.json")
    _lighthouse_project(project, "lhr-*.json", {
        "lighthouse_audit{id:largest-contentful-paint}": "max<2500",
        "browser_resource_bytes{type:script}": "max<300000",
        "lighthouse_audit{id:first-contentful-paint}": "max<5000",
    })
    result = project.run("run", "p", "--out", "o")
    assert result.code == 1, result.out + result.err
    assert_no_traceback(result)
    doc = project.results("o")
    lcp = _threshold(doc, "lighthouse_audit{id:largest-contentful-paint}")
    assert lcp["verdict"] == "fail"
    ev = lcp["evidence"]["lighthouse"]
    assert (ev["file"], ev["files"], ev["role"]) == ("lhr-1.json", 2, "at the gate's value")  # 3400 ms, not 2980
    assert ev["lcp_element"]["selector"] == "main > div.hero > img.hero-image"
    assert [p["phase"] for p in ev["lcp_phases"]] == ["TTFB", "Load Delay", "Load Time", "Render Delay"]
    scripts = _threshold(doc, "browser_resource_bytes{type:script}")["evidence"]["lighthouse"]
    assert [r["transfer"] for r in scripts["resources"]] == [241337, 98120, 62660]
    assert scripts["resources"][2]["url"] == "https://cdn.tracker.example.net/t.js?key=***&v=3"
    assert _threshold(doc, "lighthouse_audit{id:first-contentful-paint}").get("evidence") is None  # it passed
    cases = _junit(project)
    failure = cases["lighthouse_audit{id:largest-contentful-paint} max<2500"].find("failure")
    assert failure is not None
    text = (failure.text or "") + failure.get("message", "")
    assert "Lighthouse lhr-1.json" in text and "LCP element main > div.hero > img.hero-image" in text
    assert "Load Delay 1240" in text
    bytes_failure = cases["browser_resource_bytes{type:script} max<300000"].find("failure")
    assert bytes_failure is not None and "vendor.4f2a.js" in (bytes_failure.text or "")
    summary = (project.root / "o" / "summary.md").read_text()
    assert "What the Lighthouse result says" in summary and "Render Delay 567" in summary
    assert "resource 61.2 KiB Script https://cdn.tracker.example.net/t.js?key=***&amp;v=3" in summary
    report = (project.root / "o" / "report.html").read_text()
    assert "What the Lighthouse result says" in report and "img.hero-image" in report
    for name in ("results.json", "summary.md", "junit.xml", "report.html"):
        written = (project.root / "o" / name).read_text()
        assert not any(s in written for s in ("SECRETTOKEN123", "SECRETSESSION9", "SECRETKEY77", "SECRETSIG42")), name
