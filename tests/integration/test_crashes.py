"""Processes and virtual users that die: never a silent pass, and their logs are kept in the run folder."""

from __future__ import annotations

from tests.support.project import Project, assert_no_traceback

from .helpers import embedded_project


def test_a_virtual_user_that_dies_makes_the_run_an_error(project: Project) -> None:
    # `{order_id.x}` passes validation (a capture's shape is known only at run time) and fails in the user's loop
    scenario = """
name: dying
users:
  - name: buyer
    requests:
      - {name: order, method: POST, path: /orders, json: {customer: c, product_id: 1}, capture: {order_id: "$.id"}}
      - {name: get order, path: "/orders/{order_id.x}"}
"""
    embedded_project(project, scenario, users=2)
    r = project.run("run", "p", "--iterations", "20", "--out", "o")
    assert r.code == 5, r.out + r.err
    assert "virtual users stopped on an error" in r.out and "(buyer) on worker 0: KeyError" in r.out
    doc = project.results("o")
    assert doc["verdict"] == "error"
    failed = doc["integrity"]["virtual_users_failed"]
    assert sorted(f["slot"] for f in failed) == [0, 1] and {f["user_class"] for f in failed} == {"buyer"}
    assert (project.root / "o" / "logs" / "worker-0.log").exists()  # the worker exited normally, but the run failed
    assert_no_traceback(r)


def test_a_worker_that_crashes_at_start_up_leaves_its_log(project: Project) -> None:
    project.write("scenarios/users.py", """
        import os

        from locust import HttpUser, task

        if os.environ.get("LOADORCH_WORKER_INDEX") is not None:  # the worker only, not the import check
            raise RuntimeError("this user class breaks inside a worker")


        class Shopper(HttpUser):
            @task
            def health(self) -> None:
                self.client.get("/health")
        """)
    embedded_project(project, "name: crash\nusers:\n  - python: users.py:Shopper\n", users=1)
    r = project.run("run", "p", "--out", "o")
    assert r.code == 5, r.out + r.err
    assert "worker 0 exited with code 1 before the run started; its log: o/logs/worker-0.log" in r.out + r.err
    log = (project.root / "o" / "logs" / "worker-0.log").read_text()
    assert "RuntimeError: this user class breaks inside a worker" in log
    assert project.results("o")["verdict"] == "error"
