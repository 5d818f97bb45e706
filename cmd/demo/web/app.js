// Switchyard demo live view. Plain JavaScript, no build step, no outside
// resources: it listens to /events (server-sent events) and draws
//   - the supervision tree (provider → breaker per endpoint → key), as the
//     terminal view shows it, from each "snapshot";
//   - a breaker timeline per endpoint, from the "history" and "transition"
//     events (breaker transitions and supervised restarts);
//   - a request-rate sparkline per provider, computed here from the
//     counters of successive snapshots.
'use strict';

(() => {
  const WINDOW_MS = 60000; // what the timeline and the sparklines show
  const COLORS = {
    'CLOSED': '#4fd36b', 'OPEN': '#ff5f56', 'HALF-OPEN': '#f2c94c',
    restart: '#4dd0e1', rate: '#6aa7ff', fail: '#ff5f56', grid: '#2a333d',
  };

  // --- helpers -------------------------------------------------------------

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function span(cls, text) { return el('span', cls, text); }

  // Replaces the children of e with parts (nodes or strings).
  function fill(e, ...parts) {
    e.replaceChildren(...parts.map((p) => (typeof p === 'string' ? document.createTextNode(p) : p)));
  }

  // fmtDur renders milliseconds as the terminal view does: "-", µs, ms, s.
  function fmtDur(ms) {
    if (!(ms > 0)) return '-';
    if (ms < 1) return Math.floor(ms * 1000) + 'µs';
    if (ms < 1000) return Math.floor(ms) + 'ms';
    if (ms < 60000) return (ms / 1000).toFixed(1) + 's';
    const s = Math.round(ms / 1000);
    return Math.floor(s / 60) + 'm' + (s % 60) + 's';
  }

  function fmtCount(n) {
    if (n < 10000) return String(n);
    if (n < 1e6) return (n / 1e3).toFixed(1) + 'k';
    return (n / 1e6).toFixed(1) + 'M';
  }

  function classes(byClass) {
    const e = Object.entries(byClass || {}).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    return e.length ? ' (' + e.map(([k, v]) => k + ' ' + v).join(', ') + ')' : '';
  }

  // Sizes a canvas's backing store to its CSS box and returns its context
  // in CSS pixels.
  function prepare(canvas) {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || 200;
    const h = canvas.clientHeight || 12;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    return { ctx, w, h };
  }

  // --- state ---------------------------------------------------------------

  let snap = null; // the last snapshot
  const provEls = new Map(); // provider name → its elements
  const lines = new Map(); // "provider/endpoint" → timeline state and row
  const rates = new Map(); // provider name → samples and row

  // --- header, traffic, queue, cache, events --------------------------------

  function renderHead(s) {
    const elapsed = s.time - s.started;
    let head = s.source + ' · ' + fmtDur(elapsed);
    if (s.durationMs) head += ' of ' + fmtDur(s.durationMs);
    head += ' · seed ' + s.seed;
    if (s.metrics) head += ' · metrics ' + s.metrics;
    document.getElementById('head').textContent = head;
    const err = document.getElementById('error');
    err.hidden = !s.error;
    err.textContent = s.error || '';

    const t = s.traffic;
    let line = `sent ${t.sent} · answered ${t.answered} · ok ${t.ok} · failed ${t.failed}`;
    if (s.failedKinds && s.failedKinds.length) line += ' (' + s.failedKinds.map((k) => k.kind + ' ' + k.count).join(', ') + ')';
    line += ` · waiting ${t.sent - t.answered}`;
    if (t.skipped) line += ` · skipped ${t.skipped}`;
    const tr = document.getElementById('traffic');
    fill(tr, el('div', '', line));
    if (s.upload) tr.append(el('div', 'dim', s.upload));
  }

  function renderQueue(s) {
    const q = s.queue;
    const body = document.querySelector('#queue tbody');
    body.replaceChildren(...(q.levels || []).map((l) => {
      const row = el('tr');
      row.dataset.priority = l.priority;
      const bar = el('div', 'bar');
      const inner = el('div');
      inner.style.width = (l.capacity ? Math.min(100, (100 * l.depth) / l.capacity) : 0) + '%';
      bar.append(inner, span('', `${l.depth}/${l.capacity}`));
      const cells = [el('td', '', l.priority), el('td'), el('td', '', l.admitted), el('td', '', l.rejected), el('td', '', l.expired),
        el('td', '', fmtDur(l.oldestWaitMs)), el('td', '', fmtDur(l.waitP50Ms) + '/' + fmtDur(l.waitP99Ms))];
      cells[1].append(bar);
      row.append(...cells);
      return row;
    }));
    document.getElementById('queue-line').textContent =
      `in flight ${q.inFlight} · waiting for a retry ${q.backoff} · parked ${q.parked} · retry budget ${Math.round(q.retryBudget)}`;
    const win = document.getElementById('windows');
    fill(win, ...(s.windows || []).map((w) =>
      el('div', 'dim', `batching ${w.name}: ${w.calls} calls · ${w.perCall.toFixed(1)} per call · largest ${w.largest} · holds ${w.holds}/${w.max}`)));
    const c = s.cache;
    document.getElementById('cache').textContent = c
      ? `cache ${c.entries} entries · exact ${c.hits} · semantic ${c.semanticHits} · shared ${c.coalesced} · misses ${c.misses} · bypassed ${c.bypassed} · threshold ${c.threshold.toFixed(2)}`
      : '';
  }

  function renderEvents(s) {
    const c = s.counts;
    document.getElementById('counts').textContent =
      `retries ${c.retries} · rejected ${c.rejected} · expired ${c.expired} · key cooldowns ${c.cooldowns} · keys disabled ${c.disabled} · breaker trips ${c.trips} · restarts ${c.restarts}`;
    const list = document.getElementById('events');
    list.replaceChildren(...s.events.map((e) => {
      const li = el('li', 'ev-' + e.kind);
      li.append(span('at', '+' + fmtDur(e.at - s.started)), document.createTextNode(e.text));
      return li;
    }));
  }

  // --- the tree --------------------------------------------------------------

  function counterText(c) {
    return `attempts ${c.requests} ok ${c.successes} fail ${c.failures}`;
  }

  function providerElems(p) {
    let pe = provEls.get(p.name);
    if (pe) return pe;
    const details = el('details', 'provider');
    details.open = true;
    details.dataset.provider = p.name;
    details.id = 'provider-' + p.name;
    const summary = el('summary');
    const name = span('name', `${p.name} (${p.kind})`);
    const stats = span('dim');
    summary.append(name, document.createTextNode('  '), stats);
    const eps = el('ul', 'endpoints');
    details.append(summary, eps);
    pe = { details, stats, eps, endpoints: new Map() };
    provEls.set(p.name, pe);
    return pe;
  }

  function endpointElems(pe, p, ep) {
    let ee = pe.endpoints.get(ep.name);
    if (ee) return ee;
    const li = el('li', 'endpoint');
    li.dataset.endpoint = p.name + '/' + ep.name;
    const line = el('div', 'ep-line');
    const keys = el('ul', 'keys');
    li.append(line, keys);
    ee = { li, line, keys };
    pe.endpoints.set(ep.name, ee);
    return ee;
  }

  function renderTree(s) {
    const tree = document.getElementById('tree');
    const seen = new Set();
    s.providers.forEach((p, i) => {
      seen.add(p.name);
      const pe = providerElems(p);
      if (tree.children[i] !== pe.details) tree.insertBefore(pe.details, tree.children[i] || null);
      const c = p.counters;
      const tt = s.traffic.perProvider[p.name] || { sent: 0, ok: 0, failed: 0 };
      pe.stats.textContent = `queued H${p.queued[0]} N${p.queued[1]} L${p.queued[2]} · ${counterText(c)} retries ${c.retries}` +
        ` · tokens ${fmtCount(c.tokensIn)} in ${fmtCount(c.tokensOut)} out · p50 ${fmtDur(c.p50Ms)} p99 ${fmtDur(c.p99Ms)}` +
        ` · demo sent ${tt.sent} ok ${tt.ok} failed ${tt.failed}`;
      const epSeen = new Set();
      p.endpoints.forEach((ep, j) => {
        epSeen.add(ep.name);
        const ee = endpointElems(pe, p, ep);
        if (pe.eps.children[j] !== ee.li) pe.eps.insertBefore(ee.li, pe.eps.children[j] || null);
        ee.li.dataset.state = ep.state;
        let when = '';
        if (ep.state === 'OPEN') when = ep.reopenInMs > 0 ? 'reopens in ' + fmtDur(ep.reopenInMs) : 'restart due';
        if (ep.state === 'HALF-OPEN') when = 'probing';
        const ec = ep.counters;
        fill(ee.line, 'breaker ', span('label', ep.name), ' ', span('state state-' + ep.state, ep.state), ' ',
          span('dim', when ? when + ' · ' : ''),
          `trips ${ep.trips} restarts ${ep.restarts} · in flight ${ec.inFlight} · ${counterText(ec)}${classes(ec.failuresByClass)}`);
        ee.keys.replaceChildren(...ep.keys.map((k) => {
          const li = el('li', 'key');
          li.dataset.key = k.label;
          li.dataset.state = k.state;
          const st = k.state === 'cooling' ? `cooling ${fmtDur(k.coolingMs)}` : k.state;
          const kc = k.counters;
          li.append('key ', span('label', k.label), ' ', span('state key-' + k.state, st), ' ',
            `in flight ${kc.inFlight} · req ${kc.requests} ok ${kc.successes} fail ${kc.failures}` +
            ` · tokens ${fmtCount(kc.tokensIn)}/${fmtCount(kc.tokensOut)} · p50 ${fmtDur(kc.p50Ms)} p99 ${fmtDur(kc.p99Ms)}`);
          return li;
        }));
      });
      for (const [name, ee] of pe.endpoints) {
        if (!epSeen.has(name)) { ee.li.remove(); pe.endpoints.delete(name); }
      }
    });
    for (const [name, pe] of provEls) {
      if (!seen.has(name)) { pe.details.remove(); provEls.delete(name); }
    }
  }

  // --- the breaker timeline --------------------------------------------------

  // line returns the timeline of an endpoint, adding its row in order.
  function line(key) {
    let l = lines.get(key);
    if (l) return l;
    const label = span('tl-label', key);
    const canvas = el('canvas');
    const row = { label, canvas };
    l = { key, segs: [], restarts: [], opens: 0, row };
    lines.set(key, l);
    label.dataset.endpoint = key;
    label.dataset.opens = '0';
    // Rows follow the tree's order once a snapshot placed them; until
    // then they are appended.
    document.getElementById('timeline').append(label, canvas);
    return l;
  }

  function applyTransition(tr) {
    if (!tr.provider || !tr.endpoint) return;
    const l = line(tr.provider + '/' + tr.endpoint);
    if (tr.kind === 'restart') {
      l.restarts.push(tr.time);
      return;
    }
    if (l.segs.length === 0) l.segs.push({ t: 0, state: tr.from }); // since the start
    l.segs.push({ t: tr.time, state: tr.to });
    if (tr.to === 'OPEN' && tr.from !== 'OPEN') {
      l.opens++;
      l.row.label.dataset.opens = String(l.opens);
    }
    l.row.label.dataset.state = tr.to;
  }

  function syncTimeline(s) {
    const box = document.getElementById('timeline');
    let i = 0;
    for (const p of s.providers) {
      for (const ep of p.endpoints) {
        const l = line(p.name + '/' + ep.name);
        if (l.segs.length === 0) {
          l.segs.push({ t: 0, state: ep.state });
          l.row.label.dataset.state = ep.state;
        }
        if (box.children[2 * i] !== l.row.label) {
          box.insertBefore(l.row.canvas, box.children[2 * i] || null);
          box.insertBefore(l.row.label, l.row.canvas);
        }
        i++;
      }
    }
  }

  // chartSpan is the time the charts show: since the demo began, from 10 s up
  // to WINDOW_MS.
  function chartSpan(now) {
    const started = snap ? snap.started : now - WINDOW_MS;
    return Math.min(WINDOW_MS, Math.max(10000, now - started));
  }

  function drawTimeline(now) {
    const width = chartSpan(now);
    const t0 = now - width;
    const x = (t, w) => ((Math.max(t, t0) - t0) / width) * w;
    document.getElementById('timeline-axis').textContent = `${fmtDur(width)} ago … now`;
    for (const l of lines.values()) {
      const { ctx, w, h } = prepare(l.row.canvas);
      l.segs.forEach((seg, i) => {
        const end = i + 1 < l.segs.length ? l.segs[i + 1].t : now;
        if (end < t0) return;
        ctx.fillStyle = COLORS[seg.state] || COLORS.grid;
        const x0 = x(seg.t, w);
        ctx.fillRect(x0, 2, Math.max(1, x(end, w) - x0), h - 4);
      });
      ctx.fillStyle = COLORS.restart;
      for (const t of l.restarts) {
        if (t >= t0) ctx.fillRect(x(t, w) - 1, 0, 2, h);
      }
      // Grid every 10 s.
      ctx.fillStyle = 'rgba(0,0,0,0.35)';
      for (let g = Math.ceil(t0 / 10000) * 10000; g < now; g += 10000) ctx.fillRect(x(g, w), 0, 1, h);
    }
  }

  // --- request rates ---------------------------------------------------------

  function rate(name) {
    let r = rates.get(name);
    if (r) return r;
    const row = el('div', 'rate');
    row.dataset.provider = name;
    const label = el('div', '', name);
    const canvas = el('canvas');
    const now = el('div', 'now', '');
    row.append(label, canvas, now);
    canvas.style.gridRow = 'span 2';
    document.getElementById('rates').append(row);
    r = { samples: [], row, canvas, now };
    rates.set(name, r);
    return r;
  }

  function sampleRates(s) {
    for (const p of s.providers) {
      const r = rate(p.name);
      const last = r.samples[r.samples.length - 1];
      if (last && last.t >= s.time) continue;
      r.samples.push({ t: s.time, req: p.counters.requests, fail: p.counters.failures });
      while (r.samples.length > 2 && r.samples[1].t < s.time - WINDOW_MS) r.samples.shift();
    }
  }

  function drawRates(now) {
    const width = chartSpan(now);
    const t0 = now - width;
    for (const r of rates.values()) {
      const pts = [];
      for (let i = 1; i < r.samples.length; i++) {
        const a = r.samples[i - 1];
        const b = r.samples[i];
        const dt = (b.t - a.t) / 1000;
        if (dt <= 0) continue;
        pts.push({ t: b.t, req: Math.max(0, b.req - a.req) / dt, fail: Math.max(0, b.fail - a.fail) / dt });
      }
      const cur = pts[pts.length - 1];
      r.now.textContent = cur ? cur.req.toFixed(1) + '/s' : '-';
      r.row.dataset.rate = cur ? cur.req.toFixed(2) : '';
      r.row.dataset.peak = Math.max(0, ...pts.map((p) => p.req)).toFixed(2);
      const { ctx, w, h } = prepare(r.canvas);
      if (pts.length < 2) continue;
      const top = Math.max(1, ...pts.map((p) => p.req)) * 1.1;
      const xy = (p, v) => [((p.t - t0) / width) * w, h - (v / top) * (h - 2) - 1];
      for (const [field, color] of [['req', COLORS.rate], ['fail', COLORS.fail]]) {
        ctx.strokeStyle = color;
        ctx.lineWidth = 1.5;
        ctx.beginPath();
        pts.forEach((p, i) => {
          const [px, py] = xy(p, p[field]);
          if (i === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
        });
        ctx.stroke();
      }
    }
  }

  // --- wiring ----------------------------------------------------------------

  function onSnapshot(s) {
    renderHead(s);
    if (s.error) return; // keep drawing the last good tree; the error shows
    snap = s;
    renderQueue(s);
    renderTree(s);
    renderEvents(s);
    syncTimeline(s);
    sampleRates(s);
    drawTimeline(s.time);
    drawRates(s.time);
  }

  function connect() {
    const conn = document.getElementById('conn');
    const setConn = (state, text) => { conn.dataset.state = state; conn.textContent = text; };
    const es = new EventSource('events');
    es.onopen = () => setConn('live', 'live');
    es.onerror = () => setConn('lost', es.readyState === EventSource.CLOSED ? 'stopped' : 'reconnecting…');
    es.addEventListener('history', (e) => {
      // A fresh start (also after a reconnect): the server sends every
      // transition it kept.
      for (const l of lines.values()) {
        l.segs = [];
        l.restarts = [];
        l.opens = 0;
        l.row.label.dataset.opens = '0';
      }
      for (const tr of JSON.parse(e.data)) applyTransition(tr);
    });
    es.addEventListener('transition', (e) => {
      applyTransition(JSON.parse(e.data));
      if (snap) drawTimeline(snap.time);
    });
    es.addEventListener('snapshot', (e) => onSnapshot(JSON.parse(e.data)));
  }

  document.getElementById('expand').onclick = () => { for (const pe of provEls.values()) pe.details.open = true; };
  document.getElementById('collapse').onclick = () => { for (const pe of provEls.values()) pe.details.open = false; };
  window.addEventListener('resize', () => { if (snap) { drawTimeline(snap.time); drawRates(snap.time); } });
  connect();
})();
