"""The embedded reference target: a small real shop API used by `host: embedded` and the tests."""
