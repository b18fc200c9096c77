// Dashboards: boards of charts composed here and saved on the server
// (/api/dashboards), each linked by `?board=<id>`. A chart is TPS,
// response time or errors (for all transactions, or one service, instance
// or endpoint) or any stored metric series (by name, optionally one
// service). The board shows its time range (`range`, minutes, in the URL)
// ending now, or ending at the replayed second with a marker.
//
// Transaction charts without a filter come from /api/aggregates; with one,
// from /api/xlog's columns, bucketed here. Metric charts from /api/metrics.

import { el, getJSON, setUrlParams, urlParam } from './util.js';
import { chart, scaled } from './charts.js';
import { csrfHeaders, isAdmin, ready } from './session.js';

const RANGES = [[15, '15 min'], [60, '1 hour'], [360, '6 hours'], [1440, '24 hours']];
const KINDS = [['tps', 'TPS'], ['response', 'Response time'], ['errors', 'Errors'], ['metric', 'Metric']];
const POINTS = 300;          // buckets per transaction chart
const XLOG_LIMIT = 200_000;  // transactions read for a filtered chart
const REFRESH_MS = 10_000;

let board = blank();
let hooks = { replayAt: () => null, filter: () => ({}) };
let ui = null;
let drawing = 0;

function blank() {
  return { id: null, name: '', shared: false, range_min: 60, charts: [] };
}

/** The range shown, minutes: the URL's, else the board's. */
export function rangeMin() {
  const r = Number(urlParam('range'));
  return Number.isFinite(r) && r > 0 ? r : board.range_min || 60;
}

function say(text) {
  ui.status.textContent = text;
}

function title(c) {
  if (c.title) return c.title;
  const what = c.kind === 'metric' ? c.metric : KINDS.find(([k]) => k === c.kind)[1];
  const scope = [c.service, c.instance, c.endpoint].filter(Boolean).join(' / ');
  return scope ? `${what} — ${scope}` : what;
}

/** Transaction counts per bucket from /api/aggregates or /api/xlog. */
async function transactions(c, from, to) {
  const step = Math.max(1000, Math.ceil((to - from) / POINTS / 1000) * 1000);
  const n = Math.ceil((to - from) / step);
  const b = Array.from({ length: n }, () => ({ count: 0, errors: 0, sum: 0, max: 0 }));
  const add = (t, count, errors, sum, max) => {
    const i = Math.floor((t - from) / step);
    if (i < 0 || i >= n) return;
    b[i].count += count; b[i].errors += errors; b[i].sum += sum; b[i].max = Math.max(b[i].max, max);
  };
  if (!c.service && !c.instance && !c.endpoint && to - from <= 86_400_000) {
    const agg = await getJSON(`/api/aggregates?from=${from}&to=${to}&window_s=60`);
    for (const s of agg.seconds) add(s.second * 1000, s.count, s.errors, s.elapsed_avg_ms * s.count, s.elapsed_max_ms);
  } else {
    const q = new URLSearchParams({ from, to, limit: XLOG_LIMIT });
    for (const k of ['service', 'instance', 'endpoint']) if (c[k]) q.set(k, c[k]);
    const x = await getJSON(`/api/xlog?${q}`);
    x.end_ms.forEach((t, i) => add(t, 1, x.error[i] ? 1 : 0, x.elapsed_ms[i], x.elapsed_ms[i]));
  }
  const t = (i) => from + i * step + step / 2;
  const per = step / 1000;
  if (c.kind === 'tps') return [{ label: 'transactions/s', pts: b.map((v, i) => [t(i), v.count / per]) }];
  if (c.kind === 'errors') return [{ label: 'errors/s', pts: b.map((v, i) => [t(i), v.errors / per]) }];
  return [
    { label: 'avg ms', pts: b.map((v, i) => [t(i), v.count ? v.sum / v.count : 0]) },
    { label: 'max ms', pts: b.map((v, i) => [t(i), v.max]) },
  ];
}

async function metric(c, from, to) {
  const q = new URLSearchParams({ name: c.metric, from, to });
  if (c.service) q.set('service', c.service);
  const m = await getJSON(`/api/metrics?${q}`);
  const services = new Set(m.series.map((s) => s.service)).size;
  const { unit, f } = m.series.length ? scaled(m.series[0]) : { unit: '', f: (v) => v };
  const lines = m.series.slice(0, 6).map((s) => ({
    label: [services > 1 ? s.service : '', s.attributes].filter(Boolean).join(' ') || s.service,
    pts: s.points.map(([time, v]) => [time, f(v)]),
  }));
  lines.unit = unit;
  return lines;
}

/** Draws every chart of the board over the range ending now or at the replayed second. */
export async function draw() {
  if (!ui) return;
  const gen = ++drawing;
  const at = hooks.replayAt();
  const to = (at ?? Date.now()) + 1000, from = to - rangeMin() * 60_000;
  const loaded = await Promise.all(board.charts.map(async (c) => {
    try {
      return { lines: await (c.kind === 'metric' ? metric(c, from, to) : transactions(c, from, to)) };
    } catch (e) {
      return { lines: [], error: String(e.message || e) };
    }
  }));
  if (gen !== drawing) return;
  // Built and attached in one go: each chart draws its canvas once laid out.
  const figs = board.charts.map((c, i) => {
    const { lines, error } = loaded[i];
    const fig = chart(title(c), lines, from, to, at, c.kind === 'response' ? 'ms' : (lines.unit || ''));
    fig.dataset.kind = c.kind;
    fig.dataset.points = String(lines.reduce((n, l) => n + l.pts.filter(([, v]) => v > 0).length, 0));
    if (error) fig.append(el('p', { class: 'hint', role: 'alert', text: `cannot load: ${error}` }));
    fig.append(el('button', {
      type: 'button', class: 'chart-remove', text: 'Remove',
      'aria-label': `Remove chart ${title(c)} from the board`,
      onclick: () => { board.charts.splice(i, 1); changed(); },
    }));
    return fig;
  });
  ui.charts.replaceChildren(...(figs.length ? figs
    : [el('p', { class: 'hint', text: 'No charts yet: add one below, or with "Add to board" on an inspector chart.' })]));
  ui.charts.dataset.charts = String(figs.length);
}

function changed() {
  ui.save.textContent = board.id ? 'Save changes' : 'Save';
  say('unsaved changes');
  draw();
}

function showBoard() {
  ui.name.value = board.name;
  ui.shared.checked = board.shared;
  applyRole();
  ui.range.value = String(rangeMin());
  ui.remove.disabled = !board.id;
  ui.link.hidden = !board.id;
  if (board.id) {
    const q = new URLSearchParams({ board: board.id });
    ui.link.href = `/?${q}`;
  }
  ui.select.value = board.id || '';
  ui.save.textContent = 'Save';
  draw();
}

async function refreshList() {
  const { boards } = await getJSON('/api/dashboards');
  ui.select.replaceChildren(el('option', { value: '', text: '(new board)' }),
    ...boards.map((b) => el('option', { value: b.id, text: `${b.name}${b.shared ? ' (shared)' : ''}` })));
  ui.select.value = board.id || '';
}

/** Opens saved board `id` (its id goes in the URL). */
export async function open(id) {
  try {
    const b = await getJSON(`/api/dashboards/${encodeURIComponent(id)}`);
    board = b;
    setUrlParams({ board: b.id });
    showBoard();
    say(`board ${b.name}${b.owner ? ` by ${b.owner}` : ''}`);
  } catch (e) {
    say(`cannot open board ${id}: ${e.message || e}`);
  }
}

async function save() {
  const body = {
    name: ui.name.value.trim(), shared: ui.shared.checked, range_min: Number(ui.range.value),
    charts: board.charts,
  };
  const path = board.id ? `/api/dashboards/${encodeURIComponent(board.id)}` : '/api/dashboards';
  const resp = await fetch(path, {
    method: board.id ? 'PUT' : 'POST',
    headers: { 'content-type': 'application/json', ...csrfHeaders() },
    body: JSON.stringify(body),
  });
  if (!resp.ok) {
    const msg = await resp.json().then((j) => j.error).catch(() => resp.statusText);
    say(`not saved: ${msg}`);
    return;
  }
  board = await resp.json();
  setUrlParams({ board: board.id, range: null });
  await refreshList();
  showBoard();
  say(`saved ${board.name}`);
}

async function removeBoard() {
  if (!board.id) return;
  const resp = await fetch(`/api/dashboards/${encodeURIComponent(board.id)}`, {
    method: 'DELETE', headers: csrfHeaders(),
  });
  if (!resp.ok) { say(`not deleted: ${resp.status}`); return; }
  board = blank();
  setUrlParams({ board: null });
  await refreshList();
  showBoard();
  say('deleted');
}

/** Adds `spec` to the board being edited (from the form or an inspector chart). */
export function addChart(spec) {
  const c = { kind: spec.kind };
  for (const k of ['metric', 'service', 'instance', 'endpoint', 'title']) if (spec[k]) c[k] = spec[k];
  board.charts.push(c);
  changed();
  ui.panel.scrollIntoView({ block: 'nearest' });
}

/** Viewers save personal boards only; sharing is for admins. */
function applyRole() {
  ui.shared.disabled = !isAdmin();
  ui.shared.title = isAdmin() ? '' : 'Only admins share boards with every user';
}

function label(text, control) {
  return el('label', {}, `${text} `, control);
}

function build(panel) {
  const select = el('select', { id: 'board-select', onchange: () => {
    if (select.value) open(select.value);
    else { board = blank(); setUrlParams({ board: null }); showBoard(); say('new board'); }
  } });
  const name = el('input', { id: 'board-name', size: '16', required: true, oninput: () => { board.name = name.value; } });
  const shared = el('input', { id: 'board-shared', type: 'checkbox', onchange: () => { board.shared = shared.checked; } });
  const range = el('select', { id: 'board-range', onchange: () => {
    board.range_min = Number(range.value);
    setUrlParams({ range: range.value });
    draw();
  } }, ...RANGES.map(([v, t]) => el('option', { value: String(v), text: t })));
  const saveButton = el('button', { id: 'board-save', type: 'button', text: 'Save', onclick: () => save() });
  const remove = el('button', { id: 'board-delete', type: 'button', text: 'Delete', onclick: () => removeBoard() });
  const link = el('a', { id: 'board-link', text: 'Link to this board', hidden: true });
  const status = el('span', { id: 'board-status', role: 'status', 'aria-live': 'polite' });
  const kind = el('select', { name: 'kind' }, ...KINDS.map(([v, t]) => el('option', { value: v, text: t })));
  const metricList = el('datalist', { id: 'metric-names' });
  const input = (n, size) => el('input', { name: n, size: String(size) });
  const form = el('form', { id: 'board-add', 'aria-label': 'Add a chart to the board' },
    label('Chart', kind), label('Metric', el('input', { name: 'metric', size: '20', list: 'metric-names' })), metricList,
    label('Service', input('service', 10)), label('Instance', input('instance', 10)),
    label('Endpoint', input('endpoint', 12)),
    el('button', { type: 'button', id: 'board-use-filter', text: 'Use the filter', onclick: () => {
      const f = hooks.filter();
      for (const k of ['service', 'instance', 'endpoint']) form.elements[k].value = f[k] || '';
    } }),
    el('button', { type: 'submit', text: 'Add chart' }));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const spec = {};
    for (const k of ['kind', 'metric', 'service', 'instance', 'endpoint']) spec[k] = String(form.elements[k].value || '').trim();
    if (spec.kind === 'metric' && !spec.metric) { say('a metric chart needs a metric name'); form.elements.metric.focus(); return; }
    if (spec.kind !== 'metric') delete spec.metric;
    addChart(spec);
  });
  kind.addEventListener('change', () => { form.elements.metric.disabled = kind.value !== 'metric'; });
  form.elements.metric.disabled = true;
  const charts = el('div', { id: 'board-charts', class: 'board-charts' });
  panel.replaceChildren(
    el('h2', { text: 'Dashboards' }),
    el('div', { class: 'board-bar' }, label('Board', select), label('Name', name),
      el('label', {}, shared, ' Shared with every user'), label('Range', range), saveButton, remove, link, status),
    form, charts);
  return { panel, select, name, shared, range, save: saveButton, remove, link, status, charts, metricList };
}

async function fillMetricNames() {
  const m = await getJSON('/api/metrics?latest=true');
  const names = [...new Set(m.series.map((s) => s.name))].sort();
  ui.metricList.replaceChildren(...names.map((n) => el('option', { value: n })));
}

/**
 * Builds the panel in `panel`; `replayAt()` gives the replayed second (or
 * null when live), `filter()` the viewer's filter. Opens `?board=` if set.
 */
export async function init(panel, h) {
  hooks = { ...hooks, ...h };
  ui = build(panel);
  showBoard();
  ready.then(applyRole);
  setInterval(() => { if (board.charts.length && hooks.replayAt() === null) draw(); }, REFRESH_MS);
  try {
    await Promise.all([refreshList(), fillMetricNames()]);
  } catch (e) {
    say(`cannot list boards: ${e.message || e}`);
  }
  const id = urlParam('board');
  if (id) await open(id);
}
