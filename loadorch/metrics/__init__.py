"""Live metrics: the Prometheus exposition, remote-write push and the live page of a running load test."""
