"""`loadorch init [DIR] [--from-openapi SPEC]`: scenarios, profiles, a README section and CI snippets."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

import yaml

from loadorch.commands.openapi import OpenApiError, scenario_from_openapi
from loadorch.config.problems import validate_document
from loadorch.config.scenario import Scenario
from loadorch.config.yamlsource import MAX_DEPTH, parse, read_text
from loadorch.errors import ConfigError, ExitCode, Problem
from loadorch.metrics.snippets import PROMETHEUS_SNIPPET

SHOP_SCENARIO = """\
# What traffic looks like. Runs against loadorch's embedded reference shop (`host: embedded`);
# point a profile's host at your API and adapt the requests. Reference: loadorch's README.
name: shop
data:
  product_id: {int: [1, 50]}
  category: {choice: [books, games, toys], weights: [5, 3, 2]}
  customer: {sequence: {start: 1}, unique_per: user}
users:
  - name: shopper
    think_time: {between: [0.2, 0.8]}
    requests:
      - {name: list products, weight: 5, path: "/products?category={category}&limit=20"}
      - {name: get product, weight: 3, path: "/products/{product_id}"}
      - name: create order
        kind: write
        weight: 2
        method: POST
        path: /orders
        json: {customer: "c-{customer}", product_id: "{product_id}", qty: 1}
        expect: {status: [201]}
thresholds:
  "http_req_duration{kind:read}": ["p(95)<300"]
  "http_req_duration{kind:write}": ["p(95)<700"]
  "http_req_failed": ["rate<0.01"]
"""

PROFILE_LOCAL = """\
# On this machine: 10 users on 2 worker processes for 20 s. `loadorch run local`
scenario: ../scenarios/{scenario}.yaml
host: {host}
load: {{users: 10, spawn_rate: 10, duration: 20s}}
workers: 2
seed: 1
min_samples: 50
"""
PROFILE_SMOKE = """\
# A few seconds for every CI run: proves the scenario works end to end.
scenario: ../scenarios/{scenario}.yaml
host: {host}
load: {{users: 2, spawn_rate: 2, duration: 10s}}
workers: 1
seed: 1
min_samples: 5
"""
PROFILE_STAGING = """\
# The gate: `loadorch run staging` in CI, with STAGING_URL and STAGING_TOKEN from CI secrets.
scenario: ../scenarios/{scenario}.yaml
host: ${{STAGING_URL}}
allowed_hosts: ["*.staging.example.com"]   # edit: the only hosts this profile may load
headers: {{Authorization: "Bearer ${{STAGING_TOKEN}}"}}
secrets: [STAGING_TOKEN]
load: {{users: 50, spawn_rate: 10, duration: 5m}}
workers: auto
seed: 1
"""
GITHUB = """\
name: load test
on: {workflow_dispatch: {}, push: {branches: [main]}}
permissions:
  contents: read
  checks: write          # the JUnit reporter publishes a check run with one result per threshold
concurrency:
  group: loadtest-staging   # one load test against staging at a time; a newer push waits, never overlaps
  cancel-in-progress: false
jobs:
  loadtest:
    runs-on: ubuntu-latest
    timeout-minutes: 30
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with: {python-version: "3.11"}
      # EDIT: loadorch is not on PyPI (a package of that name there is not ours): install it from its
      # repository, pinned to a tag or commit you have reviewed, by setting LOADORCH_PIP_SPEC below.
      - name: install loadorch
        env: {LOADORCH_PIP_SPEC: "loadorch @ git+https://REPLACE-WITH-LOADORCH-REPOSITORY@REPLACE-WITH-TAG-OR-COMMIT"}
        run: |
          case "$LOADORCH_PIP_SPEC" in *REPLACE-WITH*) echo "edit LOADORCH_PIP_SPEC in this workflow" >&2; exit 1;; esac
          python -m pip install "$LOADORCH_PIP_SPEC"
      # one baseline per branch: the store (.loadorch/baselines) in the Actions cache, keyed by branch; a new
      # branch starts from main's store, and its first run is compared with main's baseline (`--baseline
      # "$BRANCH,main"`: the branch's own once it has one); no baseline at all is said and passes
      - name: restore baselines
        uses: actions/cache/restore@v4
        with:
          path: .loadorch/baselines
          key: loadorch-baselines-${{ github.ref_name }}-${{ github.run_id }}
          restore-keys: |
            loadorch-baselines-${{ github.ref_name }}-
            loadorch-baselines-main-
      - name: loadorch run staging
        env:
          STAGING_URL: ${{ secrets.STAGING_URL }}
          STAGING_TOKEN: ${{ secrets.STAGING_TOKEN }}
          BRANCH: ${{ github.ref_name }}
        # GITHUB_ACTIONS=true: configuration errors and breached thresholds are annotated at their YAML line;
        # the comparison with the branch's baseline joins junit.xml, the exit code and the step summary
        run: >-
          python -m loadorch run staging --out results/staging --tag commit=${{ github.sha }}
          --baseline "$BRANCH,main"
      - name: keep this run as the branch's baseline
        env: {BRANCH: "${{ github.ref_name }}"}
        run: python -m loadorch baseline save results/staging --name "$BRANCH" --keep 5
      - name: save baselines
        uses: actions/cache/save@v4
        with:
          path: .loadorch/baselines
          key: loadorch-baselines-${{ github.ref_name }}-${{ github.run_id }}
      - name: step summary
        if: always()
        run: cat results/staging/summary.md >> "$GITHUB_STEP_SUMMARY"
      - name: test results
        if: always()
        uses: mikepenz/action-junit-report@v5
        with: {report_paths: results/staging/junit.xml, check_name: load test thresholds}
      - uses: actions/upload-artifact@v4
        if: always()
        with: {name: loadtest-results, path: results/staging}
"""
GITLAB = """\
# Include from .gitlab-ci.yml:  include: {local: .gitlab-ci.loadorch.yml}
loadtest:
  image: python:3.11-slim
  resource_group: loadtest-staging   # one load test against staging at a time
  variables:
    STAGING_URL: $STAGING_URL   # STAGING_TOKEN: a masked CI/CD variable
    # EDIT: loadorch is not on PyPI (a package of that name there is not ours): install it from its
    # repository, pinned to a tag or commit you have reviewed.
    LOADORCH_PIP_SPEC: "loadorch @ git+https://REPLACE-WITH-LOADORCH-REPOSITORY@REPLACE-WITH-TAG-OR-COMMIT"
  script:
    - case "$LOADORCH_PIP_SPEC" in *REPLACE-WITH*) echo "edit LOADORCH_PIP_SPEC" >&2; exit 1;; esac
    - python -m pip install "$LOADORCH_PIP_SPEC"
    # load-performance.json: k6's summary shape, shown by GitLab's Load Performance merge-request widget
    - python -m loadorch run staging --out results/staging --summary-export load-performance.json
  after_script:
    - cat results/staging/summary.md
  artifacts:
    when: always
    paths: [results/staging, load-performance.json]
    reports:
      junit: results/staging/junit.xml
      load_performance: load-performance.json
"""
JENKINS = """\
// Jenkinsfile snippet: a stage of your pipeline, or this whole file as a pipeline job's script.
pipeline {
    agent any
    options {
        disableConcurrentBuilds()   // one load test against staging at a time
        timeout(time: 30, unit: 'MINUTES')
    }
    environment {
        STAGING_URL = credentials('staging-url')
        STAGING_TOKEN = credentials('staging-token')
        // EDIT: loadorch is not on PyPI (a package of that name there is not ours): install it from its
        // repository, pinned to a tag or commit you have reviewed.
        LOADORCH_PIP_SPEC = 'loadorch @ git+https://REPLACE-WITH-LOADORCH-REPOSITORY@REPLACE-WITH-TAG-OR-COMMIT'
    }
    stages {
        stage('load test') {
            steps {
                sh '''
                    case "$LOADORCH_PIP_SPEC" in *REPLACE-WITH*) echo "edit LOADORCH_PIP_SPEC" >&2; exit 1;; esac
                    python3 -m venv .loadorch && . .loadorch/bin/activate
                    python -m pip install "$LOADORCH_PIP_SPEC"
                    python -m loadorch run staging --out results/staging
                '''
            }
        }
    }
    post {
        always {
            junit testResults: 'results/staging/junit.xml', allowEmptyResults: false
            archiveArtifacts artifacts: 'results/staging/**', allowEmptyArchive: true
        }
    }
}
"""
README_SECTION = """
## Load testing

Load tests run with loadorch: `scenarios/` says what traffic looks like, `profiles/` where and how hard
to send it. loadorch is not on PyPI, and a package of that name there is not ours: install it from its
repository, pinned to a reviewed tag or commit (the same spec as `LOADORCH_PIP_SPEC` in the CI files).

```sh
python -m pip install "loadorch @ git+https://REPLACE-WITH-LOADORCH-REPOSITORY@REPLACE-WITH-TAG-OR-COMMIT"
loadorch run local       # on this machine: 10 users on 2 worker processes for 20 s, embedded target
loadorch run staging     # the CI gate (STAGING_URL and STAGING_TOKEN set); exit code 0 = passed
loadorch budgets         # the thresholds every profile gates on
```

Each run leaves `results/<profile>-<timestamp>/` with `report.html`, `summary.md`, `junit.xml` and
`results.json`; `loadorch compare OLD NEW` tells whether a change made things slower. In CI each branch keeps
its own baseline (`loadorch baseline save`, `loadorch run staging --baseline BRANCH`, the store cached by branch).

Live numbers while a run goes: `--dashboard` (a page on 127.0.0.1), `--metrics-port 9464` (Prometheus
scrape) or `--remote-write URL` (push); `monitoring/prometheus.yml` has the Prometheus snippets.
"""


def init_project(folder: str, openapi_path: str | None, force: bool) -> int:
    scenario_name, scenario_text, host = "shop", SHOP_SCENARIO, "embedded"
    if openapi_path:
        spec = _load_spec(openapi_path)
        try:
            data = scenario_from_openapi(spec)
        except OpenApiError as exc:
            raise ConfigError([Problem(openapi_path, None, "", str(exc))]) from None
        scenario_name = data["name"]
        scenario_text = f"# Generated by `loadorch init --from-openapi {os.path.basename(openapi_path)}`: review it.\n"
        scenario_text += yaml.dump(
            data, Dumper=_PlainDumper, sort_keys=False, allow_unicode=True, width=120, default_flow_style=None
        )
        # what init writes, `validate` accepts: a document the scenario model refuses stops here (exit 3)
        validate_document(Scenario, parse(scenario_text, f"scenarios/{scenario_name}.yaml"))
        host = _server(spec)
    fields = {"scenario": scenario_name, "host": host}
    files: Mapping[str, str] = {
        f"scenarios/{scenario_name}.yaml": scenario_text,
        "profiles/local.yaml": PROFILE_LOCAL.format(**fields),
        "profiles/smoke.yaml": PROFILE_SMOKE.format(**fields),
        "profiles/staging.yaml": PROFILE_STAGING.format(**fields),
        ".github/workflows/loadtest.yml": GITHUB,
        ".gitlab-ci.loadorch.yml": GITLAB,
        "Jenkinsfile.loadorch": JENKINS,
        "monitoring/prometheus.yml": PROMETHEUS_SNIPPET,
    }
    written, skipped = [], []
    for rel, text in files.items():
        path = os.path.join(folder, rel)
        if os.path.exists(path) and not force:
            skipped.append(rel)
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
        written.append(rel)
    written += _readme(folder)
    for rel in written:
        print(f"wrote   {rel}")
    for rel in skipped:
        print(f"kept    {rel} (exists; --force replaces it)")
    print(f"next: cd {folder} && loadorch run local" if folder != "." else "next: loadorch run local")
    return ExitCode.OK


def _readme(folder: str) -> list[str]:
    path = os.path.join(folder, "README.md")
    existing = ""
    if os.path.exists(path):
        with open(path, encoding="utf-8") as fh:
            existing = fh.read()
        if "## Load testing" in existing:
            return []
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(README_SECTION if existing else "# Project\n" + README_SECTION)
    return ["README.md (Load testing section)"]


def _load_spec(path: str) -> dict:  # type: ignore[type-arg]
    """The document as data, bounded like every file loadorch reads: size, depth and alias expansion."""
    text = read_text(path)
    if text.lstrip().startswith("{"):
        try:
            spec = json.loads(text)
        except ValueError as exc:
            raise ConfigError([Problem(path, None, "", f"not valid JSON: {exc}")]) from None
        except RecursionError:
            spec = None
        if spec is None or _depth(spec) > MAX_DEPTH:
            raise ConfigError([Problem(path, None, "", f"nested too deeply (limit {MAX_DEPTH} levels)")])
    else:
        spec = parse(text, path).data  # YAML: alias bombs and deep nesting are refused with a line number
    if not isinstance(spec, dict):
        raise ConfigError([Problem(path, None, "", "not an OpenAPI document")])
    return spec


def _server(spec: dict) -> str:  # type: ignore[type-arg]
    for server in spec.get("servers") or []:
        url = str(server.get("url", "")) if isinstance(server, dict) else ""
        if url.startswith(("http://", "https://")) and "{" not in url:
            return url.rstrip("/")
    return "${API_URL:-http://127.0.0.1:8080}"


class _PlainDumper(yaml.SafeDumper):
    """No anchors or aliases in generated files: each value is written out where it is used."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def _depth(value: object) -> int:
    """Nesting depth, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            break
        if isinstance(node, dict):
            stack += [(v, level + 1) for v in node.values()]
        elif isinstance(node, list):
            stack += [(v, level + 1) for v in node]
    return deepest
