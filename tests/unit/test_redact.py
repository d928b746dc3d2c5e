"""Redaction of values in every encoding; documents keep their structure; host credentials; env values are data."""

from __future__ import annotations

import base64
import html
import json
import xml.etree.ElementTree as ET
from urllib.parse import quote, quote_plus

from loadorch.config.envsubst import (
    escape_braces,
    interpolate,
    scenario_template_path,
    short_secret_warnings,
)
from loadorch.config.hostauth import split_credentials
from loadorch.config.yamlsource import parse
from loadorch.report.junit import Case, render_cases
from loadorch.traffic.redact import (
    MASK,
    Redactor,
    credential_params_in,
    credentials,
    masked_reason,
    query_credentials,
    query_secrets_in,
    target_params,
)
from loadorch.traffic.servertiming import parse as parse_server_timing
from loadorch.traffic.template import compile_template

SECRET = 's3cr3t/Tok+en==<"é">{x}'


def test_every_encoding_the_product_produces_is_masked() -> None:
    r = Redactor([SECRET])
    for form in (SECRET, quote(SECRET, safe="-_.~"), quote(SECRET), quote_plus(SECRET), json.dumps(SECRET)[1:-1],
                 json.dumps(SECRET, ensure_ascii=False)[1:-1], html.escape(SECRET), html.escape(SECRET, quote=False),
                 escape_braces(SECRET), base64.b64encode(SECRET.encode()).decode()):
        assert r.text(f"before {form} after") == f"before {MASK} after", form


def test_a_secret_a_target_echoes_json_escaped_its_own_way_is_masked() -> None:
    """A target's JSON escapes differently from Python's: PHP's json_encode writes `/` as `\\/`, Go's
    encoding/json writes `<`, `>` and `&` as `\\u003c`, `\\u003e`, `\\u0026`. An error body that echoes a
    token so, shown as a failed check's example, kept the token whole."""
    secret = "CANARYtok/9f3e+1b7c=2d&<é>"
    r = Redactor([secret])
    php = json.dumps(secret).replace("/", "\\/")[1:-1]  # CANARYtok\/9f3e+1b7c=2d&<\u00e9>
    php_utf8 = json.dumps(secret, ensure_ascii=False).replace("/", "\\/")[1:-1]
    go = secret.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
    for form in (php, php_utf8, go):
        assert form != secret and r.text(f'{{"error": "bad token {form}"}}') == '{"error": "bad token ***"}', form


def test_documents_keep_their_structure_when_a_secret_is_a_common_word() -> None:
    r = Redactor(["pass", "test"])
    doc = {"verdict": "pass", "checks": [{"name": "latest test", "verdict": "pass", "message": "pass 3"}],
           "endpoints": {"test pass": {"kind": "read", "count": 1}}}
    out = r.obj(doc)
    assert out["verdict"] == "pass" and out["checks"][0]["verdict"] == "pass"
    assert out["checks"][0]["name"] == "la*** ***" and out["checks"][0]["message"] == "*** 3"
    assert list(out["endpoints"]) == ["*** ***"] and out["endpoints"]["*** ***"]["kind"] == "read"
    xml = render_cases("suite test", "2026-01-01T00:00:00", "h", 1.0,
                       [Case("test case", "loadorch.thresholds", 0, "failure", "threshold", "a test failed")],
                       [("verdict", "pass")], "test output", redact=r.value)
    root = ET.fromstring(xml)  # still parses
    assert root.find("testcase").get("name") == "*** case"
    assert root.find("properties/property").get("value") == "pass"
    assert r.json_lines('{"name":"test","status":200,"path":"/a/test"}\n') == '{"name":"***","status":200,"path":"/a/***"}\n'


def test_short_secrets_are_warned_about() -> None:
    warnings = short_secret_warnings({"SHOP_TOKEN": "pass", "LONG_TOKEN": "x" * 20})
    assert len(warnings) == 1 and "SHOP_TOKEN is only 4 characters" in warnings[0]
    assert "pass" not in warnings[0].replace("SHOP_TOKEN", "")


def test_host_credentials_become_basic_auth_and_secrets() -> None:
    host, creds = split_credentials("https://ad%40min:p%2Fss@api.example.com:8443/base")
    assert host == "https://api.example.com:8443/base"
    assert creds is not None
    assert creds.header == "Basic " + base64.b64encode(b"ad@min:p/ss").decode()
    assert {"p/ss", "p%2Fss", "ad@min:p/ss"} <= creds.secrets
    assert split_credentials("http://127.0.0.1:8080") == ("http://127.0.0.1:8080", None)


def test_environment_values_are_data_not_templates() -> None:
    doc = parse('headers: {A: "Bearer ${T}"}\nusers:\n  - requests: [{path: "/x/${T}", json: {a: "${T}"}}]\n'
                'data: {d: {value: "${T}"}}\n', "s.yaml")
    interpolate(doc, {"T": "ab{cd}-x"}, is_template=scenario_template_path)
    assert doc.data["headers"]["A"] == "Bearer ab{{cd}}-x"
    assert doc.data["users"][0]["requests"][0]["path"] == "/x/ab{{cd}}-x"
    assert doc.data["users"][0]["requests"][0]["json"]["a"] == "ab{{cd}}-x"
    assert doc.data["data"]["d"]["value"] == "ab{cd}-x"  # data, not a template: kept as is
    assert compile_template(doc.data["headers"]["A"]).render(lambda name: None) == "Bearer ab{cd}-x"


def test_host_errors_never_repeat_credentials() -> None:
    from loadorch.config.profile import host_url_problem

    problem = host_url_problem("http://admin:hunter2pw@shop.example.com:99999")
    assert problem and "hunter2pw" not in problem and "***@shop.example.com" in problem


def test_cut_masks_first_and_leaves_no_prefix_of_a_secret_at_the_cut() -> None:
    r = Redactor(["CANARYtok-9f3e1b7c"])
    text = "x" * 50 + "CANARYtok-9f3e1b7c and more"
    assert r.cut(text, 60) == "x" * 50 + MASK + " and..."  # masked, then cut: the mask is whole
    assert r.cut("x" * 54 + "CANARYtok-9f3e1b7c", 60) == "x" * 54 + MASK  # fits once masked
    near = "x" * 50 + "CANARYtoZZZZZZZZZZ"  # not the secret, but its first 7 characters would end the cut text
    assert r.cut(near, 60) == "x" * 50 + "..."
    assert Redactor().cut("y" * 70, 60) == "y" * 57 + "..."


def test_a_requests_own_credentials_are_masked_in_every_encoding_by_its_own_redactor() -> None:
    """A rendered header (a captured token): the part after the scheme, each cookie value, an API key whole;
    values under 8 characters are left. The run's redactor is not changed."""
    token = "cap+Tok/abc123=="
    assert credentials("Authorization", f"Bearer {token}") == {token}
    assert credentials("Cookie", f"sid={token}; lang=en") == {token}
    assert credentials("X-Api-Key", token) == {token}
    assert credentials("X-Auth-Token", "short") == set()
    run = Redactor(["declared-secret"])
    mine = run.plus(credentials("Proxy-Authorization", f"Bearer {token}"))
    for form in (token, quote(token, safe=""), quote_plus(token), base64.b64encode(token.encode()).decode()):
        assert mine.text(f"x {form} y") == "x *** y" and run.text(form) == form
    assert mine.text("declared-secret") == "***"
    assert run.plus(set()) is run


def test_a_credential_query_parameter_shows_stars_in_a_request_target() -> None:
    shown = target_params("/echo?sid=abc&page=1&access_token=x#code=y")
    assert shown == "/echo?sid=***&page=1&access_token=***#code=***"
    assert target_params("/products/1?q=shoes") == "/products/1?q=shoes"
    assert target_params("/plain") == "/plain"


def test_server_timing_masks_every_desc_with_a_requests_own_redactor() -> None:
    mine = Redactor(["cap+Tok/abc123=="])
    value = 'app;dur=5;desc="Bearer cap+Tok/abc123=="'
    assert parse_server_timing(value, mine, whole=True) == [("app", 5.0, "Bearer ***")]


def test_server_timing_masks_the_credential_pairs_a_desc_echoes_which_no_secret_declares() -> None:
    """A target's desc echoing the request target it was sent (`?token=...`, written literally in a scenario) or
    its own `sig=... token=...`: no mask of the run knows them, and the desc is a metric's label, a status page's
    and every artifact's evidence; its other words and pairs are kept."""
    value = ('cache;desc="/a?token=QUERYLIT0042&x=1", app;dur=3;desc="sig=UNDECLSIG0042 token=UNDECLTOK0042", '
             'db;desc="token=ONLYPAIR0042", hit;desc=hit, q;desc="rows=3, session_id=SESS0042;k=v"')
    assert parse_server_timing(value) == [
        ("cache", None, "/a?token=***&x=1"), ("app", 3.0, "sig=*** token=***"), ("db", None, "token=***"),
        ("hit", None, "hit"), ("q", None, "rows=3, session_id=***;k=v")]


def test_server_timing_masks_the_credentials_after_an_authorization_scheme_which_no_secret_declares() -> None:
    """A target's desc with a credential no mask of the run knows and no `name=` announces (`Bearer eyJ...`, a
    `Basic` user:password, a token it issued): masked after its scheme, whatever the case; short words after a
    scheme word stay ("the basic plan"), and the other entries and words are kept."""
    value = ('auth;desc="Bearer eyJhbGciOiJIUzI1NiJ9.UNDECL0042", up;desc="basic dXNlcjpwYXNz", '
             'x;desc="issued token Zm9vYmFyYmF6cXV4, user=bob", plan;desc="the basic plan", hit;desc="Token abc"')
    assert parse_server_timing(value) == [
        ("auth", None, "Bearer ***"), ("up", None, "basic ***"), ("x", None, "issued token ***, user=bob"),
        ("plan", None, "the basic plan"), ("hit", None, "Token abc")]


def test_server_timing_masks_credentials_a_desc_quotes_as_json_or_name_colon_value_and_bare_pass_names() -> None:
    """A desc quoting a JSON body or a log field (`{"token": "..."}`, `api_key: ...`) or a `pass=`/`db_pass=` pair:
    only `name=value` pairs with a credential's name were masked; words merely holding `pass` stay (`bypass=1`)."""
    value = ('a;desc="{\\"token\\": \\"UNDECL 0042\\", \\"rows\\": 3}", b;desc="api_key: K9UNDECL, cache: hit", '
             'c;desc="pass=PW0042 db_pass=PW0043 bypass=1", d;desc="at 12:30, user: bob"')
    assert parse_server_timing(value) == [
        ("a", None, '{"token": "***", "rows": 3}'), ("b", None, "api_key: ***, cache: hit"),
        ("c", None, "pass=*** db_pass=*** bypass=1"), ("d", None, "at 12:30, user: bob")]


def test_a_requests_own_redactor_is_made_once_per_credentials_and_the_kept_ones_are_bounded() -> None:
    """A user's token is the same request after request: its redactor (every encoding of it, sorted with the
    run's) was made again for each, about 20 us a request; it is kept, by its credentials, and at most PLUS_KEPT
    are (the least recently used go)."""
    from loadorch.traffic import redact

    run = Redactor(["run-secret-123"])
    mine = run.plus({"token-of-user-1"})
    assert run.plus(["token-of-user-1"]) is mine  # the same credentials: the same redactor
    assert mine.text("run-secret-123 token-of-user-1 dG9rZW4tb2YtdXNlci0x") == "*** *** ***"  # base64 too
    other = run.plus({"token-of-user-2"})
    assert other is not mine and other.text("token-of-user-1") == "token-of-user-1"  # one request's only
    assert run.plus(set()) is run and run.plus([""]) is run
    for i in range(redact.PLUS_KEPT + 10):
        run.plus({f"token-of-user-{i:05d}"})
    assert len(run._plus) == redact.PLUS_KEPT
    assert run.plus({"token-of-user-1"}) is not mine  # dropped long ago: made again, the same masking
    assert run.plus({"token-of-user-1"}).text("token-of-user-1") == "***"


def test_plus_of_a_plus_adds_to_the_roots_cache_so_a_long_run_keeps_a_bounded_number() -> None:
    """A user's token mask, then a request's own header or its cookies on top of it (plus of a plus): kept by the
    run's root redactor by all the credentials added, so rotating tokens and cookies over a long run keep at
    most PLUS_KEPT redactors in all, not a cache inside each one; a credential already masked adds nothing."""
    from loadorch.traffic import redact

    run = Redactor(["run-secret-123"])
    token = run.plus({"token-aaaaaaaa"})
    both = token.plus({"cookie-bbbbbbbb"})
    assert both.text("token-aaaaaaaa cookie-bbbbbbbb run-secret-123") == "*** *** ***"
    assert token.plus({"token-aaaaaaaa"}) is token  # already masked: the same redactor, nothing made
    assert run.plus({"cookie-bbbbbbbb", "token-aaaaaaaa"}) is both  # the same credentials, however reached
    assert not token._plus and not both._plus  # no cache of their own
    for i in range(3 * redact.PLUS_KEPT):  # a login every so often, a cookie rotated on every response
        run.plus({f"token-{i // 10:08d}"}).plus({f"cookie-{i:08d}"})
    assert len(run._plus) == redact.PLUS_KEPT
    user = Redactor(["run-secret-123"], kept=redact.USER_PLUS_KEPT)  # one user's runner's root keeps fewer
    for i in range(3 * redact.USER_PLUS_KEPT):
        user.plus({f"token-{i // 10:08d}"}).plus({f"cookie-{i:08d}"})
    assert len(user._plus) == redact.USER_PLUS_KEPT < redact.PLUS_KEPT


def test_credential_parameters_in_free_text_are_masked_and_the_rest_kept() -> None:
    """A snippet or log line holding URLs: a credential-looking parameter's value masked wherever its URL
    stands (quoted, after &amp;, among others), other parameters and text as they were."""

    text = ('<img src="/hero.jpg?w=800&token=abc123&q=1"> <a href=\'https://x.test/p?a=1&amp;session=s3cr3t#f\'>'
            ' see /api?sig=zz9 and ?page=2&api_key=K1 ok')
    out = credential_params_in(text)
    for secret in ("abc123", "s3cr3t", "zz9", "K1"):
        assert secret not in out
    assert f"token={MASK}" in out and f"session={MASK}" in out and f"sig={MASK}" in out and f"api_key={MASK}" in out
    assert "w=800" in out and "q=1" in out and "a=1" in out and "page=2" in out and out.endswith(" ok")
    assert credential_params_in("no urls here: token = abc") == "no urls here: token = abc"


def test_a_user_and_password_in_a_url_in_free_text_are_masked_and_the_host_kept() -> None:
    """A log line or an exception's message quoting a URL or a DSN with `user:password@`."""
    text = "GET https://bob:hunter2@api.test/v1?x=1 failed; dsn postgresql://app:s3cr3t@db:5432/shop; mail a@b.test"
    out = credential_params_in(text)
    assert "hunter2" not in out and "s3cr3t" not in out and "bob" not in out
    assert f"https://{MASK}@api.test/v1?x=1" in out and f"postgresql://{MASK}@db:5432/shop" in out
    assert out.endswith("mail a@b.test")  # no scheme before it: not a URL's user


def test_the_credentials_a_url_carries_in_its_query_and_fragment_are_found_as_sent_and_decoded() -> None:
    url = "http://h/items?page=2&access_token=tok%2Bab%2Fcdef&sig=short&x=1#id_token=frag12345678&state=s1"
    assert query_credentials(url) == {"tok%2Bab%2Fcdef", "tok+ab/cdef", "frag12345678"}  # `sig=short`: too short
    assert query_credentials("/files/abcdefgh12345678") == set() and query_credentials("/a?q=longvalue1") == set()
    # what a request carried, masked in an exception that quotes it bare, in every form
    r = Redactor().plus(query_credentials(url))
    assert r.text("refused tok+ab/cdef and tok%2Bab%2Fcdef") == f"refused {MASK} and {MASK}"


def test_a_reason_has_its_urls_credential_parameters_and_the_secrets_masked_then_is_cut() -> None:
    r = Redactor(["CANARYsecret99"])
    reason = "URL http://h/cb?token=authCode12345&state=s1: 3, original=timed out for CANARYsecret99"
    assert masked_reason(reason, r) == f"URL http://h/cb?token={MASK}&state=s1: 3, original=timed out for {MASK}"
    cut = masked_reason("x" * 190 + " CANARYsecret99", r, 200)  # masked before the cut: no prefix of it left
    assert "CANA" not in cut and len(cut) <= 200



def test_a_credential_query_parameter_written_in_a_scenarios_targets_is_a_secret() -> None:
    """Literal values of credential parameters in requests' paths (setup's too) and visits are secrets, as a
    header's literal credential is; a value rendered from a placeholder is not known before a request; short ones
    are left out (MIN_HEADER_SECRET)."""
    doc = {"users": [{"requests": [{"path": "/a?x=1&access_token=Lit-token-1&id={id}"},
                                   {"path": "/b?token={tok}&sig=short"}]}],
           "setup": [{"request": {"path": "/c#code=Lit%2Bcode-2"}}],
           "browsers": [{"journey": [{"visit": "/d?session=Lit-visit-3"}]}],
           "name": "x?token=not-a-target-9"}
    assert query_secrets_in(doc) == {"Lit-token-1", "Lit%2Bcode-2", "Lit+code-2", "Lit-visit-3"}


def test_the_kept_end_of_a_log_never_starts_inside_a_secret() -> None:
    """The fork server's log is kept (masked) by its last LOG_KEEP_BYTES: cut mid-line, a secret cut in two there left
    its end in clear (no mask matches a part). The tail starts at its first whole line now."""
    import tempfile

    from loadorch.run.forkstart import LOG_KEEP_BYTES, ForkServer

    def log_tail(data: bytes) -> str:  # the fork server's own tail of its own log (not started: no process)
        server = ForkServer.__new__(ForkServer)
        with tempfile.TemporaryFile() as server._log:
            server._log.write(data)
            return server.log_tail()

    secret = "s3cr3t-TOKEN-value-1234567890"
    log = (f"ImportError: token {secret} refused\n" + "x" * 70 + "\n").encode() * 2000
    assert len(log) > LOG_KEEP_BYTES
    redactor = Redactor({secret})
    for more in range(120):  # the log's length moves the cut through every byte of a line
        whole = log + b"y" * more + b"\n"
        kept = redactor.text(log_tail(whole))
        assert "1234567890" not in kept and "TOKEN" not in kept, more
        assert kept.startswith(("ImportError: token ***", "x" * 70)), kept[:60]
    assert log_tail(b"no newline at all" * 5000).startswith(f"(the log's last {LOG_KEEP_BYTES} bytes are the end of one")
    assert log_tail(b"a\nb\n") == "a\nb\n"  # a log shorter than the tail: whole
