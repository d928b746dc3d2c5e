"""The integration tests' shared PostgreSQL cluster is the `postgres` fixture of tests/conftest.py (the
README's database example in tests/test_readme.py uses it too)."""
