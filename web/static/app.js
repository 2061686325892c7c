// devloop dashboard: plain JavaScript, no build step. It follows the
// server's websocket (a snapshot, then deltas; see docs/api.md), keeps the
// view in memory and renders the log pane virtually, so 100k+ lines cost
// only the few dozen DOM nodes on screen.
(() => {
  'use strict';

  // MAX_LINES bounds the lines kept in the page (about 40 MB of text at
  // 200 bytes a line); the oldest tenth goes when it is reached.
  const MAX_LINES = 200000;
  // LINE_H must match .log-line's height in style.css: the virtual log
  // positions lines by index times this.
  const LINE_H = 18;
  // OVERSCAN lines are rendered above and below the visible ones so that
  // scrolling does not show blank rows before the next frame.
  const OVERSCAN = 30;
  // Reconnect backoff: the first retry is quick (devloop restarting), the
  // cap keeps a stopped devloop from being polled more than every 10 s.
  const BACKOFF_MIN = 500;
  const BACKOFF_MAX = 10000;

  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };

  // ---- ANSI escapes ----
  // Programs colour their output (compilers, test runners, loggers). Log
  // lines render SGR colours and attributes (ESC[...m) as spans; every
  // other escape (cursor moves, erase, OSC titles and links) is dropped, and
  // text shown where colour cannot be (errors, the list, the toast) is
  // stripped. Filter and search match the text without escapes.
  const ESC_RE = /\x1b(?:\[([0-9;:?]*)([@-~])|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[()#][0-9A-Za-z]|[@-Z\\-_])/g;
  const stripAnsi = (text) => (text && text.indexOf('\x1b') >= 0 ? text.replace(ESC_RE, '') : text);
  // 256-colour index → CSS colour (16 basic ones are classes).
  function color256(n) {
    if (n < 16) return null;
    if (n >= 232) { const v = 8 + (n - 232) * 10; return 'rgb(' + v + ',' + v + ',' + v + ')'; }
    n -= 16;
    const c = (x) => (x ? 55 + x * 40 : 0);
    return 'rgb(' + c(Math.floor(n / 36)) + ',' + c(Math.floor(n / 6) % 6) + ',' + c(n % 6) + ')';
  }
  // parseAnsi splits text into segments {t, cls, style} and gives the plain text.
  function parseAnsi(text) {
    if (text.indexOf('\x1b') < 0) return { plain: text, segs: null };
    const segs = [];
    let plain = '';
    let st = { fg: null, bg: null, bold: false, dim: false, italic: false, under: false };
    const push = (t) => {
      if (!t) return;
      plain += t;
      const cls = [];
      let style = '';
      if (typeof st.fg === 'number') cls.push('a-fg' + st.fg); else if (st.fg) style += 'color:' + st.fg + ';';
      if (typeof st.bg === 'number') cls.push('a-bg' + st.bg); else if (st.bg) style += 'background:' + st.bg + ';';
      if (st.bold) cls.push('a-b');
      if (st.dim) cls.push('a-dim');
      if (st.italic) cls.push('a-i');
      if (st.under) cls.push('a-u');
      segs.push({ t, cls: cls.join(' '), style });
    };
    let at = 0;
    ESC_RE.lastIndex = 0;
    for (let m; (m = ESC_RE.exec(text)); ) {
      push(text.slice(at, m.index));
      at = ESC_RE.lastIndex;
      if (m[2] !== 'm') continue;
      const codes = (m[1] || '0').split(/[;:]/).map((x) => parseInt(x || '0', 10));
      for (let i = 0; i < codes.length; i++) {
        const c = codes[i];
        if (c === 0) st = { fg: null, bg: null, bold: false, dim: false, italic: false, under: false };
        else if (c === 1) st.bold = true;
        else if (c === 2) st.dim = true;
        else if (c === 3) st.italic = true;
        else if (c === 4) st.under = true;
        else if (c === 22) { st.bold = false; st.dim = false; }
        else if (c === 23) st.italic = false;
        else if (c === 24) st.under = false;
        else if (c >= 30 && c <= 37) st.fg = c - 30;
        else if (c >= 90 && c <= 97) st.fg = c - 90 + 8;
        else if (c === 39) st.fg = null;
        else if (c >= 40 && c <= 47) st.bg = c - 40;
        else if (c >= 100 && c <= 107) st.bg = c - 100 + 8;
        else if (c === 49) st.bg = null;
        else if ((c === 38 || c === 48) && codes[i + 1] === 5) {
          const n = codes[i + 2] || 0;
          const v = n < 16 ? n : color256(n);
          if (c === 38) st.fg = v; else st.bg = v;
          i += 2;
        } else if ((c === 38 || c === 48) && codes[i + 1] === 2) {
          const v = 'rgb(' + (codes[i + 2] || 0) + ',' + (codes[i + 3] || 0) + ',' + (codes[i + 4] || 0) + ')';
          if (c === 38) st.fg = v; else st.bg = v;
          i += 4;
        }
      }
    }
    push(text.slice(at));
    return { plain, segs };
  }
  // withAnsi gives a log line its plain text and segments, once.
  function withAnsi(l) {
    if (l.plain === undefined) {
      const p = parseAnsi(l.text || '');
      l.plain = p.plain;
      l.segs = p.segs;
    }
    return l;
  }

  const params = new URLSearchParams(location.search);
  const state = {
    token: document.querySelector('meta[name="devloop-token"]').content || params.get('token') || '',
    resources: new Map(),
    order: [],
    devfile: {},
    cluster: null,
    seq: 0,
    logs: [],
    cursor: 0,
    selected: decodeURIComponent((location.hash.match(/^#r=(.*)$/) || [])[1] || ''),
    filter: '',
    search: '',
    view: [],
    hits: [],
    hit: -1,
    follow: true,
    // times shows each line's time; kept across reloads.
    times: localStorage.getItem('devloop.times') === '1',
    // table shows the overview table instead of the list and the logs.
    table: localStorage.getItem('devloop.view') === 'table',
    conn: 'connecting',
    backoff: BACKOFF_MIN,
    messages: 0,
  };
  // Exposed for the browser test and for debugging from the console.
  window.devloop = state;

  // ---- formatting ----
  function dur(ms) {
    if (ms < 1000) return Math.max(0, Math.round(ms)) + 'ms';
    if (ms < 60000) return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + 's';
    const m = Math.floor(ms / 60000);
    return m + 'm' + Math.round((ms % 60000) / 1000) + 's';
  }
  function ago(t) {
    const s = Math.max(0, (Date.now() - t) / 1000);
    if (s < 60) return Math.floor(s) + 's ago';
    if (s < 3600) return Math.floor(s / 60) + 'm ago';
    if (s < 172800) return Math.floor(s / 3600) + 'h ago';
    return Math.floor(s / 86400) + 'd ago';
  }
  const time = (s) => (s && !s.startsWith('0001-')) ? Date.parse(s) : 0;
  const busy = (p) => p === 'building' || p === 'deploying' || p === 'syncing';

  // ---- resources ----
  function renderResources() {
    const groups = new Map();
    let labelled = false;
    for (const name of state.order) {
      const r = state.resources.get(name);
      if (!r) continue;
      const labels = r.labels && r.labels.length ? r.labels : [''];
      for (const l of labels) {
        if (l) labelled = true;
        if (!groups.has(l)) groups.set(l, []);
        groups.get(l).push(r);
      }
    }
    const keys = [...groups.keys()].sort((a, b) => (a === '') - (b === '') || a.localeCompare(b));
    const frag = document.createDocumentFragment();
    if (state.order.length === 0) frag.append(el('p', 'empty', state.conn === 'open' ? 'No resources.' : ''));
    for (const k of keys) {
      const g = el('div', 'group');
      if (labelled) g.append(el('h3', '', k || 'unlabelled'));
      for (const r of groups.get(k)) g.append(resourceRow(r));
      frag.append(g);
    }
    $('groups').replaceChildren(frag);
    $('all').classList.toggle('selected', state.selected === '');
    renderTable();

    const counts = {};
    for (const r of state.resources.values()) counts[r.phase] = (counts[r.phase] || 0) + 1;
    const parts = [state.resources.size + ' resources'];
    for (const p of ['ready', 'building', 'deploying', 'syncing', 'pending', 'error', 'disabled']) {
      if (counts[p]) parts.push(counts[p] + ' ' + p);
    }
    $('summary').textContent = parts.join(' · ');
  }

  // renderTable draws the overview: one row per resource, as Tilt's table
  // view, with the same actions as the list.
  function renderTable() {
    $('overview').hidden = !state.table;
    $('main').hidden = state.table;
    $('view-mode').textContent = state.table ? 'List' : 'Table';
    $('view-mode').classList.toggle('on', state.table);
    if (!state.table) return;
    const rows = [];
    for (const name of state.order) {
      const r = state.resources.get(name);
      if (!r) continue;
      const tr = el('tr', 'row');
      tr.dataset.resource = r.name;
      tr.dataset.phase = r.phase;
      const nameCell = el('td', 'name');
      const open = el('a', '', r.name);
      open.href = '#r=' + encodeURIComponent(r.name);
      open.dataset.action = 'open';
      nameCell.append(el('span', 'phase-dot'), ' ', open);
      const status = el('td', 'status', r.phase + (r.waiting ? ' (' + r.waiting + ')' : ''));
      if (r.error) {
        status.append(el('div', 'err', stripAnsi(r.error).split('\n')[0]));
      }
      const u = r.current || r.last_update;
      const start = u ? time(u.start) : 0, end = u ? time(u.end) : 0;
      const when = !u ? '' : end ? ago(end) + (u.result && u.result !== 'ok' ? ' · ' + u.result : '') : 'updating';
      const took = !u ? '' : (u.live_update ? 'live ' : '') + dur((end || Date.now()) - start);
      const links = el('td', 'links');
      for (const l of r.links || []) links.append(link(l), ' ');
      const acts = el('td', 'acts');
      const trig = el('button', 'btn icon', '▶');
      trig.type = 'button';
      trig.title = 'Trigger an update of ' + r.name;
      trig.dataset.action = 'trigger';
      trig.disabled = !r.enabled;
      const tog = el('button', 'btn small', r.enabled ? 'Disable' : 'Enable');
      tog.type = 'button';
      tog.dataset.action = 'toggle';
      acts.append(trig, ' ', tog);
      tr.append(nameCell, el('td', 'kind', r.kind), status, el('td', 'when', when), el('td', 'took', took), links,
        el('td', 'mode', r.trigger_mode || 'auto'), acts);
      rows.push(tr);
    }
    $('res-table').tBodies[0].replaceChildren(...rows);
  }

  function lastUpdateText(r) {
    const u = r.current || r.last_update;
    if (!u) return '';
    const start = time(u.start), end = time(u.end);
    if (!end) return 'updating for ' + dur(Date.now() - start);
    return ago(end) + ' · ' + (u.live_update ? 'live update ' : '') + dur(end - start) + (u.result && u.result !== 'ok' ? ' · ' + u.result : '');
  }

  function resourceRow(r) {
    const row = el('div', 'res');
    row.dataset.resource = r.name;
    row.dataset.phase = r.phase;
    row.classList.toggle('selected', state.selected === r.name);
    row.title = r.name + ': ' + r.phase;
    row.append(el('span', 'phase-dot'), el('span', 'name', r.name));
    const acts = el('span', 'acts');
    const trig = el('button', 'btn icon', '▶');
    trig.type = 'button';
    trig.title = 'Trigger an update of ' + r.name;
    trig.dataset.action = 'trigger';
    trig.disabled = !r.enabled;
    if (r.queued && r.queued.length) trig.classList.add('on');
    acts.append(trig);
    row.append(acts);
    const meta = el('div', 'meta');
    let phase = r.phase;
    if (r.waiting) phase += ' (' + r.waiting + ')';
    meta.append(el('span', 'phase-label', phase));
    const lu = lastUpdateText(r);
    if (lu) meta.append(el('span', 'when', lu));
    if (r.queued && r.queued.length) meta.append(el('span', 'queued-n', r.queued.length + ' queued'));
    for (const l of r.links || []) meta.append(link(l));
    row.append(meta);
    if (r.error) row.append(el('div', 'err', stripAnsi(r.error).split('\n')[0]));
    return row;
  }

  function link(l) {
    const a = el('a', '', l.name || l.url.replace(/^https?:\/\//, ''));
    a.href = /^https?:\/\//.test(l.url) ? l.url : 'about:blank';
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
    return a;
  }

  // ---- the selected resource ----
  function renderDetail() {
    const r = state.resources.get(state.selected);
    $('resource').hidden = !r;
    $('log-title').textContent = r ? r.name + ' logs' : 'All logs';
    if (!r) return;
    $('resource').dataset.phase = r.phase;
    $('d-phase').dataset.phase = r.phase;
    $('d-name').textContent = r.name;
    $('d-phase-text').textContent = r.phase + (r.trigger_mode === 'manual' ? ' · manual' : '');
    $('d-kind').textContent = r.kind;
    $('d-trigger').disabled = !r.enabled;
    $('d-toggle').textContent = r.enabled ? 'Disable' : 'Enable';
    $('d-links').replaceChildren(...(r.links || []).map(link));
    $('d-error').hidden = !r.error;
    $('d-error').textContent = stripAnsi(r.error) || '';
    $('d-waiting').hidden = !r.waiting;
    $('d-waiting').textContent = r.waiting ? 'Waiting for ' + r.waiting : '';
    $('d-queued').hidden = !(r.queued && r.queued.length);
    $('d-queued').textContent = r.queued && r.queued.length ? 'Queued changes: ' + r.queued.join(', ') : '';
    renderTrace(r.current || r.last_update);
  }

  // renderTrace draws each step of an update as a bar on a shared time
  // axis: file event → build/sync/deploy steps → ready.
  function renderTrace(u) {
    $('d-trace').hidden = !u;
    if (!u) return;
    const now = Date.now();
    const start = time(u.start);
    const end = time(u.end) || now;
    const steps = (u.steps || []).map((s) => ({ name: s.name, start: time(s.start), end: time(s.end) }));
    const t0 = Math.min(start, ...steps.map((s) => s.start));
    const t1 = Math.max(end, ...steps.map((s) => s.end || now));
    const span = Math.max(1, t1 - t0);
    let title = (u.end && time(u.end) ? 'Last update' : 'Update in progress') + ' #' + u.id + ' · ' + (u.live_update ? 'live update · ' : '') + u.reason;
    if (u.files && u.files.length) title += ' (' + u.files.slice(0, 3).join(', ') + (u.files.length > 3 ? ', …' : '') + ')';
    title += ' · ' + (u.result || '') + ' · ' + dur(end - start);
    $('d-trace-title').textContent = title;
    const rows = [];
    // total runs from the first event (the file change) to ready: the
    // latency the developer feels, queueing included.
    for (const s of steps.concat([{ name: 'total', start: t0, end: time(u.end) }])) {
      const row = el('div', 'trace-row');
      row.dataset.step = s.name;
      const lane = el('div', 'lane');
      const bar = el('div', 'bar' + (s.end ? '' : ' open'));
      const e = s.end || now;
      bar.style.left = ((s.start - t0) / span * 100) + '%';
      bar.style.width = ((e - s.start) / span * 100) + '%';
      lane.append(bar);
      row.append(el('span', 'step', s.name), lane, el('span', 'dur', dur(e - s.start)));
      rows.push(row);
    }
    $('d-trace-bars').replaceChildren(...rows);
  }

  function select(name) {
    state.selected = name;
    history.replaceState(null, '', name ? '#r=' + encodeURIComponent(name) : location.pathname + location.search);
    rebuildView();
    renderResources();
    renderDetail();
  }

  // ---- logs ----
  function matches(l) {
    if (state.selected && l.resource !== state.selected) return false;
    return !state.filter || l.plain.toLowerCase().includes(state.filter);
  }
  function isHit(l) {
    return state.search && l.plain.toLowerCase().includes(state.search);
  }

  function appendLogs(lines) {
    for (const l of lines) {
      state.logs.push(withAnsi(l));
      if (matches(l)) {
        state.view.push(state.logs.length - 1);
        if (isHit(l)) state.hits.push(state.view.length - 1);
      }
    }
    if (state.logs.length > MAX_LINES) {
      state.logs.splice(0, Math.ceil(MAX_LINES / 10));
      rebuildView();
      return;
    }
    scheduleLog();
  }

  function rebuildView() {
    state.view = [];
    state.hits = [];
    const logs = state.logs;
    for (let i = 0; i < logs.length; i++) {
      if (matches(logs[i])) {
        state.view.push(i);
        if (isHit(logs[i])) state.hits.push(state.view.length - 1);
      }
    }
    state.hit = -1;
    scheduleLog();
  }

  let logFrame = 0;
  function scheduleLog() {
    if (!logFrame) logFrame = requestAnimationFrame(() => { logFrame = 0; renderLog(); });
  }

  // autoTop is where the page last scrolled the log itself; a scroll event
  // elsewhere is the user's, and decides whether to keep following.
  let autoTop = -1;
  function renderLog() {
    const box = $('log');
    const n = state.view.length;
    const win = $('log-window');
    // The window of lines scrolls with the content: move it home first, or
    // its old offset (from a longer log) would keep the scroll range long.
    win.style.top = '0px';
    $('log-spacer').style.height = (n * LINE_H) + 'px';
    if (state.follow) {
      box.scrollTop = box.scrollHeight;
      autoTop = box.scrollTop;
    }
    const first = Math.min(n, Math.max(0, Math.floor(box.scrollTop / LINE_H) - OVERSCAN));
    const last = Math.min(n, Math.ceil((box.scrollTop + box.clientHeight) / LINE_H) + OVERSCAN);
    win.style.top = (first * LINE_H) + 'px';
    const current = state.hit >= 0 ? state.hits[state.hit] : -1;
    const frag = document.createDocumentFragment();
    for (let i = first; i < last; i++) frag.append(logLine(state.logs[state.view[i]], i === current));
    win.replaceChildren(frag);
    $('log-count').textContent = n.toLocaleString() + (n === 1 ? ' line' : ' lines');
    $('search-count').textContent = state.search ? (state.hit >= 0 ? (state.hit + 1) + '/' : '') + state.hits.length.toLocaleString() + ' found' : '';
    $('log-follow').classList.toggle('on', state.follow);
    $('log-times').classList.toggle('on', state.times);
  }

  // lineTime is a line's local time of day with milliseconds (HH:MM:SS.mmm).
  function lineTime(iso) {
    const d = new Date(iso);
    if (isNaN(d)) return '';
    const p = (n, w) => String(n).padStart(w, '0');
    return p(d.getHours(), 2) + ':' + p(d.getMinutes(), 2) + ':' + p(d.getSeconds(), 2) + '.' + p(d.getMilliseconds(), 3);
  }

  function logLine(l, current) {
    const d = el('div', 'log-line');
    if (current) d.classList.add('current');
    if (state.times) {
      const ts = el('span', 'ts', lineTime(l.time));
      ts.title = l.time || '';
      d.append(ts);
    }
    if (l.dropped) {
      d.classList.add('dropped');
      d.append('… ' + l.dropped + ' older lines' + (l.resource ? ' of ' + l.resource : '') + ' dropped …');
      return d;
    }
    if (!state.selected) d.append(el('span', 'src', l.resource || 'devloop'));
    const text = l.plain;
    // Search hits as [start, end) ranges of the plain text.
    const hits = [];
    if (state.search) {
      const lower = text.toLowerCase();
      for (let i = lower.indexOf(state.search); i >= 0; i = lower.indexOf(state.search, i + state.search.length)) {
        hits.push([i, i + state.search.length]);
      }
    }
    const segs = l.segs || [{ t: text, cls: '', style: '' }];
    let pos = 0;
    let h = 0;
    for (const sg of segs) {
      // One segment: pieces inside and outside the hits that cross it.
      const parts = [];
      const end = pos + sg.t.length;
      let at = pos;
      while (at < end) {
        while (h < hits.length && hits[h][1] <= at) h++;
        const hit = h < hits.length && hits[h][0] <= at;
        const stop = h < hits.length ? Math.min(end, hit ? hits[h][1] : hits[h][0]) : end;
        const piece = sg.t.slice(at - pos, stop - pos);
        parts.push(hit ? el('mark', '', piece) : piece);
        at = stop;
      }
      if (!sg.cls && !sg.style) {
        d.append(...parts);
      } else {
        const span = el('span', sg.cls);
        if (sg.style) span.style.cssText = sg.style;
        span.append(...parts);
        d.append(span);
      }
      pos = end;
    }
    return d;
  }

  function jump(delta) {
    if (!state.hits.length) return;
    state.hit = (state.hit + delta + state.hits.length) % state.hits.length;
    state.follow = false;
    const box = $('log');
    box.scrollTop = state.hits[state.hit] * LINE_H - box.clientHeight / 2;
    autoTop = box.scrollTop;
    renderLog();
  }

  // ---- actions ----
  let toastTimer = 0;
  function toast(msg) {
    const t = $('toast');
    t.textContent = stripAnsi(msg);
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { t.hidden = true; }, 6000);
  }

  async function refreshToken() {
    try {
      const r = await fetch('/api/token', { cache: 'no-store' });
      if (r.ok) return (await r.json()).token;
    } catch (e) {
      return null; // devloop is not answering
    }
    return state.token; // a remote page: keep the token from its URL
  }

  async function act(path, retried) {
    try {
      const r = await fetch(path, { method: 'POST', headers: { 'X-Devloop-Token': state.token } });
      if (r.status === 401 && !retried) {
        const t = await refreshToken();
        if (t && t !== state.token) { state.token = t; return act(path, true); }
      }
      if (!r.ok) {
        const b = await r.json().catch(() => ({}));
        toast(b.error || ('devloop answered ' + r.status));
      }
    } catch (e) {
      toast('devloop is not answering: is `devloop up` still running?');
    }
  }
  const trigger = (name) => act('/api/trigger/' + encodeURIComponent(name));
  const setEnabled = (name, on) => act('/api/resources/' + encodeURIComponent(name) + (on ? '/enable' : '/disable'));

  // ---- connection ----
  function setConn(c, text) {
    state.conn = c;
    document.body.dataset.conn = c;
    $('conn').textContent = text || c;
  }

  function reset() {
    state.resources = new Map();
    state.order = [];
    state.logs = [];
    state.cursor = 0;
    rebuildView();
  }

  function handle(m) {
    state.messages++;
    if (m.type === 'snapshot') {
      if (m.log_reset) reset();
      const v = m.view;
      state.resources = new Map((v.resources || []).map((r) => [r.name, r]));
      state.order = (v.resources || []).map((r) => r.name);
      state.devfile = v.devfile || {};
      state.cluster = v.cluster || null;
      state.kube = v.kube || null;
    } else {
      for (const r of m.resources || []) {
        if (!state.resources.has(r.name) && !m.names) state.order.push(r.name);
        state.resources.set(r.name, r);
      }
      if (m.names) {
        state.order = m.names;
        for (const n of [...state.resources.keys()]) if (!m.names.includes(n)) state.resources.delete(n);
      }
      if (m.devfile) state.devfile = m.devfile;
      if (m.cluster) state.cluster = m.cluster.error ? m.cluster : null;
      if (m.kube) state.kube = m.kube;
    }
    state.seq = m.seq;
    if (m.logs) appendLogs(m.logs);
    state.cursor = m.log_cursor;
    renderDevfile();
    renderResources();
    renderDetail();
  }

  function renderDevfile() {
    const d = state.devfile;
    const loaded = time(d.loaded_at);
    $('devfile').textContent = (d.path || '') + (loaded ? ' · loaded ' + ago(loaded) : '');
    $('devfile-error').hidden = !d.error;
    $('devfile-error').textContent = d.error ? 'Devfile error (the last good Devfile keeps running): ' + stripAnsi(d.error) : '';
    const w = d.warnings || [];
    $('devfile-warnings').hidden = !w.length;
    $('devfile-warnings').textContent = w.map((x) => 'warning: ' + x).join('\n');
    const k = state.kube;
    $('kube').textContent = k ? '⎈ ' + k.context + (k.namespace ? ' · ' + k.namespace : '') : '';
    const c = state.cluster;
    $('cluster-error').hidden = !c;
    $('cluster-error').textContent = c ? 'The cluster does not answer (since ' + ago(time(c.since)) + '): ' + stripAnsi(c.error) : '';
  }

  async function connect() {
    setConn('connecting', 'connecting…');
    const tok = await refreshToken();
    if (tok === null) return retry();
    if (tok !== state.token && state.token && state.logs.length) reset(); // a new run of devloop
    state.token = tok;
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(proto + '//' + location.host + '/ws?token=' + encodeURIComponent(tok) + '&log_after=' + state.cursor);
    ws.onopen = () => {
      state.backoff = BACKOFF_MIN;
      setConn('open', 'live');
    };
    ws.onmessage = (e) => handle(JSON.parse(e.data));
    ws.onclose = () => retry();
  }

  function retry() {
    const d = state.backoff;
    state.backoff = Math.min(BACKOFF_MAX, d * 2);
    const wait = d / 2 + Math.random() * d / 2; // jitter: tabs do not reconnect in lockstep
    setConn('closed', 'disconnected: retrying in ' + Math.ceil(wait / 1000) + 's');
    setTimeout(connect, wait);
  }

  // ---- wiring ----
  $('groups').addEventListener('click', (e) => {
    const row = e.target.closest('.res');
    if (!row) return;
    const name = row.dataset.resource;
    if (e.target.closest('a')) return;
    const btn = e.target.closest('button');
    if (btn && btn.dataset.action === 'trigger') {
      trigger(name);
      return;
    }
    select(name);
  });
  $('all').addEventListener('click', () => select(''));
  $('view-mode').addEventListener('click', () => {
    state.table = !state.table;
    localStorage.setItem('devloop.view', state.table ? 'table' : 'list');
    renderResources();
    scheduleLog();
  });
  $('res-table').addEventListener('click', (e) => {
    const row = e.target.closest('tr.row');
    if (!row) return;
    const r = state.resources.get(row.dataset.resource);
    const act = e.target.closest('[data-action]');
    if (!r || !act) return;
    switch (act.dataset.action) {
      case 'trigger': trigger(r.name); break;
      case 'toggle': setEnabled(r.name, !r.enabled); break;
      case 'open':
        e.preventDefault();
        state.table = false;
        localStorage.setItem('devloop.view', 'list');
        select(r.name);
        scheduleLog();
        break;
    }
  });
  $('d-trigger').addEventListener('click', () => trigger(state.selected));
  $('d-toggle').addEventListener('click', () => {
    const r = state.resources.get(state.selected);
    if (r) setEnabled(r.name, !r.enabled);
  });
  $('log-filter').addEventListener('input', (e) => {
    state.filter = e.target.value.toLowerCase();
    rebuildView();
  });
  $('log-search').addEventListener('input', (e) => {
    state.search = e.target.value.toLowerCase();
    rebuildView();
  });
  $('log-search').addEventListener('keydown', (e) => {
    if (e.key === 'Enter') jump(e.shiftKey ? -1 : 1);
  });
  $('search-next').addEventListener('click', () => jump(1));
  $('search-prev').addEventListener('click', () => jump(-1));
  $('log-times').addEventListener('click', () => {
    state.times = !state.times;
    localStorage.setItem('devloop.times', state.times ? '1' : '0');
    renderLog();
  });
  $('log-follow').addEventListener('click', () => {
    state.follow = !state.follow;
    renderLog();
  });
  $('log').addEventListener('scroll', () => {
    const box = $('log');
    if (box.scrollTop !== autoTop) {
      state.follow = box.scrollTop + box.clientHeight >= box.scrollHeight - LINE_H;
    }
    scheduleLog();
  });
  window.addEventListener('resize', scheduleLog);
  // Relative times ("3s ago") and running bars move on their own.
  setInterval(() => { renderDevfile(); renderResources(); renderDetail(); }, 1000);

  connect();
})();
