"""The README's examples, run: each marked command block executes in a copy of the repository's examples
and gives the exit codes and files its comments name; the numbers the README states match the files."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from loadorch.commands import init
from tests.support.project import REPO, cli_in_process

README = (REPO / "README.md").read_text()
MARK = "<!-- readme-test -->"
EXPECT = re.compile(r"#\s*exit (\d+)(?: or (\d+))?(?::\s*(.*))?$")


def marked_commands() -> list[tuple[str, set[int], list[str]]]:
    """(command, allowed exit codes, files it must leave) for each line of each marked ```sh block."""
    out = []
    for block in README.split(MARK)[1:]:
        body = block.split("```sh\n", 1)[1].split("```", 1)[0]
        for line in body.splitlines():
            command, _, comment = line.partition("  #")
            m = EXPECT.search("#" + comment)
            assert m, f"a marked README command needs '# exit N[: files]': {line}"
            codes = {int(m.group(1))} | ({int(m.group(2))} if m.group(2) else set())
            files = [w for w in (m.group(3) or "").split() if "/" in w or w.endswith((".xml", ".yaml", ".md"))]
            out.append((command.strip(), codes, files))
    return out


def test_the_readme_has_marked_commands() -> None:
    commands = [c for c, _, _ in marked_commands()]
    assert len(commands) >= 8
    for name in ("validate", "list", "budgets", "init", "report", "compare", "k8s render"):
        assert any(f"loadorch {name}" in c for c in commands), name


@pytest.mark.alone  # the smoke runs judge their reads' p95 (17 samples) against 300 ms: beside two other tests
# (three xdist processes) one once exited 1, not the README's 6
def test_marked_readme_commands_run_as_documented(tmp_path: Path) -> None:
    for folder in ("profiles", "scenarios"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    loadorch = f"{sys.executable} -m loadorch"
    for command, codes, files in marked_commands():
        words = shlex.split(command)
        if words[0] == "loadorch" and words[1] != "run" and not set("<>|;&$=") & set(command):
            # a command on files, no shell needed: the CLI's main in this process (a run, and a line the shell
            # must read (a redirection, a variable), go through bash as written)
            proc = cli_in_process(*words[1:], cwd=tmp_path)
            proc_code, proc_out, proc_err = proc.code, proc.out, proc.err
        else:
            shell = re.sub(r"(^|\s)loadorch ", lambda m: f"{m.group(1)}{loadorch} ", command, count=1)
            done = subprocess.run(["bash", "-c", shell], cwd=tmp_path, capture_output=True, text=True, timeout=120)
            proc_code, proc_out, proc_err = done.returncode, done.stdout, done.stderr
        assert proc_code in codes, (command, proc_code, proc_out[-2000:], proc_err[-2000:])
        assert "Traceback" not in proc_err, (command, proc_err)
        for rel in files:
            assert (tmp_path / rel).is_file(), (command, rel)
        if "--out results/before" in command:  # an inconclusive run says why in its last lines
            assert "why: " in proc_out.splitlines()[-2] or "why: " in proc_out, proc_out


def _users_workers_seconds(profile: dict) -> tuple[int, int, float]:
    from loadorch.config.units import parse_duration

    return profile["load"]["users"], profile["workers"], parse_duration(profile["load"]["duration"])


def test_quickstart_describes_the_repositorys_local_profile() -> None:
    users, workers, seconds = _users_workers_seconds(yaml.safe_load((REPO / "profiles/local.yaml").read_text()))
    assert f"{users} users on {workers} worker processes for {seconds:g} s" in README


def test_readme_describes_the_local_profile_init_writes() -> None:
    text = init.PROFILE_LOCAL.format(scenario="shop", host="embedded")
    users, workers, seconds = _users_workers_seconds(yaml.safe_load(text))
    phrase = f"{users} users on {workers} worker processes for {seconds:g} s"
    assert phrase in README  # "Starting a project"
    assert phrase in text and phrase in init.README_SECTION  # the file's own comment and the section init writes


@pytest.mark.parametrize("name", ["local", "smoke"])
def test_profiles_that_readme_runs_exist(name: str) -> None:
    assert (REPO / "profiles" / f"{name}.yaml").is_file()


BROWSER_SCENARIO = """
name: storefront
data:
  category: {choice: [books, games, toys]}
  sku: {pattern: "SKU-####"}
users:
  - name: api
    think_time: 0.5
    requests:
      - {name: list products, path: "/products?category={category}"}
"""


@pytest.mark.integration
@pytest.mark.chromium
def test_the_readme_browser_example_passes_as_it_says(tmp_path: Path) -> None:
    """The README's browser journey and threshold, as written, against the embedded storefront (needs
    Chromium): every step finds its element and the home page's LCP passes, exit 0. Each of its 2 pages walks
    the journey once (iterations: a count of page views, not a length of time Chromium's start could eat);
    the duration only caps the run."""
    block = README.split("## Browser users", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    assert block.startswith("# scenario\nbrowsers:") and "\nthresholds:" in block, block
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "profiles").mkdir()
    (tmp_path / "scenarios" / "storefront.yaml").write_text(BROWSER_SCENARIO + block)
    (tmp_path / "profiles" / "storefront.yaml").write_text(
        "scenario: ../scenarios/storefront.yaml\nhost: embedded\nload: {users: 1, iterations: 1, duration: 120s}\n"
        "min_samples: 1\n")
    proc = subprocess.run([sys.executable, "-m", "loadorch", "run", "storefront", "--out", "o"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = json.loads((tmp_path / "o" / "results.json").read_text())
    [lcp] = [t for t in doc["thresholds"] if t["selector"] == "browser_web_vital_lcp{page:home}"]
    assert lcp["verdict"] == "pass" and lcp["samples"] >= 1, lcp
    assert doc["run"]["stop_reason"] == "iterations" and lcp["samples"] == 2, lcp  # one home view per page
    browser = doc["browser"]
    assert browser["steps"] >= 6 and browser["failed_steps"] == 0, browser["failures"]  # each step found its element
