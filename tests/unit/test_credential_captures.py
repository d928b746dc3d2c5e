"""Which captures are a user's credentials (compile time, pure), and a user's masks of them (client/vu.py)."""

from __future__ import annotations

import json

from loadorch.client.vu import UserCredentials
from loadorch.config.scenario import Endpoint
from loadorch.traffic.redact import MASK, Redactor
from loadorch.traffic.request import (
    CREDENTIAL_LEAVES,
    compile_request,
    credential_captures,
    credential_texts,
    credential_values,
)

TOKEN = "tok-0123456789abcdef"


def _compiled(specs: list[dict], common: dict[str, str] | None = None) -> list:
    names = {name for spec in specs for name in spec.get("capture", {})}
    return credential_captures([compile_request(Endpoint.model_validate(spec), spec["name"], "read", names,
                                                common or {}) for spec in specs])


def test_a_capture_sent_in_a_credential_header_is_marked_and_one_only_in_a_path_is_not() -> None:
    reqs = _compiled([
        {"name": "login", "method": "POST", "path": "/login", "capture": {"token": "$.token", "uid": "$.id"}},
        {"name": "me", "path": "/users/{uid}", "headers": {"Authorization": "Bearer {token}"}},
    ])
    assert [name for name, _ in reqs[0].secret_captures] == ["token"]  # uid only in a path: not a credential
    assert reqs[1].secret_captures == ()
    # the scenario's common headers count too (an X-Api-Key every request sends)
    common = _compiled([{"name": "login", "path": "/login", "capture": {"key": "$.key"}}, {"name": "a", "path": "/a"}],
                       {"X-Api-Key": "{key}"})
    assert [name for name, _ in common[0].secret_captures] == ["key"]
    plain = _compiled([{"name": "login", "path": "/login", "capture": {"id": "$.id"}}, {"name": "a", "path": "/{id}"}])
    assert all(r.secret_captures == () for r in plain)


def test_a_users_mask_holds_the_token_in_use_not_one_a_failed_login_returned() -> None:
    login = _compiled([{"name": "login", "path": "/login", "capture": {"token": "$.token"}},
                       {"name": "me", "path": "/me", "headers": {"Authorization": "Bearer {token}"}}])[0]
    base = Redactor(["run-secret-value"])
    body = json.dumps({"token": TOKEN, "short": 1}).encode()
    assert credential_values(login, body) == {"token": (TOKEN,)}
    assert credential_values(login, b"not json") == {} and credential_values(login, b'{"token": "short"}') == {}
    tokens = UserCredentials()
    shown = tokens.found(login, body, base)
    assert shown.text(f"/a/{TOKEN} run-secret-value") == f"/a/{MASK} {MASK}" and tokens.mask is None
    mask = tokens.keep(login, {"token": TOKEN}, base)  # the check held: captured
    assert mask is not None and mask.text(f"/files/{TOKEN}") == f"/files/{MASK}"
    assert mask.text("run-secret-value") == MASK  # the run's own secrets too
    other = "tok-fedcba9876543210"
    tokens.found(login, json.dumps({"token": other}).encode(), base)  # a failed login: its token not captured
    assert tokens.keep(login, {"token": TOKEN}, base) is mask  # the token in use stays the mask
    newer = tokens.keep(login, {"token": other}, base)  # a later login captured a new one: it replaces the last
    assert newer is not None and newer.text(other) == MASK and newer.text(TOKEN) == TOKEN


def test_a_captured_object_masks_its_strings_and_numbers_bounded() -> None:
    """`capture: {auth: "$.auth"}` then `Authorization: Bearer {auth.access_token}`: the object is captured, a
    leaf of it is sent; every string and number of it long enough is masked, at most CREDENTIAL_LEAVES of them."""
    login = _compiled([{"name": "login", "path": "/login", "capture": {"auth": "$.auth"}},
                       {"name": "me", "path": "/me", "headers": {"Authorization": "Bearer {auth.access_token}"}}])[0]
    assert [name for name, _ in login.secret_captures] == ["auth"]
    auth = {"access_token": TOKEN, "expires_in": 3600, "refresh": {"token": "ref-0123456789"}, "scopes": ["a", True]}
    assert credential_texts(auth) == (TOKEN, "ref-0123456789")  # 3600, "a" and True: too short or not text
    tokens = UserCredentials()
    mask = tokens.keep(login, {"auth": auth}, Redactor())
    assert mask is not None and mask.text(f"/files/{TOKEN}?r=ref-0123456789") == f"/files/{MASK}?r={MASK}"
    many = {f"k{i}": f"value-{i:010d}" for i in range(100)}
    assert len(credential_texts(many)) == CREDENTIAL_LEAVES
    assert len(credential_texts([[[[many]]]] * 50)) == CREDENTIAL_LEAVES
