"""`loadorch init`: a new project that runs and passes, with and without an OpenAPI document."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.support.project import Project, cli_in_process

from ..unit.test_openapi import PETSTORE
from .localruns import LocalRun


@pytest.mark.alone  # init's local profiles, gated by the default p(95)<300 (localruns.py: run with the shipped one)
def test_init_projects_plain_and_from_openapi_run_local_and_pass(local_runs: dict[str, LocalRun]) -> None:
    plain = local_runs["init"].root
    for rel in ("scenarios/shop.yaml", "profiles/local.yaml", "profiles/smoke.yaml", "profiles/staging.yaml",
                ".github/workflows/loadtest.yml", ".gitlab-ci.loadorch.yml", "README.md"):
        assert (plain / rel).exists(), rel
    workflow = yaml.safe_load((plain / ".github/workflows/loadtest.yml").read_text())
    steps = json.dumps(workflow["jobs"]["loadtest"]["steps"])
    assert "loadorch run staging" in steps and "junit.xml" in steps and "GITHUB_STEP_SUMMARY" in steps
    gitlab = yaml.safe_load((plain / ".gitlab-ci.loadorch.yml").read_text())
    assert gitlab["loadtest"]["artifacts"]["reports"]["junit"] == "results/staging/junit.xml"
    for name in ("init", "openapi"):  # init's local profile as written (20 s, min_samples 50)
        run = local_runs[name]
        assert run.code == 0, (name, run.out, run.err)
        doc = run.results()
        assert doc["verdict"] == "pass" and doc["thresholds"], doc["thresholds"]
        assert all(t["verdict"] == "pass" and t["samples"] >= 50 for t in doc["thresholds"]), doc["thresholds"]
    assert {"getProduct", "createOrder", "listProducts"} <= set(local_runs["openapi"].results()["endpoints"])


def test_init_keeps_existing_files_unless_forced(tmp_path: Path) -> None:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "local.yaml").write_text("# mine\n")
    (tmp_path / "README.md").write_text("# My service\n")
    r = cli_in_process("init", str(tmp_path))
    assert r.code == 0 and "kept    profiles/local.yaml" in r.out
    assert (tmp_path / "profiles" / "local.yaml").read_text() == "# mine\n"
    readme = (tmp_path / "README.md").read_text()
    assert readme.startswith("# My service\n") and readme.count("## Load testing") == 1
    cli_in_process("init", str(tmp_path), "--force")
    assert (tmp_path / "profiles" / "local.yaml").read_text() != "# mine\n"
    assert (tmp_path / "README.md").read_text().count("## Load testing") == 1


def test_from_a_third_party_openapi_validates(project: Project) -> None:
    (project.root / "petstore.yaml").write_text(yaml.safe_dump(PETSTORE))
    r = project.cli("init", "--from-openapi", "petstore.yaml")
    assert r.code == 0, r.err
    local = (project.root / "profiles" / "local.yaml").read_text()
    assert "host: https://petstore.example.com/v2" in local
    assert project.cli("validate").code == 0


def test_from_openapi_refuses_what_is_not_openapi(project: Project) -> None:
    (project.root / "x.json").write_text('{"swagger": "2.0"}')
    r = project.cli("init", "--from-openapi", "x.json")
    assert r.code == 3 and "not an OpenAPI 3.x document" in r.err
