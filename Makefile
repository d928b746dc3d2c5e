# Targets mirror what CI runs (.ci/run).
.PHONY: install test unit lint typecheck ci run-local bench

install:
	python3 -m pip install -e '.[test]'

lint:
	python3 -m ruff check loadorch tests benchmarks

typecheck:
	python3 -m mypy

test:
	python3 -m pytest -q -n 2 --dist loadgroup

unit:
	python3 -m pytest -q tests/unit tests/test_cli.py

ci:
	bash .ci/run

run-local:
	python3 -m loadorch run local

bench:
	python3 benchmarks/bench.py
