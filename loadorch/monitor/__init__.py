"""Synthetic monitoring (pure): rolling windows of fixed-size histograms, the status document and page."""
