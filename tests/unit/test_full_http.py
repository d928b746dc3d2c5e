"""The lean client's pure parts beyond the fast path: cookie jar, redirect rules, body decoding, proxies, TLS settings."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import cramjam
import pytest

from loadorch.config.tls import TlsSettings, tls_problems
from loadorch.traffic.cookies import CookieJar, default_path, domain_match, path_match
from loadorch.traffic.encodings import DecodeError, decode
from loadorch.traffic.proxies import ProxyError, bypassed, proxy_for
from loadorch.traffic.redirects import Hop, RedirectError, header_lines, next_hop, next_method

NOW = 1_700_000_000.0


def test_host_only_cookie_goes_back_to_its_host_only() -> None:
    jar = CookieJar()
    jar.store("sid=abc; Path=/", "http", "shop.example.com", "/login", NOW)
    assert jar.header("http", "shop.example.com", "/cart", NOW) == "sid=abc"
    assert jar.header("http", "api.shop.example.com", "/cart", NOW) is None  # host-only: not a subdomain
    assert jar.header("http", "other.example.com", "/", NOW) is None
    assert jar.header("http", "127.0.0.2", "/", NOW) is None


def test_domain_cookie_matches_subdomains_and_refuses_other_domains() -> None:
    jar = CookieJar()
    jar.store("a=1; Domain=.example.com", "http", "www.example.com", "/", NOW)
    jar.store("b=2; Domain=evil.com", "http", "www.example.com", "/", NOW)  # another domain: ignored
    jar.store("c=3; Domain=com", "http", "www.example.com", "/", NOW)  # a bare top-level name: refused
    assert jar.header("http", "api.example.com", "/", NOW) == "a=1"
    assert jar.header("http", "example.com", "/", NOW) == "a=1"
    assert jar.header("http", "evil.com", "/", NOW) is None
    assert len(jar.cookies) == 1


def test_ip_hosts_take_no_domain_cookies_for_other_addresses() -> None:
    jar = CookieJar()
    jar.store("x=1; Domain=0.0.1", "http", "127.0.0.1", "/", NOW)
    assert not jar.cookies
    assert not domain_match("127.0.0.1", "0.0.1")


def test_path_rules_and_default_path() -> None:
    assert default_path("/") == "/" and default_path("/login") == "/" and default_path("/a/b/c?x=1") == "/a/b"
    assert path_match("/a/b", "/a") and path_match("/a/", "/a/") and not path_match("/ab", "/a")
    jar = CookieJar()
    jar.store("deep=1", "http", "h", "/account/settings", NOW)  # default path /account
    jar.store("top=2; Path=/", "http", "h", "/account/settings", NOW)
    assert jar.header("http", "h", "/account/x", NOW) == "deep=1; top=2"  # longer paths first
    assert jar.header("http", "h", "/accounts", NOW) == "top=2"


def test_expiry_max_age_over_expires_and_deletion() -> None:
    jar = CookieJar()
    jar.store("a=1; Max-Age=10; Expires=Thu, 01 Jan 1970 00:00:00 GMT", "http", "h", "/", NOW)  # Max-Age wins
    jar.store("b=2; Expires=Wed, 09 Jun 2100 10:18:14 GMT", "http", "h", "/", NOW)
    jar.store("c=3; Expires=Wed, 09 Jun 2000 10:18:14 GMT", "http", "h", "/", NOW)  # already past: not stored
    assert jar.header("http", "h", "/", NOW) == "a=1; b=2"
    assert jar.header("http", "h", "/", NOW + 11) == "b=2"  # a expired, and dropped
    jar.store("b=gone; Max-Age=0", "http", "h", "/", NOW)
    assert jar.header("http", "h", "/", NOW) is None and not jar.cookies


def test_secure_cookies_only_over_https_and_only_set_by_https() -> None:
    jar = CookieJar()
    jar.store("s=1; Secure", "https", "h", "/", NOW)
    jar.store("t=2; Secure", "http", "h", "/", NOW)  # an insecure origin cannot set a Secure cookie
    assert jar.header("https", "h", "/", NOW) == "s=1"
    assert jar.header("http", "h", "/", NOW) is None


def test_replacing_a_cookie_and_ignoring_nameless_ones() -> None:
    jar = CookieJar()
    jar.store("a=1", "http", "h", "/", NOW)
    jar.store("b=2", "http", "h", "/", NOW)
    jar.store("a=3", "http", "h", "/", NOW)
    jar.store("novalue", "http", "h", "/", NOW)
    jar.store("=x", "http", "h", "/", NOW)
    assert jar.header("http", "h", "/", NOW) == "a=3; b=2"


def test_redirect_methods_as_browsers_and_curl() -> None:
    assert next_method(303, "POST") == ("GET", False)
    assert next_method(303, "HEAD") == ("HEAD", True)
    assert next_method(302, "POST") == ("GET", False) and next_method(301, "POST") == ("GET", False)
    assert next_method(302, "PUT") == ("PUT", True)
    assert next_method(307, "POST") == ("POST", True) and next_method(308, "PATCH") == ("PATCH", True)


def test_locations_resolve_against_the_current_url() -> None:
    here = Hop("http", "a.test", 8080, "/x/y?q=1")
    assert next_hop(here, "/z") == Hop("http", "a.test", 8080, "/z")
    assert next_hop(here, "w?k=2") == Hop("http", "a.test", 8080, "/x/w?k=2")
    assert next_hop(here, "https://B.test/p#frag") == Hop("https", "b.test", 443, "/p")
    assert next_hop(here, "//c.test:81") == Hop("http", "c.test", 81, "/")
    assert Hop("https", "b.test", 443, "/p").url == "https://b.test/p"
    for bad in ("ftp://a.test/f", "javascript:alert(1)", "http://a.test:99999/"):
        with pytest.raises(RedirectError):
            next_hop(here, bad)


def test_headers_for_the_next_hop() -> None:
    head = "Authorization: Bearer t\r\nContent-Type: application/json\r\nX-Id: 1\r\n"
    assert header_lines(head, False, False) == head
    assert header_lines(head, True, False) == "Content-Type: application/json\r\nX-Id: 1\r\n"
    assert header_lines(head, False, True) == "Authorization: Bearer t\r\nX-Id: 1\r\n"


def test_decoding_gzip_deflate_br_zstd_and_limits() -> None:
    text = b"hello " * 100
    assert decode("gzip", gzip.compress(text), 10_000) == text
    assert decode("deflate", zlib.compress(text), 10_000) == text
    raw = zlib.compressobj(wbits=-15)
    assert decode("deflate", raw.compress(text) + raw.flush(), 10_000) == text  # raw deflate, as browsers accept
    assert decode("br", bytes(cramjam.brotli.compress(text)), 10_000) == text
    assert decode("zstd", bytes(cramjam.zstd.compress(text)), 10_000) == text
    assert decode("gzip, br", bytes(cramjam.brotli.compress(gzip.compress(text))), 10_000) == text
    assert decode("identity", text, 10_000) == text and decode("gzip", b"", 10) == b""
    with pytest.raises(DecodeError, match="over 100 bytes after decoding"):
        decode("gzip", gzip.compress(text), 100)
    with pytest.raises(DecodeError, match="unsupported Content-Encoding 'compress'"):
        decode("compress", b"x", 100)
    with pytest.raises(DecodeError, match="cannot decode the gzip body"):
        decode("gzip", b"not gzip at all", 100)


def test_proxies_from_the_environment_like_requests() -> None:
    env = {"HTTP_PROXY": "http://u:p%40ss@proxy.local:3128", "https_proxy": "proxy.local:8443"}
    p = proxy_for("http", "127.0.0.1", env)
    assert p is not None and (p.host, p.port) == ("proxy.local", 3128)
    assert p.authorization == "Basic dTpwQHNz" and "p@ss" not in repr(p)  # u:p@ss, never shown
    s = proxy_for("https", "api.test", env)
    assert s is not None and (s.host, s.port, s.authorization) == ("proxy.local", 8443, None)
    assert proxy_for("http", "h", {}) is None
    assert proxy_for("http", "h", {"ALL_PROXY": "http://p:1"}) is not None
    assert proxy_for("http", "h", {"http_proxy": "http://lower:1", "HTTP_PROXY": "http://upper:1"}).host == "lower"
    with pytest.raises(ProxyError, match="socks5"):
        proxy_for("http", "h", {"HTTP_PROXY": "socks5://p:1080"})


def test_no_proxy_matching() -> None:
    assert not bypassed("127.0.0.1", "")  # NO_PROXY unset: loopback is proxied too, as requests does
    assert bypassed("127.0.0.1", "localhost,127.0.0.1")
    assert bypassed("10.1.2.3", "10.0.0.0/8") and not bypassed("11.1.2.3", "10.0.0.0/8")
    assert bypassed("api.example.com", ".example.com") and bypassed("example.com", "example.com")
    assert not bypassed("badexample.com", "example.com")  # a domain boundary, not a bare suffix
    assert bypassed("api.example.com", "example.com:8080") and bypassed("anything", "*")
    assert bypassed("::1", "::1")


def test_tls_files_checked_at_load_time(tmp_path: Path) -> None:
    settings = TlsSettings(ca_bundle="ca.pem", client_cert="missing.pem")
    _, problems = tls_problems(settings, str(tmp_path))
    assert [f for f, _ in problems] == ["ca_bundle", "client_cert"]
    assert all("file not found" in m for _, m in problems)
    (tmp_path / "ca.pem").write_text("not a certificate")
    (tmp_path / "c.pem").write_text("not a certificate")
    settings = TlsSettings(ca_bundle="ca.pem", client_cert="c.pem", client_key_password="s3cret-passphrase")
    paths, problems = tls_problems(settings, str(tmp_path))
    assert paths["ca_bundle"] == str(tmp_path / "ca.pem")
    assert [f for f, _ in problems] == ["ca_bundle", "client_cert"]
    assert not any("s3cret" in m for _, m in problems)
    with pytest.raises(ValueError, match="client_key needs client_cert"):
        TlsSettings(client_key="k.pem")


def test_bypassing_adds_the_host_to_both_no_proxy_spellings_and_keeps_the_rest() -> None:
    from loadorch.traffic.proxies import bypassing, proxy_for

    env = {"http_proxy": "http://proxy:3128", "no_proxy": "example.com", "PATH": "/bin"}
    out = bypassing(env, "127.0.0.1")
    assert out["no_proxy"] == "example.com,127.0.0.1" and out["NO_PROXY"] == "127.0.0.1" and out["PATH"] == "/bin"
    assert env["no_proxy"] == "example.com"  # the caller's mapping is not changed
    assert proxy_for("http", "127.0.0.1", env) is not None and proxy_for("http", "127.0.0.1", out) is None
    assert proxy_for("http", "shop.test", out) is not None and proxy_for("http", "example.com", out) is None
