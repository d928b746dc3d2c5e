"""Evaluation (pure): thresholds and verdicts, integrity checks, the basis and compare of two runs."""
