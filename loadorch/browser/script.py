"""The measuring script injected into every page before its own scripts run, written from the W3C specs.

- Largest Contentful Paint: the startTime (render time, else load time) of the last
  `largest-contentful-paint` entry (the browser stops emitting them after the first input).
- Layout Instability: layout shifts without recent input, grouped in session windows (a gap of less
  than 1 s between shifts, a window of at most 5 s); CLS is the largest window's sum.
- Event Timing: event entries (durationThreshold 16 ms) and the first input, grouped by interactionId;
  an interaction lasts as long as its longest event; INP is the longest interaction, or with 50 or more
  interactions the one at the 98th percentile (one highest value ignored per 50).
- Paint Timing: first-contentful-paint. Navigation Timing: TTFB is the navigation entry's responseStart.

Values go out through a DevTools binding on every change (reason "update"), so the last report a document
sends before the next one commits holds all it measured, including layout shifts while the next response
is slow; when the page is hidden or left (reason "hidden" / "pagehide") the entries not yet delivered to
the observers are taken too, and that report is final when it arrives. Each document has its own view id.
Each report carries the attribution of its LCP, INP and CLS (attribution.py): which element, which
interaction, which shift.
"""

from __future__ import annotations

from loadorch.browser.attribution import ATTRIBUTION_JS

BINDING = "__loadorchVitals"

MEASURE_JS = r"""
(() => {
  if (window !== window.top || window.__loadorchMeasuring) return;
  window.__loadorchMeasuring = true;
  const send = window.BINDING;
  if (typeof send !== 'function') return;
  const view = Math.random().toString(36).slice(2) + '-' + Math.round(performance.timeOrigin);
  const s = {lcp: null, fcp: null, cls: 0, inp: null, interactions: 0};
  let winSum = 0, winFirst = 0, winLast = 0;
  const durations = new Map();
  let firstInput = null;
  let final = false;
ATTRIBUTION
  function ttfb() {
    const nav = performance.getEntriesByType('navigation')[0];
    return nav && nav.responseStart > 0 ? Math.max(nav.responseStart - (nav.activationStart || 0), 0) : null;
  }
  function inp() {
    const all = Array.from(durations.values()).sort((a, b) => b - a);
    if (!all.length) return firstInput;
    return all[Math.min(all.length - 1, Math.floor(all.length / 50))];
  }
  const observers = [];
  function report(reason) {
    if (final) return;
    if (reason !== 'update' && reason !== 'start') {
      final = true;
      observers.forEach(([o, handle]) => o.takeRecords().forEach(handle));  // entries queued, not delivered yet
    }
    s.inp = inp();
    s.interactions = durations.size || (firstInput === null ? 0 : 1);
    const at = Math.min(durations.size - 1, Math.floor(durations.size / 50));  // the INP's interaction
    const attr = {lcp: lcpAttribution(), cls: s.cls > 0 ? clsShift : null,
                  inp: durations.size ? inpAttribution(at) : null};
    try {
      send(JSON.stringify({view: view, reason: reason, url: location.href, ttfb: ttfb(), lcp: s.lcp,
                           fcp: s.fcp, cls: s.cls, inp: s.inp, interactions: s.interactions, attr: attr}));
    } catch (e) { /* the page replaced the binding: nothing to report to */ }
  }
  function observe(type, options, handle) {
    try {
      const o = new PerformanceObserver((list) => { list.getEntries().forEach(handle); report('update'); });
      o.observe(Object.assign({type: type, buffered: true}, options));
      observers.push([o, handle]);
    } catch (e) { /* an entry type this browser does not support */ }
  }
  observe('paint', {}, (e) => { if (e.name === 'first-contentful-paint') s.fcp = e.startTime; });
  observe('largest-contentful-paint', {}, (e) => { s.lcp = e.startTime; lcpEntry = e; lcpElement = path(e.element); });
  observe('layout-shift', {}, (e) => {
    if (e.hadRecentInput) return;
    if (winSum > 0 && e.startTime - winLast < 1000 && e.startTime - winFirst < 5000) {
      winSum += e.value;
      noteShift(e, false);
    } else {
      winSum = e.value;
      winFirst = e.startTime;
      noteShift(e, true);
    }
    winLast = e.startTime;
    if (winSum > s.cls) {
      s.cls = winSum;
      clsShift = winShift;
    }
  });
  observe('event', {durationThreshold: 16}, (e) => {
    noteEvent(e);
    if (!e.interactionId) return;
    durations.set(e.interactionId, Math.max(durations.get(e.interactionId) || 0, e.duration));
  });
  observe('first-input', {}, (e) => {
    if (firstInput === null || e.duration > firstInput) firstInput = e.duration;
    if (e.interactionId) durations.set(e.interactionId, Math.max(durations.get(e.interactionId) || 0, e.duration));
  });
  observe('long-animation-frame', {}, noteLoaf);
  addEventListener('visibilitychange', () => { if (document.visibilityState === 'hidden') report('hidden'); }, true);
  addEventListener('pagehide', () => report('pagehide'), true);
  report('start');
})();
""".replace("BINDING", BINDING).replace("ATTRIBUTION", ATTRIBUTION_JS)
