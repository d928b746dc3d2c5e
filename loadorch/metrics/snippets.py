"""Prometheus configuration snippets for live metrics, written by `loadorch init` and shown in the README."""

from __future__ import annotations

PROMETHEUS_SNIPPET = """\
# Live metrics of loadorch runs in Prometheus: pick one of the two ways.
#
# 1. Scrape: `loadorch run staging --metrics-port 9464` serves /metrics on 127.0.0.1:9464 while the run
#    goes (--metrics-bind 0.0.0.0 to reach it from elsewhere; on Kubernetes, `loadorch k8s render
#    --metrics-port 9464` adds a port named "metrics" to the master Service). The endpoint stays up
#    30s after the run (--metrics-grace) so the final values get scraped. In prometheus.yml:
scrape_configs:
  - job_name: loadorch
    scrape_interval: 15s
    static_configs:
      - targets: ["127.0.0.1:9464"]
#
# 2. Push (CI jobs, Kubernetes Jobs): `loadorch run staging --remote-write https://prometheus.example.com/api/v1/write`
#    pushes every 5s and once at the end (Prometheus needs --web.enable-remote-write-receiver, or use any
#    remote-write endpoint). Credentials come from the environment, never from the URL:
#    LOADORCH_REMOTE_WRITE_BEARER_TOKEN, or LOADORCH_REMOTE_WRITE_BASIC_AUTH=user:password.
#    A failed push is a warning ("metrics push failed"), never a failed gate.
#
# Grafana: import dashboards/loadorch.json from the loadorch repository (threshold states, observed
# values against limits, throughput, latency, users, arrival rates, workers, generator CPU).
"""
