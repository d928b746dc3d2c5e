"""`loadorch monitor` refusals through the CLI: what cannot be held level is refused before any request."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from tests.support.project import Project, _call_context

from .test_alerts import PROFILE, SCENARIO


@pytest.mark.parametrize("load,why", [
    ("load: {stages: [{users: 2, duration: 10s}]}", "load.stages: monitor runs a level load"),
    ("load: {users: 2, iterations: 3}", "load.iterations: monitor runs until a signal: drop load.iterations"),
])
def test_monitor_refuses_a_load_that_ends_before_any_request(project: Project, load: str, why: str) -> None:
    """Refused with the profile's file, line and field, as validate names a problem (they are valid for a run)."""
    project.write("scenarios/s.yaml", SCENARIO)
    project.write("profiles/p.yaml", PROFILE.replace("load: {users: 2, duration: 1m}", load))
    line = next(i for i, text in enumerate((project.root / "profiles" / "p.yaml").read_text().splitlines(), 1)
                if text.startswith("load:"))
    result = project.run("monitor", "p", "--out", "mo")
    assert result.code == 2 and f"p.yaml:{line}: {why}" in result.err, result.err
    assert not (project.root / "mo").exists() and "Traceback" not in result.err


def test_monitor_refuses_one_port_for_its_status_and_its_metrics(project: Project) -> None:
    """Each port was free alone: the status server bound it, the master's /metrics failed in its log, and the
    monitor went on without metrics until a signal."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    project.write("scenarios/s.yaml", SCENARIO)
    project.write("profiles/p.yaml", PROFILE)
    result = project.run("monitor", "p", "--out", "mo", "--status-port", port, "--metrics-port", port, timeout=60)
    assert result.code == 2 and f"--status-port and --metrics-port are both {port}" in result.err, result.err
    assert not (project.root / "mo").exists()


def test_monitor_says_its_configurations_warnings_and_the_tags_left_unlabelled(project: Project) -> None:
    """`loadorch run` printed them, `loadorch monitor` did not: a short secret (masked in ordinary words too)
    and the run's --tag keys past the label bound went unsaid. The target here is down: it ends at preflight."""
    project.write("scenarios/s.yaml", SCENARIO.replace("name: s\n", "name: s\ntags: {team: web}\n", 1))
    project.write("profiles/p.yaml", PROFILE + 'headers: {X-Key: "${API_TOKEN}"}\n')
    tags = [arg for i in range(11) for arg in ("--tag", f"k{i:02d}=v")]
    result = project.run("monitor", "p", "--out", "mo", "--metrics-port", "0", "--remote-write",
                         "http://127.0.0.1:9/api/v1/write", *tags, env={"API_TOKEN": "abc"}, timeout=60)
    assert "warning: secret API_TOKEN is only 3 characters" in result.err, result.err
    assert "note: tags k10, team do not label the live series" in result.err, result.err


def test_monitor_refuses_a_status_address_it_cannot_listen_on_even_on_any_port(project: Project) -> None:
    """`--status-port 0` (any free port) skipped the address check: an address not on this machine was an
    internal error (exit 5, "OSError: Cannot assign requested address")."""
    project.write("scenarios/s.yaml", SCENARIO)
    project.write("profiles/p.yaml", PROFILE)
    result = project.run("monitor", "p", "--out", "mo", "--status-port", "0", "--status-bind", "192.0.2.1",
                         timeout=60)
    assert result.code == 2 and "--status-port 0: cannot listen on 192.0.2.1:0" in result.err, result.err
    assert "internal error" not in result.err and not (project.root / "mo").exists()


def test_monitor_refuses_an_out_folder_a_run_would_refuse(project: Project) -> None:
    """`--out` was not checked as a run's is: a file was an internal error (exit 5, FileExistsError), and the
    project's profiles/ got status.json and, at the end, a config.yaml that `loadorch run config` reads."""
    from loadorch.run.outdir import check_out_dir

    project.write("scenarios/s.yaml", SCENARIO)
    project.write("profiles/p.yaml", PROFILE)
    project.write("notes.txt", "mine\n")
    for out, why in (("profiles", "inside the project's profiles/ folder"), ("notes.txt", "is a file")):
        result = project.run("monitor", "p", "--out", out, timeout=60)
        assert result.code == 2 and why in result.err and "internal error" not in result.err, result.err
    assert sorted(p.name for p in (project.root / "profiles").iterdir()) == ["p.yaml"]
    # the monitor's own folder, as a container restarted on it finds it, is taken
    (project.root / "mo").mkdir()
    for name in ("status.json", "status.html"):
        (project.root / "mo" / name).write_text("{}")
    check_out_dir(str(project.root / "mo"), str(project.root))  # no UsageError: taken as a run's partial output


@pytest.mark.parametrize("ending,code,said", [
    ("breach", 1, None),  # the run's own outcome: a threshold failed
    ("error", 5, "error: the target went away"),  # the run's own error, said, not the status file's
])
def test_the_monitors_exit_code_survives_status_files_it_cannot_mark_stopped(
    project: Project, monkeypatch: pytest.MonkeyPatch, ending: str, code: int, said: str | None
) -> None:
    """`finally: monitor.stop()` let the status write's RunError replace the run's exit code (143 after a
    SIGTERM became 5, "cannot write mo/status.json"), and skipped closing the status server. The controller
    here is a stand-in (a monitor runs until a signal): the real Monitor publishes its status into the real
    folder, then status.json becomes a folder, which no write can replace, and the run ends."""
    from types import SimpleNamespace

    from loadorch import cli
    from loadorch.errors import RunError
    from loadorch.run import controller
    from loadorch.run.state import RunOptions
    from loadorch.traffic.redact import Redactor

    servers: list[object] = []

    def stand_in(cfg: object, options: RunOptions) -> int:
        monitor = options.monitor
        assert monitor is not None and monitor.status is not None
        servers.append(monitor.status.server)
        run = SimpleNamespace(live_labels=("mo", "p", "s"), redactor=Redactor([]))
        monitor.publish(run, [], SimpleNamespace(seconds=1.0, full=False), 1.0)  # type: ignore[arg-type]
        status_file = project.root / "mo" / "status.json"
        assert json.loads(status_file.read_text())["status"] != "stopped"
        status_file.unlink()
        status_file.mkdir()
        if ending == "error":
            raise RunError("the target went away")
        return 1

    project.write("scenarios/s.yaml", SCENARIO)
    project.write("profiles/p.yaml", PROFILE)
    monkeypatch.setattr(controller, "execute", stand_in)
    err = io.StringIO()
    with _call_context(project.root, None), contextlib.redirect_stderr(err):
        got = cli.main(["monitor", "p", "--out", "mo", "--status-port", "0"])
    text = err.getvalue()
    assert got == code, text
    assert "warning: the monitor's status files do not say it stopped: cannot write mo/status.json" in text, text
    assert (said is None or said in text) and "Traceback" not in text and "internal error" not in text, text
    [server] = servers
    assert server.socket.fileno() == -1  # type: ignore[attr-defined]  # closed all the same


def test_a_monitor_restarted_on_its_folder_does_not_keep_the_last_ones_ok(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A monitor restarted on its folder (a pod's container after a crash or SIGKILL: nothing marked it stopped)
    left the dead process's status.json in place until its first judgement: `ok` with rows days old, and for
    good when the new one ended before judging anything (its target down at preflight, a SIGTERM during
    setup). Its status now says no_data from its start, and stopped at its end. The controller here is a
    stand-in that fails before the load, as a preflight does."""
    from loadorch import cli
    from loadorch.errors import RunError
    from loadorch.run import controller

    def stand_in(cfg: object, options: object) -> int:
        doc = json.loads((project.root / "mo" / "status.json").read_text())
        assert doc["status"] == "no_data" and doc["judged_s"] == 0 and not doc["window_full"], doc
        assert [r["state"] for r in doc["thresholds"]] == ["no_data"] * 3 and doc["started"] == doc["updated"]
        raise RunError("cannot connect to the target")

    project.write("scenarios/s.yaml", SCENARIO)
    project.write("profiles/p.yaml", PROFILE)
    (project.root / "mo").mkdir()
    earlier = {"schema": "loadorch.monitor-status/v1", "status": "ok", "updated": "2020-01-01T00:00:00+00:00",
               "thresholds": [{"threshold": "http_req_duration p(95)<300", "state": "pass"}]}
    (project.root / "mo" / "status.json").write_text(json.dumps(earlier))
    (project.root / "mo" / "status.html").write_text("<h1>ok</h1>")
    monkeypatch.setattr(controller, "execute", stand_in)
    err = io.StringIO()
    with _call_context(project.root, None), contextlib.redirect_stderr(err):
        got = cli.main(["monitor", "p", "--out", "mo"])
    assert got == 5 and "cannot connect to the target" in err.getvalue(), err.getvalue()
    ended = json.loads((project.root / "mo" / "status.json").read_text())
    assert ended["status"] == "stopped" and ended["updated"] != earlier["updated"], ended
    assert [r["state"] for r in ended["thresholds"]] == ["no_data"] * 3
    assert "no_data" in (project.root / "mo" / "status.html").read_text()
