"""The credentials a python user's requests carried (runtime/pyusers.py PythonUserContext.carried), masked in what
it shows later and bounded, checked in a child process: importing pyusers imports Locust, which patches the process
with gevent."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import json
from types import SimpleNamespace
from loadorch.runtime.pyusers import HELD_KEPT, PythonUserContext, request_credentials
from loadorch.traffic.redact import Redactor

ctx = PythonUserContext(0, 1, 0, 1, {}, "U")
run = Redactor(["runSecret1234"])
seen = {"none_yet": ctx.carried(set(), run) is None}
request = SimpleNamespace(headers={"Authorization": "Bearer capTokAAAA1111", "Accept": "x"},
                          url="http://h/items?api_key=queryKey5678&page=2")
found = request_credentials(SimpleNamespace(request=request), "http://h/items?api_key=queryKey5678")
seen["found"] = sorted(found)
ctx.carried(found, run)
later = ctx.carried(set(), run)  # a later request that carried nothing: what the user holds still masked
seen["later"] = later.text("bad answer for capTokAAAA1111, queryKey5678 and runSecret1234")
for k in range(3 * HELD_KEPT):  # a fresh signature each request, beside the same token
    mine = ctx.carried({f"sig{k:08d}", "capTokAAAA1111"}, run)
    seen.setdefault("each", []).append(mine.text(f"sig{k:08d}") == "***")
seen["held"] = len(ctx.held) == HELD_KEPT
seen["token_kept"] = ctx.mask.text("capTokAAAA1111") == "***"
seen["oldest_dropped"] = ctx.mask.text("sig00000000") == "sig00000000"
many = {f"many{k:08d}" for k in range(HELD_KEPT + 3)}  # one request carrying more than are kept: all its own masked
seen["many"] = all(ctx.carried(many, run).text(m) == "***" for m in many)
print(json.dumps(seen))
"""


def test_a_python_users_carried_credentials_are_masked_later_and_the_held_ones_are_bounded() -> None:
    out = subprocess.run([sys.executable, "-c", CHILD], cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    each = seen.pop("each")
    assert each and all(each), each
    assert seen == {"none_yet": True, "found": ["capTokAAAA1111", "queryKey5678"],
                    "later": "bad answer for ***, *** and ***", "held": True, "token_kept": True,
                    "oldest_dropped": True, "many": True}
