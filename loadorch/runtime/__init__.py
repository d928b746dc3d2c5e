"""The Locust runtime: code that runs inside the master and worker processes.

Only modules in this folder import locust or gevent (tests/unit/test_layers.py checks it); the
orchestrator starts these processes (`python -m loadorch.runtime ...`) and never imports them.
"""
