"""`python -m loadorch` entry point."""

from loadorch.cli import main

raise SystemExit(main())
