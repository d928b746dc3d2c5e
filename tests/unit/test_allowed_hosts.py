"""allowed_hosts: which hosts a run may load, by name pattern and by network (pure)."""

from __future__ import annotations

import pytest

from loadorch.errors import SafetyError
from loadorch.hosts import check_allowed


@pytest.mark.parametrize(("url", "allowed", "addresses"), [
    ("http://127.0.0.1:8080", [], ["127.0.0.1"]),
    ("http://api.staging.example.com", ["*.staging.example.com"], ["10.1.2.3"]),
    ("http://api.staging.example.com", ["*.staging.example.com", "10.0.0.0/8"], ["10.1.2.3"]),
    ("http://10.1.2.3", ["10.0.0.0/8"], ["10.1.2.3"]),
    # an address inside the networks is allowed even when name patterns are listed too
    ("http://127.0.0.5:8080", ["127.0.0.0/8", "*.staging.example.com"], ["127.0.0.5"]),
])
def test_allowed(url: str, allowed: list[str], addresses: list[str]) -> None:
    check_allowed(url, allowed, addresses)


@pytest.mark.parametrize(("url", "allowed", "addresses"), [
    ("http://10.1.2.3", [], ["10.1.2.3"]),
    ("http://api.prod.example.com", ["*.staging.example.com"], ["10.1.2.3"]),
    # a matching name that resolves outside the listed networks
    ("http://api.staging.example.com", ["*.staging.example.com", "10.0.0.0/8"], ["192.0.2.1"]),
    ("http://192.0.2.1", ["127.0.0.0/8", "*.staging.example.com"], ["192.0.2.1"]),
])
def test_refused(url: str, allowed: list[str], addresses: list[str]) -> None:
    with pytest.raises(SafetyError):
        check_allowed(url, allowed, addresses)
