"""Kubernetes manifests and the artifact framing of the master's log (pure)."""
