"""Rendering results: results.json, summary, HTML, charts, JUnit (pure)."""
