// Osprey viewer entry point: holds the state (live or replay, filter, the
// XLog dots) and polls the query API; each panel lives in its own module.
//
// Live: /api/xlog once for the last ten minutes, then every second
// /api/xlog?since=cursor for what arrived since (filtered here on the
// columns it has; a client-IP or user filter reloads from the server).
// Every few seconds the server map, the inspector and active services.
// Replay: /api/at for one second drives the scatter, list and map; the
// charts show the five minutes up to it with a marker.
//
// The whole view is in the page URL, so every view can be linked: the
// filter (filter.js), `t` (the replayed second, UNIX ms), `txn` (the
// transaction whose call tree is open), `range` (minutes of the inspector
// and the board) and `board` (dashboards.js).

import { getJSON, clock, setUrlParams, urlParam } from './util.js';
import * as xlog from './xlog.js';
import * as list from './list.js';
import * as tree from './tree.js';
import * as filter from './filter.js';
import * as servermap from './servermap.js';
import * as charts from './charts.js';
import * as active from './active.js';
import * as replay from './replay.js';
import * as session from './session.js';
import * as host from './host.js';
import * as drops from './drops.js';
import * as alerts from './alerts.js';
import * as dashboards from './dashboards.js';

const WINDOW_MS = 600_000;   // dots kept: last ten minutes ...
const MAX_DOTS = 50_000;     // ... and at most this many
const CHART_MS = 300_000;    // inspector range, unless the URL sets `range`

/** The inspector's range, ms: the URL's `range` (minutes) or five minutes. */
function chartMs() {
  const r = Number(urlParam('range'));
  return Number.isFinite(r) && r > 0 ? Math.min(r, 1440) * 60_000 : CHART_MS;
}

const state = { mode: 'live', t: null, filter: {}, gen: 0, dots: [], cursor: null, polls: 0, errors: 0 };
let tick = 0;
let busy = false; // one live step at a time

/** Columnar /api/xlog answer → dot objects. */
function columns(c) {
  return c.end_ms.map((end, i) => ({
    end, elapsed: c.elapsed_ms[i], error: c.error[i], id: c.id[i],
    trace: c.trace_id[i], service: c.service[i], endpoint: c.endpoint[i],
    instance: c.instance[i] ?? null, omitted: c.tree_omitted[i],
  }));
}

/** /api/transactions or /api/at rows → dot objects. */
function rows(list) {
  return list.map((t) => ({
    end: t.end_ms, elapsed: t.elapsed_ms, error: t.error, id: t.id,
    trace: t.trace_id, service: t.service, endpoint: t.endpoint,
    ip: t.client_ip ?? null, user: t.user ?? null,
    instance: t.instance ?? null, omitted: t.tree_omitted,
  }));
}

function trim() {
  const oldest = Date.now() - WINDOW_MS;
  let d = state.dots.filter((x) => x.end >= oldest);
  if (d.length > MAX_DOTS) d = d.slice(d.length - MAX_DOTS);
  state.dots = d;
}

/** Loads the last ten minutes matching the filter. */
async function loadBase() {
  const from = Date.now() - WINDOW_MS;
  return getJSON(`/api/xlog?from=${from}&limit=${MAX_DOTS}${filter.query(state.filter)}`);
}

async function pollXlog() {
  // A filter change while a request is out makes its answer stale.
  const gen = state.gen;
  if (state.cursor === null || filter.needsServer(state.filter)) {
    const c = await loadBase();
    if (gen !== state.gen) return;
    state.dots = columns(c).sort((a, b) => a.end - b.end);
    state.cursor = c.cursor;
  } else {
    const c = await getJSON(`/api/xlog?since=${state.cursor}&limit=${MAX_DOTS}`);
    if (gen !== state.gen) return;
    state.dots.push(...columns(c).filter((d) => filter.matches(state.filter, d)));
    state.cursor = c.cursor;
  }
  trim();
  if (state.mode === 'live') xlog.setDots(state.dots);
}

async function pollMap() {
  const to = Date.now() + 1000;
  const map = await getJSON(`/api/servermap?from=${to - WINDOW_MS}&to=${to}`);
  if (state.mode === 'live') servermap.show(map.edges, [...new Set(state.dots.map((d) => d.service))], host.bareHosts());
}

async function pollCharts() {
  const to = Date.now() + 1000, from = to - chartMs();
  const [agg, met] = await Promise.all([
    getJSON(`/api/aggregates?from=${from}&to=${to}&window_s=60`),
    getJSON(`/api/metrics?from=${from}&to=${to}`),
  ]);
  if (state.mode === 'live') {
    // Host series go to the host panel, the rest to the inspector.
    charts.show(agg.seconds, met.series.filter((s) => !host.owns(s)), from, to);
    host.show(met.series, null, from, to);
    drops.show(met.series);
  }
}

async function pollInstances() {
  const answer = await getJSON('/api/instances');
  filter.showInstances(answer.instances, state.filter.instance);
  host.setInstances(answer.instances);
}

async function pollActive() {
  const [board, counts, elapsed] = await Promise.all([
    getJSON('/api/active'),
    getJSON('/api/metrics?name=osprey.active.count&latest=true'),
    getJSON('/api/metrics?name=osprey.active.elapsed&latest=true'),
  ]);
  // An explicit /v1/active report wins over what the metrics say.
  const reported = new Set(board.services.map((s) => s.service));
  const sampled = active.fromMetrics(counts.series, elapsed.series).filter((s) => !reported.has(s.service));
  active.show(board.services.concat(sampled));
}

/** Runs one panel's refresh; a failing panel never stops the others. */
async function guarded(what, f) {
  try {
    await f();
  } catch (e) {
    state.errors++;
    console.warn(`osprey viewer: ${what}:`, e);
  }
}

/** One live step: XLog every second, the rest every few seconds. */
async function live() {
  if (state.mode !== 'live' || busy) return;
  busy = true;
  const t = tick++;
  try {
    await guarded('xlog', pollXlog);
    if (t % 5 === 0) await guarded('server map', pollMap);
    if (t % 5 === 0) await guarded('inspector', pollCharts);
    if (t % 5 === 0) await guarded('instances', pollInstances);
    if (t % 2 === 0) await guarded('active services', pollActive);
    if (t % 5 === 0) await guarded('alerts', alerts.poll);
  } finally {
    busy = false;
  }
  state.polls++;
  document.body.dataset.ready = 'true';
}

/** Shows the second containing `t` (UNIX ms) as it was. */
async function replayAt(t) {
  state.mode = 'replay';
  state.t = t;
  replay.showAt(t);
  setUrlParams({ t });
  dashboards.draw();
  const mode = document.getElementById('mode');
  mode.className = 'mode replay';
  const at = await getJSON(`/api/at?t=${t}&limit=${MAX_DOTS}`);
  if (state.mode !== 'replay' || state.t !== t) return;
  const second = at.second * 1000;
  mode.textContent = `replay ${clock(second)}`;
  const dots = rows(at.transactions).filter((d) => filter.matches(state.filter, d));
  xlog.setDots(dots, [second, second + 1000]);
  list.show(dots, ` in ${clock(second)}`);
  servermap.show(at.edges, [...new Set(dots.map((d) => d.service))], host.bareHosts());
  document.getElementById('active-stack').hidden = true;
  // What was in flight then: the reports kept for that second, and the
  // agents' sampled metrics at it.
  const named = (n) => at.metrics.filter((s) => s.name === n);
  const reported = new Set(at.active.map((s) => s.service));
  const sampled = active.fromMetrics(named('osprey.active.count'), named('osprey.active.elapsed'), second + 999)
    .filter((s) => !reported.has(s.service));
  active.show(at.active.concat(sampled));
  const from = second - chartMs(), to = second + 1000;
  const [agg, met] = await Promise.all([
    getJSON(`/api/aggregates?from=${from}&to=${to}&window_s=60`),
    getJSON(`/api/metrics?from=${from}&to=${to}`),
  ]);
  charts.show(agg.seconds, met.series.filter((s) => !host.owns(s)), from, to, second);
  host.show(met.series, null, from, to, second);
  drops.show(met.series);
  document.body.dataset.replay = String(at.second);
}

/** Back to live. */
function goLive() {
  state.mode = 'live';
  state.t = null;
  replay.showAt(null);
  setUrlParams({ t: null });
  dashboards.draw();
  delete document.body.dataset.replay;
  const mode = document.getElementById('mode');
  mode.className = 'mode live';
  mode.textContent = 'live';
  xlog.setDots(state.dots);
  tick = 0;
  live();
}

function start() {
  xlog.init((sel) => list.show(sel), (dot) => { list.show([dot]); tree.show(dot.id); });
  list.init((d) => tree.show(d.id));
  state.filter = filter.init((f) => {
    state.filter = f;
    state.gen++;
    state.cursor = null;
    if (state.mode === 'replay') replayAt(state.t);
    else { tick = 0; live(); }
  });
  replay.init(replayAt, goLive);
  servermap.init((name) => { filter.showOnly(name); host.showService(name); }, (name) => host.showHost(name));
  host.init();
  session.init(document.querySelector('header'));
  alerts.init((id) => tree.show(id));
  charts.setAddHandler((spec) => dashboards.addChart(spec));
  dashboards.init(document.getElementById('boards-panel'), {
    replayAt: () => (state.mode === 'replay' ? state.t : null),
    filter: () => state.filter,
  });
  // A linked view: the replayed second and the open call tree (`?txn=<id>`,
  // as alert notices link).
  const t = Number(urlParam('t'));
  if (urlParam('t') && Number.isFinite(t) && t > 0) replayAt(t);
  const txn = urlParam('txn');
  if (txn) tree.show(txn);
  live();
  setInterval(live, 1000);
  setInterval(() => xlog.draw(), 1000);
  // For tests and the console: the state and the two entry points.
  window.osprey = { state, replay: replayAt, live: goLive, shown: () => xlog.shown().length };
}

start();
