"""Finding, starting and always stopping the system's Chromium (headless, throwaway profile)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping

from loadorch.errors import RunError
from loadorch.pids import dies_with_parent

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--mute-audio",
    "--disable-dev-shm-usage",  # containers have a small /dev/shm
    # the browser's own calls home, which would go through a page's rail and be listed as its blocked requests
    "--disable-features=Translate,MediaRouter,OptimizationHints,AutofillServerCommunication",
    "--disable-client-side-phishing-detection",
    "--disable-domain-reliability",
    "--window-size=1280,800",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)
SHORT_TMP = 48
# WebRTC's UDP (STUN, TURN over UDP, peer candidates) cannot go through the rail: it is disabled in the
# profile's preferences, which every browser context inherits. `--force-webrtc-ip-handling-policy` alone
# did not stop a page's STUN binding requests to 127.0.0.2 (Chromium 156).
PREFERENCES = {
    "webrtc": {
        "ip_handling_policy": "disable_non_proxied_udp",
        "multiple_routes_enabled": False,
        "nonproxied_udp_enabled": False,
    }
}


def rail_flags(rail_url: str) -> tuple[str, ...]:
    """Every connection of the browser through the network rail at `rail_url` (a socks5:// URL on
    127.0.0.1), loopback ones too (`<-loopback>` drops Chromium's implicit bypass), and no name resolved
    by the browser itself (the rail resolves and checks), nor UDP that a proxy cannot carry (WebRTC)."""
    return (
        f"--proxy-server={rail_url}",
        "--proxy-bypass-list=<-loopback>",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
    )


MISSING_HINT = "install it (apt-get install chromium) or set LOADORCH_CHROMIUM=/path/to/chromium"


def find_chromium(env: Mapping[str, str]) -> str:
    """The Chromium executable: LOADORCH_CHROMIUM, else the first of NAMES on PATH."""
    explicit = env.get("LOADORCH_CHROMIUM")
    if explicit:
        if os.path.isfile(explicit) and os.access(explicit, os.X_OK):
            return explicit
        raise RunError(f"LOADORCH_CHROMIUM={explicit} is not an executable file; {MISSING_HINT}")
    for name in NAMES:
        path = shutil.which(name, path=env.get("PATH"))
        if path:
            return path
    raise RunError(f"browser users need Chromium and none was found on PATH; {MISSING_HINT}")


class Chromium:
    """One headless Chromium in this process's group, with a profile directory removed on stop."""

    def __init__(
        self, executable: str, flags: tuple[str, ...] = (), scratch: str | None = None, timeout: float = 30.0
    ) -> None:
        self.profile = tempfile.mkdtemp(prefix="loadorch-chromium-", dir=scratch)
        os.mkdir(os.path.join(self.profile, "Default"))
        with open(os.path.join(self.profile, "Default", "Preferences"), "w", encoding="utf-8") as fh:
            json.dump(PREFERENCES, fh)
        self.log = open(os.path.join(self.profile, "chromium.log"), "wb")  # noqa: SIM115
        env = dict(os.environ)
        if len(tempfile.gettempdir()) > SHORT_TMP:
            env["TMPDIR"] = "/tmp"  # Chromium's singleton socket lives there: a unix socket path is short
        self.proc = subprocess.Popen(
            [executable, *FLAGS, *flags, f"--user-data-dir={self.profile}", "about:blank"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            preexec_fn=dies_with_parent(),
        )
        try:
            self.ws_url = self._devtools_url(timeout)
        except BaseException:
            self.stop()
            raise

    def _devtools_url(self, timeout: float) -> str:
        path = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RunError(f"Chromium exited at start (code {self.proc.returncode}): {self._log_tail()}")
            try:
                with open(path, encoding="utf-8") as fh:
                    lines = fh.read().split()
                if len(lines) >= 2:
                    return f"ws://127.0.0.1:{int(lines[0])}{lines[1]}"
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        raise RunError(f"Chromium did not open its DevTools port within {timeout:g}s: {self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            with open(os.path.join(self.profile, "chromium.log"), encoding="utf-8", errors="replace") as fh:
                return " | ".join(fh.read().strip().splitlines()[-3:]) or "no output"
        except OSError:
            return "no output"

    def stop(self, grace_s: float = 3.0) -> None:
        """SIGTERM, a wait, then SIGKILL; the profile directory goes in every case."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)
