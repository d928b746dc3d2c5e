"""The reference shop's storefront pages (`/shop`, `/cart`) with knobs that break each Core Web Vital.

Knobs are query parameters (a journey chooses them) or the target's `storefront` knobs (PUT /_knobs
{"storefront": {"hero_ms": 3000}}), the query winning: `hero_ms=3000` delays the hero image (the
largest paint: LCP), `banner=1` moves a banner from below the content to above it after load (layout
shift: CLS, the banner the largest element that moved), `click_ms=300` makes the add-to-cart handler
busy for that long (interaction delay: INP),
`bundle_kb=500` loads a script bundle of that many KiB (page weight: browser_resource_bytes{type:script}),
`tracker=1` adds an image from a host outside any allow list (for the browser's network guard), and
`frame=1` a cross-site frame (from `localhost`, its own renderer process) that requests one too.
"""

from __future__ import annotations

import functools
import html
import random
import struct
import time
import zlib
from urllib.parse import quote

from loadorch.target.knobs import MAX_DELAY_MS

HERO_W, HERO_H = 600, 300
MAX_BUNDLE_KB = 8192


@functools.lru_cache(maxsize=1)
def hero_png() -> bytes:
    """A noisy grayscale PNG: enough bits per pixel that Chromium counts it as a contentful image."""
    rng = random.Random(20261125)
    levels = bytes((40, 90, 140, 190))
    rows = b"".join(b"\x00" + bytes(levels[rng.getrandbits(2)] for _ in range(HERO_W)) for _ in range(HERO_H))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", HERO_W, HERO_H, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


def bundle_js(kib: int) -> bytes:
    """A script of `kib` KiB: one statement, the rest a comment (a heavy bundle that does nothing)."""
    code = b"window.__shopBundle = (window.__shopBundle || 0) + 1;\n/*"
    return code + b"-" * max(0, kib * 1024 - len(code) - 2) + b"*/"


def _int(query: dict[str, list[str]], key: str, most: int = MAX_DELAY_MS) -> int:
    try:
        return max(0, min(int(query.get(key, ["0"])[0]), most))
    except ValueError:
        return 0


_STYLE = (
    "body{margin:0;font:16px/1.4 sans-serif;color:#222}header{height:60px;background:#234;color:#fff;"
    "padding:0 16px}header h1{margin:0;font-size:22px;line-height:60px}main{padding:16px}"
    ".hero{display:block;width:600px;height:300px;background:#ddd}#banner{height:400px;background:#fc3;"
    "font-size:28px;padding:16px;box-sizing:border-box}button{font-size:18px;padding:8px 16px}"
    "ul{padding-left:20px}main.flex{display:flex;flex-direction:column;align-items:flex-start}"
    "main.flex #banner{width:100%}"
)

_SCRIPT = """
<script>
(() => {
  const clickMs = %(click_ms)d;
  const count = document.getElementById('count');
  const add = document.getElementById('add-to-cart');
  if (add) add.addEventListener('click', () => {
    const until = performance.now() + clickMs;
    while (performance.now() < until) { /* a slow handler: the knob for INP */ }
    count.textContent = String(Number(count.textContent) + 1);
  });
  const q = document.getElementById('q');
  if (q) q.addEventListener('input', () => { document.getElementById('echo').textContent = q.value; });
  if (%(banner)d) addEventListener('load', () => setTimeout(() => {
    document.getElementById('banner').style.order = '-1';  // the same element jumps above the content
  }, 50));
})();
</script>
"""


def _page(title: str, body: str, query: dict[str, list[str]]) -> bytes:
    banner = ""
    if _int(query, "banner"):  # main is a column: the banner, last at first, is moved first after load
        banner = '<div id="banner">Free shipping this week!</div>'
        body = f'<div id="content">{body}</div>'
    tracker = (
        '<img src="http://tracker.invalid/pixel.gif" width="1" height="1" alt="">' if _int(query, "tracker") else ""
    )
    port = int(query.get("_port", ["0"])[0] or 0)
    if _int(query, "frame") and port:  # a cross-site frame (localhost, not 127.0.0.1): a renderer of its own
        tracker += f'<iframe src="http://localhost:{port}/frame" width="300" height="60" title="ad"></iframe>'
    script = _SCRIPT % {"click_ms": _int(query, "click_ms"), "banner": 1 if _int(query, "banner") else 0}
    bundle = _int(query, "bundle_kb", MAX_BUNDLE_KB)
    if bundle:
        script = f'<script src="/static/bundle.js?kb={bundle}"></script>' + script
    doc = (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><header><h1>loadorch shop</h1></header>"
        f'<main id="main"{" class=flex" if banner else ""}>{body}{tracker}{banner}</main>{script}</body></html>'
    )
    return doc.encode()


def shop(query: dict[str, list[str]]) -> bytes:
    category = html.escape(query.get("category", ["all"])[0])[:50]
    items = "".join(f"<li>{category} item {i}</li>" for i in range(1, 6))
    body = (
        f'<img class="hero" id="hero" src="/static/hero.png?delay_ms={_int(query, "hero_ms")}" '
        f'width="{HERO_W}" height="{HERO_H}" alt="this week\'s offer">'
        f"<p>Category: {category}</p>"
        '<p><button id="add-to-cart" type="button">Add to cart</button> in cart: <span id="count">0</span></p>'
        '<p><input id="q" type="search" placeholder="search" aria-label="search"> <span id="echo"></span></p>'
        f'<ul id="products">{items}</ul>'
        f'<p><a id="to-cart" href="/cart?from={quote(category)}">Go to cart</a></p>'
    )
    return _page("Shop", body, query)


def cart(query: dict[str, list[str]]) -> bytes:
    body = (
        "<h2>Your cart</h2><p>Two items, ready to check out.</p>"
        '<p><button id="add-to-cart" type="button">Add one more</button> in cart: <span id="count">2</span></p>'
        '<p><input id="q" type="text" placeholder="coupon" aria-label="coupon"> <span id="echo"></span></p>'
    )
    return _page("Cart", body, query)


def respond(
    route: str, query: dict[str, list[str]], knobs: dict[str, int] | None = None, port: int = 0
) -> tuple[int, str, bytes]:
    """(status, content type, body) of a storefront route; `knobs` fill in what the query does not set."""
    query = {**{k: [str(v)] for k, v in (knobs or {}).items()}, **query, "_port": [str(port)]}
    if route == "store.frame":
        frame = '<!doctype html><p>ad</p><img src="http://tracker.invalid/frame-pixel.gif" width="1" height="1" alt="">'
        return 200, "text/html; charset=utf-8", frame.encode()
    if route == "store.shop":
        return 200, "text/html; charset=utf-8", shop(query)
    if route == "store.cart":
        return 200, "text/html; charset=utf-8", cart(query)
    if route == "store.bundle":
        return 200, "text/javascript; charset=utf-8", bundle_js(_int(query, "kb", MAX_BUNDLE_KB))
    delay = _int(query, "delay_ms")
    if delay:
        time.sleep(delay / 1000.0)
    return 200, "image/png", hero_png()
