"""Processes and virtual users that die: never a silent pass, and their logs are kept in the run folder."""

from __future__ import annotations

from tests.support.project import Project, assert_no_traceback

from .helpers import embedded_project


def test_a_virtual_user_that_dies_makes_the_run_an_error(project: Project) -> None:
    # a python user whose on_start raises: Locust lets it out of the user (a declarative user's own errors, such as a
    # placeholder its capture cannot fill, fail their request instead: tests/integration/test_rendering.py)
    project.write("scenarios/users.py", """
        from locust import HttpUser, task


        class Buyer(HttpUser):
            def on_start(self) -> None:
                raise KeyError("no session for this buyer")

            @task
            def health(self) -> None:
                self.client.get("/health")
        """)
    embedded_project(project, "name: dying\nusers:\n  - python: users.py:Buyer\nkinds: {'*': read}\n", users=2)
    r = project.run("run", "p", "--iterations", "20", "--out", "o")
    assert r.code == 5, r.out + r.err
    assert "virtual users stopped on an error" in r.out and "(Buyer) on worker 0: KeyError" in r.out, r.out
    doc = project.results("o")
    assert doc["verdict"] == "error"
    failed = doc["integrity"]["virtual_users_failed"]
    assert sorted(f["slot"] for f in failed) == [0, 1] and {f["user_class"] for f in failed} == {"Buyer"}
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
    # code 3: the worker says a python user's import failure itself, masked (runtime/worker.py), and exits
    assert "worker 0 exited with code 3 before the run started; its log: o/logs/worker-0.log" in r.out + r.err
    log = (project.root / "o" / "logs" / "worker-0.log").read_text()
    assert "RuntimeError: this user class breaks inside a worker" in log
    assert project.results("o")["verdict"] == "error"
