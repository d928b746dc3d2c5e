"""Locust imported as loadorch's Locust processes import it (loadorch/runtime/locust_import.py), in a process of
its own: gevent's patching as Locust's own import does it, every distribution's metadata read once, no Flask
until a web UI is made, and then Locust's real one."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = r"""
import json, sys
from importlib import metadata
reads = []
real = metadata.entry_points
def counting(**params):
    reads.append(params)
    return real(**params)
metadata.entry_points = counting
from loadorch.runtime.locust_import import import_locust
import_locust()
import loadorch.runtime.master, loadorch.runtime.worker
from gevent import monkey
out = {"reads": len(reads), "patched": sorted(monkey.saved), "flask": "flask" in sys.modules}
# charset_normalizer: not imported; requests' version check saw the real version; the names Locust and requests
# bound import the real one at their first use, and a later import is the real package
import requests, requests.compat, locust.contrib.fasthttp as fasthttp
out["charset"] = sorted(m for m in sys.modules if m.split(".")[0] == "charset_normalizer")
out["requests_help"] = "requests.help" in sys.modules
out["version_seen"] = requests.charset_normalizer_version == metadata.version("charset-normalizer")
text = "Grüße aus Köln, ça va très bien. Ünïcödé façade naïve. " * 20
out["detect"] = fasthttp.detect(text.encode("utf-8"))["encoding"]
response = requests.Response()
response._content = text.encode("utf-8")
out["apparent"] = response.apparent_encoding
import charset_normalizer.api
out["real_after"] = [type(sys.modules["charset_normalizer"]).__name__, hasattr(charset_normalizer.api, "from_bytes")]
import locust.web
from locust.env import Environment
ui = Environment().create_web_ui("127.0.0.1", 0, delayed_start=True)  # made, not started
out["web_ui"] = type(ui).__module__ + "." + type(ui).__qualname__
out["real"] = isinstance(ui, sys.modules["locust.web"].WebUI) and "flask" in sys.modules
sys.stdout.write(json.dumps(out))
"""


PATCHED = {"_thread", "os", "queue", "select", "selectors", "signal", "socket", "ssl", "subprocess", "threading", "time"}


def test_locust_imported_as_the_runtime_does_patches_the_same_for_less() -> None:
    r = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out["patched"]) >= PATCHED  # gevent's patch_all, as Locust's import does it
    assert out["reads"] == 1  # gevent's plugins looked up once, not once per module patched (25 reads)
    assert out["flask"] is False  # Locust's web UI: imported when one is made...
    assert out["web_ui"] == "locust.web.WebUI" and out["real"] is True  # ...and then Locust's real one
    assert out["charset"] == [] and out["requests_help"] is False and out["version_seen"] is True
    assert out["detect"] == "utf-8" and out["apparent"] == "utf-8"  # charset_normalizer's real guesses
    assert out["real_after"] == ["module", True]
