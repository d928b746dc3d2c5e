"""Checks of a page open in headless Chromium: accessibility tree, text contrast, positions on chart axes."""

from __future__ import annotations

from typing import Any

from .cdp import Browser

# WCAG 2 contrast of every visible text run against the first opaque background behind it
CONTRAST_JS = r"""
(() => {
  const parse = c => { const m = /rgba?\(([^)]+)\)/.exec(c || ''); if (!m) return null;
    const p = m[1].split(',').map(parseFloat); return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1}; };
  const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
  const background = el => { for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor); if (c && c.a > 0.5) return c; }
    return {r: 255, g: 255, b: 255, a: 1}; };
  const out = [], seen = new Set();
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walk.nextNode()) {
    const node = walk.currentNode, el = node.parentElement;
    if (!node.textContent.trim() || seen.has(el) || el.closest('title,desc,style')) continue;
    seen.add(el);
    const cs = getComputedStyle(el);
    if (cs.display === 'none' || cs.visibility === 'hidden') continue;
    const fg = parse(el instanceof SVGElement ? cs.fill : cs.color);
    if (!fg) continue;
    const l1 = lum(fg), l2 = lum(background(el));
    const size = parseFloat(cs.fontSize), bold = parseInt(cs.fontWeight) >= 700;
    out.push({text: node.textContent.trim().slice(0, 40), ratio: (Math.max(l1, l2) + .05) / (Math.min(l1, l2) + .05),
              need: (size >= 24 || (bold && size >= 18.66)) ? 3 : 4.5});
  }
  return out;
})()
"""

# the data value at an element's rendered vertical centre, read off the chart's own grid lines
AXIS_VALUE_JS = r"""
((svgId, selector) => {
  const svg = document.getElementById(svgId);
  const el = svg.querySelector(selector);
  if (!el) return null;
  const mid = e => { const r = e.getBoundingClientRect(); return r.top + r.height / 2; };
  const grid = [...svg.querySelectorAll('line.grid[data-value]')];
  const a = grid[0], b = grid[grid.length - 1];
  const va = parseFloat(a.dataset.value), vb = parseFloat(b.dataset.value);
  return {value: va + (mid(el) - mid(a)) * (vb - va) / (mid(b) - mid(a)),
          per_px: Math.abs((vb - va) / (mid(b) - mid(a)))};
})
"""


def axis_value(browser: Browser, svg_id: str, selector: str) -> dict[str, float] | None:
    """{"value": data value at the element's rendered y, "per_px": data units per CSS pixel}."""
    result = browser.evaluate(f"{AXIS_VALUE_JS}({svg_id!r}, {selector!r})")
    return None if result is None else dict(result)


def contrast_failures(browser: Browser) -> list[dict[str, Any]]:
    texts = browser.evaluate(CONTRAST_JS)
    assert texts, "no text found"
    return [t for t in texts if t["ratio"] < t["need"]]


def chart_alternatives(browser: Browser) -> tuple[int, list[dict[str, str]]]:
    """(number of <svg> in the DOM, the image nodes of Chromium's accessibility tree with name and description)."""
    svgs = int(browser.evaluate("document.querySelectorAll('svg').length"))
    browser.call("Accessibility.enable")
    nodes = browser.call("Accessibility.getFullAXTree")["nodes"]
    images = []
    for n in nodes:
        if n.get("ignored") or (n.get("role") or {}).get("value") not in ("image", "img", "graphics-document"):
            continue
        images.append({"name": str((n.get("name") or {}).get("value", "")),
                       "description": str((n.get("description") or {}).get("value", ""))})
    return svgs, images


def assert_accessible(browser: Browser) -> None:
    failures = contrast_failures(browser)
    assert failures == [], failures[:10]
    svgs, images = chart_alternatives(browser)
    assert svgs > 0 and len(images) == svgs, (svgs, images[:5])
    assert all(i["name"].strip() and i["description"].strip() for i in images), images
