"""One compile pass: what a worker or the setup phase would compile is refused by `validate` and by `run`
alike, with exit 3 and `file:line: field`, before any process starts."""

from __future__ import annotations

import pytest

from tests.support.project import Project, assert_no_traceback

PROFILE = """
scenario: ../scenarios/s.yaml
host: http://127.0.0.1:9
load: {users: 2, duration: 10s}
"""


def scenario(request: str, data: str = "") -> str:
    return f"name: s\n{data}users:\n  - name: u\n    requests:\n      - {request}\n"


CSV_DATA = "data:\n  acc: {csv: {file: accounts.csv}}\n  n: {int: [1, 5]}\n"

CASES: dict[str, tuple[str, str, str]] = {  # scenario, profile, expected problem
    "malformed capture path": (
        scenario('{name: a, path: /a, capture: {id: "$.a["}}'),
        PROFILE,
        "s.yaml:5: users[0].requests[0].capture.id: invalid JSON path '$.a['",
    ),
    "expect.json key that is not a path": (
        scenario('{name: a, path: /a, expect: {json: {"nope": 1}}}'),
        PROFILE,
        "s.yaml:5: users[0].requests[0].expect.json.nope: JSON path 'nope' must start with '$'",
    ),
    "malformed expect.json path": (
        scenario('{name: a, path: /a, expect: {json: {"$.b[": 1}}}'),
        PROFILE,
        "s.yaml:5: users[0].requests[0].expect.json.$.b[: invalid JSON path '$.b['",
    ),
    "unknown placeholder inside a check": (
        scenario('{name: a, path: /a, expect: {json: {"$.b": "{undefined}"}}}'),
        PROFILE,
        "s.yaml:5: users[0].requests[0].expect.json.$.b: unknown placeholder {undefined}",
    ),
    "field typo on a CSV row": (
        scenario('{name: a, path: "/login/{acc.emial}"}', CSV_DATA),
        PROFILE,
        "s.yaml:8: users[0].requests[0].path: {acc.emial}: acc has no field 'emial'; did you mean 'email'?",
    ),
    "field of a number generator": (
        scenario('{name: a, path: "/items/{n.id}"}', CSV_DATA),
        PROFILE,
        "s.yaml:8: users[0].requests[0].path: {n.id}: n is a number and has no fields",
    ),
    "bad profile header placeholder": (
        scenario("{name: a, path: /a}"),
        PROFILE + 'headers: {X-Trace: "t-{bogus}"}\n',
        "p.yaml:4: headers.X-Trace: unknown placeholder {bogus}",
    ),
    "all-zero weights": (
        scenario("{name: a, path: /a, weight: 0}\n      - {name: b, path: /b, weight: 0}"),
        PROFILE,
        "s.yaml:4: users[0].requests: every request has weight 0",
    ),
    "python user class that is not in its file": (
        "name: s\nusers:\n  - python: users.py:Shopper\n",
        PROFILE,
        "s.yaml:3: users[0].python: users.py defines no class 'Shopper'; did you mean 'Shoper'?",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_validate_and_run_refuse_alike(project: Project, case: str) -> None:
    text, profile, expected = CASES[case]
    project.write("scenarios/s.yaml", text)
    project.write("scenarios/accounts.csv", "email,password\na@example.com,pw\n")
    project.write("scenarios/users.py", "from locust import HttpUser\n\n\nclass Shoper(HttpUser):\n    pass\n")
    project.write("profiles/p.yaml", profile)
    for args in (("validate",), ("run", "p", "--out", "o")):
        r = project.cli(*args)
        assert r.code == 3, (args, r.out, r.err)
        assert expected in r.err, (args, r.err)
        assert_no_traceback(r)
    assert not (project.root / "o").exists()  # refused before any process started: nothing written
