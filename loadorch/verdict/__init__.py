"""Histograms, merged stats, threshold evaluation, integrity checks and compare (pure)."""
