"""The imperative shell of a run: phases, processes, preflight, setup, signals, artifacts."""
