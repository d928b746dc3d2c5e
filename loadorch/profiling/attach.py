"""Why a profiler could not attach, and what to do about it (pure: from py-spy's own words)."""

from __future__ import annotations

PERMISSION_FIX = (
    "run loadorch as root or give py-spy CAP_SYS_PTRACE (docker/podman: --cap-add SYS_PTRACE; "
    "`sudo setcap cap_sys_ptrace+ep $(which py-spy)`), or allow tracing with "
    "`sysctl kernel.yama.ptrace_scope=0`; in Kubernetes, profile from an ephemeral debug container in the "
    "target's pod: `kubectl debug -it POD --image=python:3.12 --target=CONTAINER --profile=general` "
    "(README, \"Profiling the target\")"
)
GONE_FIX = "start the target before the run, or point the profiler at its current pid (pid_file follows restarts)"
NOT_PYTHON_FIX = "profile a Python process: py-spy reads CPython's interpreter state (not a shim script or launcher)"
INSTALL_FIX = "pip install 'loadorch[profile]' (py-spy's binary wheel), or put py-spy on PATH"
STOP_FIX = (
    "py-spy writes its whole profile when it is stopped, and was killed before it had: lower profilers[].rate, or "
    "profile a shorter window (measure:), so it has less to write; a loaded machine slows it too"
)


def problem_of(py_spy_output: str, pid: int) -> tuple[str, str]:
    """(what happened, the fix) for py-spy's last words before it exited early."""
    text = py_spy_output.lower()
    if "permission denied" in text or "operation not permitted" in text or "ptrace" in text:
        return f"py-spy was not permitted to read process {pid}", PERMISSION_FIX
    if "no such file" in text or "check that the process is running" in text or "no such process" in text:
        return f"process {pid} is not running", GONE_FIX
    if "python version" in text or "python interpreter" in text:
        return f"process {pid} does not look like a Python interpreter to py-spy", NOT_PYTHON_FIX
    last = next((line.strip() for line in py_spy_output.splitlines() if line.strip().startswith("Error")), "")
    return f"py-spy could not profile process {pid}{': ' + last[:300] if last else ''}", PERMISSION_FIX


def pid_file_problem(path: str, detail: str) -> tuple[str, str]:
    return f"pid file {path}: {detail}", "write the target's pid (a decimal number) into the pid file before the run"
