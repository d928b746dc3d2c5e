"""Sampling profiles of the target (pure): read, ranked by own time, drawn as a flame graph."""
