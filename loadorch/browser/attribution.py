"""The in-page attribution of each vital, written from the W3C specs (joined into script.MEASURE_JS).

Definitions follow the web-vitals library's attribution build (its README is the reference; our values are
checked against it on the same page loads in tests/integration/test_browser_evidence.py):

- LCP (Largest Contentful Paint, Resource Timing, Navigation Timing): the element of the last entry (a CSS
  path, kept when the entry arrives: the element may be removed later) and its resource URL; the value in four
  parts that add up to it: time to first byte (the navigation's responseStart), resource load delay (until the
  resource's requestStart, or its startTime, never before the first byte), resource load duration (until its
  responseEnd) and element render delay (until the entry's startTime). A text element has no resource: its
  delay and duration are 0.
- INP (Event Timing, Long Animation Frames): the interaction whose latency is the INP; its first longest event
  entry gives the interaction time and type (key* events: keyboard, else pointer); the event entries presented
  in the same frame (render times within 8 ms) give the processing end; input delay = that entry's
  processingStart - startTime, processing = processing end - processingStart, presentation = next paint (the
  entry's end, the processing end or the end of a long animation frame overlapping the interaction, whichever
  is latest) - processing end. The target is the first entry of the interaction that has one. The scripts are
  those of the long animation frames overlapping the interaction, longest first.
- CLS (Layout Instability): the largest shift of the session window that is the CLS, its time, value and
  sources (the elements that moved: a CSS path and the rectangles before and after, as Chromium lists them,
  the most impactful first).

Everything kept is bounded: a CSS path of at most MAX_SELECTOR characters, URLs of at most MAX_URL, at most
5 shift sources, 5 scripts, 10 interactions and 20 long animation frames kept per document.
"""

from __future__ import annotations

MAX_SELECTOR = 100
MAX_URL = 300

ATTRIBUTION_JS = r"""
  function cut(text, n) { text = String(text || ''); return text.length > n ? text.slice(0, n) : text; }
  function path(node) {  // tag.classes or #id parts, joined by '>', up to the nearest id, at most MAX_SELECTOR chars
    let out = '';
    try {
      for (let n = node; n && n.nodeType !== 9 && n.nodeType !== 11; n = n.parentNode) {
        const el = n.nodeType === 1;
        const cls = el && n.classList && n.classList.length ? '.' + Array.from(n.classList).join('.') : '';
        const name = el ? n.nodeName.toLowerCase() : n.nodeName.replace(/^#/, '').toUpperCase();
        const part = el && n.id ? '#' + n.id : name + cls;
        if (out.length + part.length + 1 > MAX_SELECTOR) return out || part.slice(0, MAX_SELECTOR);
        out = out ? part + '>' + out : part;
        if (el && n.id) break;
      }
    } catch (e) { /* a node from another realm */ }
    return out;
  }
  function ms(x) { return Math.round(x * 10) / 10; }
  let lcpEntry = null, lcpElement = '';
  function lcpAttribution() {
    const e = lcpEntry, nav = performance.getEntriesByType('navigation')[0];
    if (!e || !nav) return null;
    const act = nav.activationStart || 0;
    const first = Math.max(0, nav.responseStart - act);
    const res = e.url ? performance.getEntriesByType('resource').find((r) => r.name === e.url) : null;
    const requested = Math.max(first, res ? (res.requestStart || res.startTime) - act : 0);
    const loaded = Math.max(requested, res ? res.responseEnd - act : 0);
    const shown = Math.max(loaded, e.startTime - act);
    return {element: lcpElement, url: cut(e.url, MAX_URL), ttfb: ms(first), load_delay: ms(requested - first),
            load_duration: ms(loaded - requested), render_delay: ms(shown - loaded)};
  }
  let winShift = null, clsShift = null;
  function shiftOf(e) {
    const rect = (r) => r ? [Math.round(r.x), Math.round(r.y), Math.round(r.width), Math.round(r.height)] : null;
    const sources = (e.sources || []).slice(0, 5).map((s) => ({element: path(s.node), previous: rect(s.previousRect),
                                                                current: rect(s.currentRect)}));
    return {value: e.value, time: ms(e.startTime), sources: sources};
  }
  function noteShift(e, startsWindow) {
    if (startsWindow || !winShift || e.value > winShift.value) winShift = shiftOf(e);
  }
  const longest = [];  // the 10 longest interactions: {id, latency, entry, target}
  const frames = [];   // the latest event entries: [render time, processingEnd]
  const loafs = [];    // the latest long animation frames: {start, end, scripts}
  function noteEvent(e) {
    frames.push([e.startTime + e.duration, e.processingEnd]);
    if (frames.length > 64) frames.shift();
    if (!e.interactionId) return;
    let it = longest.find((i) => i.id === e.interactionId);
    if (!it) {
      it = {id: e.interactionId, latency: -1, entry: null, target: ''};
      longest.push(it);
    }
    if (!it.target && e.target) it.target = path(e.target);
    if (e.duration > it.latency) {
      it.latency = e.duration;
      it.entry = {name: e.name, start: e.startTime, duration: e.duration, ps: e.processingStart, pe: e.processingEnd};
    }
    longest.sort((a, b) => b.latency - a.latency);
    if (longest.length > 10) longest.length = 10;
  }
  function noteLoaf(e) {
    const scripts = (e.scripts || []).map((s) => ({url: cut(s.sourceURL || s.invoker, MAX_URL),
      invoker: cut(s.invoker, MAX_URL), type: s.invokerType || '', duration: ms(s.duration)}));
    loafs.push({start: e.startTime, end: e.startTime + e.duration, scripts: scripts});
    if (loafs.length > 20) loafs.shift();
  }
  function inpAttribution(index) {
    const it = longest[index];
    if (!it || !it.entry) return null;
    const e = it.entry, end = e.start + e.duration;
    let processed = e.pe;
    frames.forEach(([rendered, pe]) => { if (Math.abs(rendered - end) <= 8) processed = Math.max(processed, pe); });
    const over = loafs.filter((f) => f.end >= e.start && f.start <= processed);
    const next = Math.max(end, processed, ...over.map((f) => f.end));
    const scripts = [].concat(...over.map((f) => f.scripts)).sort((a, b) => b.duration - a.duration).slice(0, 5);
    return {target: it.target, type: e.name.startsWith('key') ? 'keyboard' : 'pointer', event: e.name,
            time: ms(e.start), input_delay: ms(e.ps - e.start), processing: ms(processed - e.ps),
            presentation: ms(Math.max(next - processed, 0)), scripts: scripts};
  }
""".replace("MAX_SELECTOR", str(MAX_SELECTOR)).replace("MAX_URL", str(MAX_URL))
