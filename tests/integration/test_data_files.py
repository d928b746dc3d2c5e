"""CSV data reaches the workers as a file (not inside the run plan) and is drawn there."""

from __future__ import annotations

from tests.support.project import Project

from .helpers import embedded_project, request_log


def test_workers_draw_csv_rows_read_from_the_file(project: Project) -> None:
    project.write("scenarios/accounts.csv", "email,tier\n" + "".join(f"u{i}@example.com,t{i % 3}\n" for i in range(50)))
    scenario = """
        name: csv
        data:
          acc: {csv: {file: accounts.csv, order: sequential}}
          tier: {csv: {file: accounts.csv, column: tier}}
        users:
          - name: u
            requests:
              - {name: h, path: "/health?e={acc.email}&t={tier}"}
        """
    embedded_project(project, scenario, users=2, workers=2)
    r = project.run("run", "p", "--iterations", "3", "--request-log", "--out", "o")
    assert r.code in (0, 6), r.err
    rows = request_log(project.root / "o")
    assert len(rows) == 6 and {row["worker"] for row in rows} == {0, 1}
    emails = sorted(row["path"].split("e=")[1].split("&")[0] for row in rows)
    # sequential order: user slot s takes rows s, s+2, s+4 (slots interleave)
    assert emails == sorted(f"u{i}%40example.com" for i in range(6)), emails
    assert all(row["path"].split("t=")[1] in ("t0", "t1", "t2") for row in rows)
