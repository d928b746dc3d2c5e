"""A target whose answers hold what no writer expects, in a whole run: JSON with a lone surrogate (a string a
JavaScript backend cut inside an emoji), an error page with workflow commands and escape sequences in it. The
worker's reports still arrive, and in GitHub Actions the runner reads no command of the target's."""

from __future__ import annotations

import json

from tests.support.project import Project, assert_no_traceback
from tests.unit.test_hostile_text import runner_commands

from .test_trust_runs import Site, ok

CUT_JSON = b'{"name": "caf\\ud83d", "n": 1}'  # JSON.stringify of "caf\ud83d": the escape of a lone surrogate
PAGE = (b"<html>\r\n<body>\r\n::warning::written by the target\r\n##[add-mask]page\r\n"
        b"\x1b]0;retitled\x07\x1b[2J</body></html>")
SCENARIO = """\
name: s
users:
  - name: a
    requests: [{name: cut, path: /cut, expect: {json: {"$.name": "cafe"}}}]
  - name: b
    requests: [{name: page, path: /page, expect: {contains: welcome}}]
"""


def test_a_lone_surrogate_and_an_error_page_from_the_target_stay_data(project: Project) -> None:
    """A failed `expect.json` check on `"caf\\ud83d"` put the lone surrogate into the worker's report, which could
    not encode it: every report of that worker was lost (0 requests, `no data`). And the summary printed the
    target's page as it was: `##[add-mask]` in it was a workflow command in GitHub Actions (the runner reads `##[`
    anywhere in a line), its escape sequences reached the log."""
    site = Site({"/cut": ok(CUT_JSON, headers={"Content-Type": "application/json"}),
                 "/page": ok(PAGE, 503, {"Content-Type": "text/html"})})
    try:
        project.write("scenarios/s.yaml", SCENARIO)
        project.write("profiles/p.yaml", f"scenario: ../scenarios/s.yaml\nhost: http://127.0.0.1:{site.port}\n"
                                         "load: {users: 2, iterations: 3}\nworkers: 1\nmin_samples: 1\n")
        r = project.run("run", "p", "--out", "o", env={"GITHUB_ACTIONS": "true"})
    finally:
        site.close()
    assert r.code == 1, r.out + r.err  # every request failed its check: a breach, measured
    assert_no_traceback(r)
    doc = project.results("o")
    assert doc["endpoints"]["cut"]["count"] == 3 and doc["endpoints"]["page"]["count"] == 3
    [cut] = [e for e in doc["errors"] if e["name"] == "cut"]
    assert cut["example"] == 'expected "cafe" (str), got "caf\\ud83d" (str)'  # the JSON as the server wrote it
    commands = runner_commands(r.out)
    assert commands and {name for name, _, _ in commands} == {"error"}, commands  # our annotations, nothing else
    assert all(data.startswith("threshold ") for _, _, data in commands)
    assert "##[add-mask]page" in r.out and "\x1b" not in r.out and "\\x1b]0;retitled\\x07" in r.out
    summary = (project.root / "o" / "summary.md").read_bytes().decode("utf-8")
    assert "caf\\\\ud83d" in summary  # the escape shown (its backslash escaped in Markdown)
    json.loads((project.root / "o" / "results.json").read_bytes().decode("utf-8"))


LOCUSTFILE = '''
from locust import HttpUser, constant, task


class Cut(HttpUser):
    wait_time = constant(0)

    @task
    def cut(self):
        name = self.client.get("/cut").json()["name"]  # "caf\\ud83d": a string cut inside an emoji
        self.client.get("/cut", name=f"item {name}")
        raise RuntimeError(f"no item {name}")
'''


def test_a_python_user_whose_names_and_errors_hold_a_lone_surrogate_still_reports(project: Project) -> None:
    """A python user that names a request, or raises, with text from the target's JSON holding a lone surrogate:
    the worker's report could not be encoded, every report after it was lost, and a run of `iterations` never
    ended. The worker now sends the escape (`\\ud83d`) where it cannot send the character."""
    site = Site({"/cut": ok(CUT_JSON, headers={"Content-Type": "application/json"})})
    try:
        project.write("scenarios/cut.py", LOCUSTFILE)
        project.write("scenarios/s.yaml", "name: s\nusers:\n  - python: cut.py:Cut\nkinds: {'*': read}\n")
        project.write("profiles/p.yaml", f"scenario: ../scenarios/s.yaml\nhost: http://127.0.0.1:{site.port}\n"
                                         "load: {users: 1, iterations: 3}\nworkers: 1\nmin_samples: 1\n")
        r = project.run("run", "p", "--out", "o", timeout=90)
    finally:
        site.close()
    assert r.code == 1, r.out + r.err  # the task errors are failures: a breach, measured
    assert_no_traceback(r)
    doc = project.results("o")
    assert doc["totals"]["requests"] >= 6, doc["totals"]
    assert doc["endpoints"]["item caf\\ud83d"]["count"] == 3, sorted(doc["endpoints"])
    assert any(e["reason"].startswith("RuntimeError: no item caf\\ud83d") for e in doc["errors"]), doc["errors"]
    json.loads((project.root / "o" / "results.json").read_bytes().decode("utf-8"))
