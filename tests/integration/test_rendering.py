"""What a generated pass over the scenario grammar found failing in a worker after `validate` accepted it: values
known only at run time (captures) that a template cannot render, and `client: locust` not reading the body of a
4xx/5xx. Each is now its request's failure, saying why (or its check holding), and the virtual user goes on."""

from __future__ import annotations

import pytest

from tests.support.project import Project, assert_no_traceback

SCENARIO = """
name: rendering
client: CLIENT
users:
  - name: u
    requests:
      - name: create
        method: POST
        path: /products
        json: {name: "東京", category: books}
        capture: {made: "$.name"}
        expect: {status: [201]}
      - {name: field of a string, path: "/products/{made.id}"}
      - {name: header, path: /health, headers: {X-Made: "{made}"}}
      - {name: check, path: /health, expect: {json: {"$.status": "{made.id}"}}}
      - name: refused
        method: POST
        path: /products
        form: {name: x}
        expect: {status: [400], contains: "not JSON"}
        capture: {why: "$.error"}
"""


@pytest.mark.parametrize("client", ["lean", "locust"])
def test_what_cannot_be_rendered_fails_its_request_and_the_user_goes_on(project: Project, client: str) -> None:
    project.write("scenarios/s.yaml", SCENARIO.replace("CLIENT", client))
    project.write("profiles/p.yaml", "scenario: ../scenarios/s.yaml\nhost: embedded\nload: {users: 1, iterations: 60}\n"
                                     "workers: 1\nseed: 7\nmin_samples: 1\n")
    r = project.run("run", "p", "--out", "o")
    assert_no_traceback(r)
    assert r.code == 1, r.out + r.err  # the failed requests breach http_req_failed; before: 5, the user stopped
    doc = project.results("o")
    assert doc["integrity"]["virtual_users_failed"] == [], doc["integrity"]["virtual_users_failed"]
    assert doc["totals"]["requests"] == 60
    endpoints = doc["endpoints"]
    assert endpoints["create"]["failures"] == 0
    # `client: locust` read no body of a 4xx (geventhttpclient kept it): its contains check and capture failed
    assert endpoints["refused"]["count"] > 0 and endpoints["refused"]["failures"] == 0, endpoints["refused"]
    for name in ("field of a string", "header", "check"):
        assert endpoints[name]["count"] > 0 and endpoints[name]["failures"] == endpoints[name]["count"], name
    reasons = {e["name"]: e for e in doc["errors"]}
    assert reasons["field of a string"]["reason"] == "placeholder {made.id}: no 'id' in a string", reasons
    assert reasons["header"]["reason"].startswith(
        "header 'X-Made': its value holds '東' (U+6771), which no HTTP header can carry"), reasons
    assert reasons["check"]["reason"] == "check $.status failed", reasons
