"""The CI snippets `loadorch init` writes: schema-valid workflows (actionlint is not packaged offline: the
vendored GitHub/GitLab JSON schemas of check-jsonschema instead) and a structurally sound Jenkinsfile."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from loadorch.commands.init import GITHUB, GITLAB, JENKINS


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
