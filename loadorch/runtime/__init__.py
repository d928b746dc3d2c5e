"""The Locust runtime: code that runs inside the master and worker processes.

Only `loadorch.runtime.master`, `loadorch.runtime.worker` and `loadorch.runtime.users` import locust
(and so gevent); the orchestrator never imports them.
"""
