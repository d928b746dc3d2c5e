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
  entry gives the interaction time and type (key* events: keyboard, else pointer). The event entries presented
  in the same frame (render times within 8 ms of it, events of 40 ms or longer as web-vitals observes them, kept
  on the interaction as they arrive) give
  the frame's earliest processingStart and latest processingEnd. Then: processing start = the later of that
  earliest processingStart and the entry's startTime; next paint = the later of the entry's end (startTime +
  duration, which Event Timing rounds to 8 ms) and the processing start; processing end = the earlier of the
  frame's latest processingEnd and the next paint; input delay = processing start - startTime, processing =
  processing end - processing start, presentation = next paint - processing end (the three add up to the
  entry's duration). The target is the first entry of the interaction that has one. The scripts are those of
  the long animation frames overlapping [startTime, processing end], longest first.
- CLS (Layout Instability): the largest shift of the session window that is the CLS, its time, value and
  sources (the elements that moved: a CSS path and the rectangles before and after, as Chromium lists them,
  the most impactful first).

Everything kept is bounded: a CSS path of whole parts up to MAX_SELECTOR characters (one part longer than that,
an id or class list, is sent up to PAGE_SELECTOR), URLs of at most PAGE_URL (the worker masks the run's secrets in
both, then cuts them to MAX_SELECTOR and MAX_URL), at most
5 shift sources, 5 scripts, 10 interactions and 20 long animation frames kept per document.
"""

from __future__ import annotations

MAX_SELECTOR = 100
MAX_URL = 300
PAGE_URL = 4096  # the page's own cut of a URL (it bounds the report); the worker masks the run's secrets, then cuts
# at MAX_URL: a cut in the page at MAX_URL left the first characters of a secret it split, unmasked
PAGE_SELECTOR = 1024  # the page's own cut of one part of a CSS path longer than MAX_SELECTOR (an id built from a
# token): the worker masks, then cuts at MAX_SELECTOR, as for URLs
GROUPED_MS = 40  # the web-vitals library's default durationThreshold: the event entries it groups by frame

ATTRIBUTION_JS = r"""
  function cut(text, n) { text = String(text || ''); return text.length > n ? text.slice(0, n) : text; }
  function path(node) {  // tag.classes or #id parts, joined by '>', up to the nearest id, at most MAX_SELECTOR chars
    // of whole parts; a first part longer than that goes up to PAGE_SELECTOR: the worker masks it, then cuts it
    let out = '';
    try {
      for (let n = node; n && n.nodeType !== 9 && n.nodeType !== 11; n = n.parentNode) {
        const el = n.nodeType === 1;
        const cls = el && n.classList && n.classList.length ? '.' + Array.from(n.classList).join('.') : '';
        const name = el ? n.nodeName.toLowerCase() : n.nodeName.replace(/^#/, '').toUpperCase();
        const part = el && n.id ? '#' + n.id : name + cls;
        if (out.length + part.length + 1 > MAX_SELECTOR) return out || part.slice(0, PAGE_SELECTOR);
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
    return {element: lcpElement, url: cut(e.url, PAGE_URL), ttfb: ms(first), load_delay: ms(requested - first),
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
  const longest = [];  // the 10 longest interactions: {id, latency, entry, target, ps, pe}
  const frames = [];   // the latest event entries: [render time, processingStart, processingEnd]
  const loafs = [];    // the latest long animation frames: {start, end, scripts}
  function sameFrame(it, rendered, ps, pe) {  // an event presented with the interaction's entry: widen its frame
    if (Math.abs(rendered - (it.entry.start + it.entry.duration)) > 8) return;
    it.ps = Math.min(it.ps, ps);
    it.pe = Math.max(it.pe, pe);
  }
  function noteEvent(e) {
    const rendered = e.startTime + e.duration;
    if (e.duration >= GROUPED_MS) {  // the events web-vitals groups: those its observer sees (40 ms and longer)
      frames.push([rendered, e.processingStart, e.processingEnd]);
      if (frames.length > 64) frames.shift();
      longest.forEach((i) => sameFrame(i, rendered, e.processingStart, e.processingEnd));
    }
    if (!e.interactionId) return;
    let it = longest.find((i) => i.id === e.interactionId);
    if (!it) {
      it = {id: e.interactionId, latency: -1, entry: null, target: '', ps: 0, pe: 0};
      longest.push(it);
    }
    if (!it.target && e.target) it.target = path(e.target);
    if (e.duration > it.latency) {
      it.latency = e.duration;
      it.entry = {name: e.name, start: e.startTime, duration: e.duration};
      it.ps = e.processingStart;
      it.pe = e.processingEnd;
      frames.forEach(([r, ps, pe]) => sameFrame(it, r, ps, pe));  // the frame's events seen before this one
    }
    longest.sort((a, b) => b.latency - a.latency);
    if (longest.length > 10) longest.length = 10;
  }
  function noteLoaf(e) {
    const scripts = (e.scripts || []).map((s) => ({url: cut(s.sourceURL || s.invoker, PAGE_URL),
      invoker: cut(s.invoker, PAGE_URL), type: s.invokerType || '', duration: ms(s.duration)}));
    loafs.push({start: e.startTime, end: e.startTime + e.duration, scripts: scripts});
    if (loafs.length > 20) loafs.shift();
  }
  function inpAttribution(index) {
    const it = longest[index];
    if (!it || !it.entry) return null;
    const e = it.entry;
    const started = Math.max(it.ps, e.start);
    const next = Math.max(e.start + e.duration, started);
    const processed = Math.min(it.pe, next);
    const over = loafs.filter((f) => f.end >= e.start && f.start <= processed);
    const scripts = [].concat(...over.map((f) => f.scripts)).sort((a, b) => b.duration - a.duration).slice(0, 5);
    return {target: it.target, type: e.name.startsWith('key') ? 'keyboard' : 'pointer', event: e.name,
            time: ms(e.start), input_delay: ms(started - e.start), processing: ms(processed - started),
            presentation: ms(next - processed), scripts: scripts};
  }
""".replace("PAGE_SELECTOR", str(PAGE_SELECTOR)).replace("MAX_SELECTOR", str(MAX_SELECTOR)).replace(
    "PAGE_URL", str(PAGE_URL)).replace("GROUPED_MS", str(GROUPED_MS))
