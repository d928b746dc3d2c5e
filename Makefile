# Targets mirror what CI runs (.ci/run). tests/run installs what the tests need (apt-get, npm, pip) and runs them.
.PHONY: install test containers unit lint typecheck ci run-local bench

install:
	tests/run --install-only
	python3 -m pip install -e '.[test]'

lint:
	python3 -m ruff check loadorch tests benchmarks

typecheck:
	python3 -m mypy

test:
	tests/run

containers:
	tests/run --containers

unit:
	python3 -m pytest -q tests/unit tests/test_cli.py

ci:
	bash .ci/run

run-local:
	python3 -m loadorch run local

bench:
	python3 benchmarks/bench.py
