"""`client: locust`: requests through Locust's FastHttpSession, for what the lean path does not do
(cookies kept across requests, redirects followed). Measured, checked and recorded like the lean path."""

from __future__ import annotations

import time
from typing import Any

from locust.contrib.fasthttp import FastHttpSession
from locust.env import Environment

from loadorch.traffic.request import CompiledRequest, Origin, Outcome, check, encode_body, quote_path, service_us
from loadorch.traffic.template import Lookup


class LocustClientRunner:
    """A RequestRunner over geventhttpclient, with cookies and redirects."""

    def __init__(self, origin: Origin, timeout: float, environment: Environment) -> None:
        base = f"{origin.scheme}://{origin.host_header}"
        self.prefix = origin.prefix
        self.timeout = timeout
        self.session = FastHttpSession(
            base,
            environment.events.request,
            None,
            insecure=False,
            connection_timeout=min(timeout, 10.0),
            network_timeout=timeout,
        )

    def close(self) -> None:
        self.session.client.clientpool.close()

    def run(
        self,
        req: CompiledRequest,
        lookup: Lookup,
        captured: dict[str, Any],
        intended: float | None = None,
    ) -> Outcome:
        path = self.prefix + req.path.render_text(lookup, quote_path)
        headers = dict(req.static_headers)  # Content-Type for json and form bodies included
        headers.update((name, template.render_text(lookup)) for name, template in req.dynamic_headers)
        body = encode_body(req, lookup)
        start = time.perf_counter()
        origin = start if intended is None else min(intended, start)
        resp: Any = self.session.request(req.method, path, name=req.name, data=body, headers=headers)  # type: ignore[arg-type]
        end = time.perf_counter()
        service = service_us(intended, start, end)
        latency = int((end - origin) * 1e6)
        status = int(resp.status_code or 0)
        if status == 0:
            return Outcome(0, False, f"request failed: {resp.error}"[:200], latency, path, body, service)
        error = check(req, status, resp.content or b"", lookup, captured)
        return Outcome(status, error is None, error, latency, path, body, service)
