"""What the tests share that is not a fixture: temporary projects and the CLI (project.py), the external
programs some tests need (tools.py). Fixtures stay in the conftest.py files."""
