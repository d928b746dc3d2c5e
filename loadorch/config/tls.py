"""The profile's `tls:` settings (a custom CA bundle, a client certificate for mTLS), checked when the
profile is loaded, and the one SSL context the workers and preflight build from them."""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from functools import lru_cache

from pydantic import Field, model_validator

from loadorch.config.base import Strict


class TlsSettings(Strict):
    """Paths are relative to the profile file; `client_key_password` is a secret (give it as ${VAR})."""

    ca_bundle: str | None = Field(None, min_length=1)  # PEM: the CAs to trust instead of the system's
    client_cert: str | None = Field(None, min_length=1)  # PEM certificate (may hold the key too)
    client_key: str | None = Field(None, min_length=1)  # PEM private key, when not in client_cert
    client_key_password: str | None = Field(None, repr=False)

    @model_validator(mode="after")
    def _pairs(self) -> TlsSettings:
        if self.client_key is not None and self.client_cert is None:
            raise ValueError("client_key needs client_cert (the certificate the key belongs to)")
        if self.client_key_password is not None and self.client_cert is None:
            raise ValueError("client_key_password needs client_cert and a key")
        return self


def tls_problems(settings: TlsSettings, base_dir: str) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """(the settings with absolute paths, [(field, message)]): every file exists and loads now, so no
    worker fails on them later. Messages never contain the key's password."""
    paths: dict[str, str] = {}
    problems: list[tuple[str, str]] = []
    for name in ("ca_bundle", "client_cert", "client_key"):
        value = getattr(settings, name)
        if value is None:
            continue
        path = os.path.normpath(os.path.join(base_dir, os.path.expanduser(value)))
        if not os.path.isfile(path):
            problems.append((name, f"file not found: {path}"))
        paths[name] = path
    if problems:
        return paths, problems
    if "ca_bundle" in paths:
        try:
            ssl.create_default_context(cafile=paths["ca_bundle"])
        except (ssl.SSLError, OSError, ValueError) as exc:
            problems.append(("ca_bundle", f"cannot load {paths['ca_bundle']} as PEM certificates ({_reason(exc)})"))
    if "client_cert" in paths:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        try:
            context.load_cert_chain(
                paths["client_cert"], paths.get("client_key"), password=_password(settings.client_key_password)
            )
        except (ssl.SSLError, OSError, ValueError) as exc:
            field = "client_key" if "client_key" in paths else "client_cert"
            problems.append(
                (
                    field,
                    f"cannot load the client certificate and key ({_reason(exc)}): both PEM, the key matching the "
                    "certificate, and client_key_password set if the key is encrypted",
                )
            )
    return paths, problems


def _password(value: str | None) -> str | bytes | None:
    # an encrypted key and no password: refuse instead of letting OpenSSL prompt on the terminal
    return value if value is not None else b""


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "reason", None) or getattr(exc, "strerror", None) or type(exc).__name__)


def context_for(tls: Mapping[str, str | None] | None) -> ssl.SSLContext:
    """The client context for a plan's `tls` (None: the system's CAs, or SSL_CERT_FILE)."""
    if tls is None:
        return ssl.create_default_context()
    return client_context(
        tls.get("ca_bundle"), tls.get("client_cert"), tls.get("client_key"), tls.get("client_key_password")
    )


@lru_cache(maxsize=8)
def client_context(
    ca_bundle: str | None, client_cert: str | None, client_key: str | None, password: str | None
) -> ssl.SSLContext:
    """The verifying client context: the CA bundle (else the system's, or SSL_CERT_FILE) and the client
    certificate; built once per process and shared by every connection."""
    context = ssl.create_default_context(cafile=ca_bundle)
    if client_cert is not None:
        context.load_cert_chain(client_cert, client_key, password=_password(password))
    return context
