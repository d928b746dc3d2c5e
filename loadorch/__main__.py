"""`python -m loadorch` entry point."""

from loadorch.cli import console_main

console_main()
