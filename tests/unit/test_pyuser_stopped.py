"""A python user stopped by the run while its request waited for the target (runtime/pyusers.py watch_client,
PythonRequests.stopped_key): named, classified and masked as its request event would have been, on Locust's real
HttpSession and FastHttpSession, checked in a child process (importing pyusers imports Locust, which patches the
process with gevent). A request that ended, and a user stopped while it thought, are not counted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import json
import gevent
from locust.clients import HttpSession
from locust.contrib.fasthttp import FastHttpSession
from locust.event import EventHook
from loadorch.runtime.pyusers import PythonRequests, PythonUserContext, watch_client
from loadorch.stats.tables import Recorder
from loadorch.traffic.redact import Redactor

listener = PythonRequests(Recorder(1.0, 0.0), {"/search*": "read"}, 0, None, redactor=Redactor(["runSecret1234"]))

def stopped_on(client, ask):
    ctx = PythonUserContext(0, 1, 0, 1, {}, "U")
    def hangs(*args, **kwargs):
        raise gevent.GreenletExit  # the run stops the user while the target has not answered
    client.request = hangs
    watch_client(client, ctx)
    try:
        ask(client)
    except gevent.GreenletExit:
        pass
    found = listener.stopped_key(ctx)
    return None if found is None else list(found[0])

def answered(client):
    ctx = PythonUserContext(0, 1, 0, 1, {}, "U")
    client.request = lambda *a, **k: "answer"
    watch_client(client, ctx)
    client.get("/search")
    return ctx.stopped is None

def renamed(client):
    with client.rename_request("cancel"):
        client.request("DELETE", "/orders/17")

plain = HttpSession("http://127.0.0.1:9", EventHook(), None)
fast = FastHttpSession(None, "http://127.0.0.1:9", EventHook(), None)
seen = {
    # HttpSession names a request by the path and query it sent, params joined; FastHttpSession by the URL as given
    "plain": stopped_on(plain, lambda c: c.get("/search?access_token=tok0000abc", params={"q": "runSecret1234"})),
    "fast": stopped_on(fast, lambda c: c.get("/search?access_token=tok0000abc")),
    "named": stopped_on(plain, lambda c: c.post("/orders/17", name="create order", context={"kind": "write"})),
    "renamed": stopped_on(fast, renamed),
    "answered": answered(HttpSession("http://127.0.0.1:9", EventHook(), None)),
}
print(json.dumps(seen))
"""


def test_a_request_a_python_user_was_stopped_waiting_on_is_named_as_its_event_would_be() -> None:
    out = subprocess.run([sys.executable, "-c", CHILD], cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["plain"] == ["U", "/search?access_token=***&q=***", "read", "GET"], seen
    assert seen["fast"] == ["U", "/search?access_token=***", "read", "GET"], seen
    assert seen["named"] == ["U", "create order", "write", "POST"], seen
    assert seen["renamed"] == ["U", "cancel", "unclassified", "DELETE"], seen
    assert seen["answered"] is True
