"""Scenario and profile files: YAML with line numbers, models, checks, thresholds, precedence (pure)."""
