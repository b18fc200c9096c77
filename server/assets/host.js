// Host and container panel: for one host (picked in the panel, from the
// server map or the URL's `?host=`), the host metrics its agents or
// `osprey host` send (system.*, process.* of the top processes,
// container.* of the process's cgroup v2) as small charts and tables.
// Series are told apart by their `host.name` point attribute; several
// services on one host send the same system series, so each is shown once.

import { el } from './util.js';
import { chart as lineChart } from './charts.js';

const MiB = 1048576;
const MIN_SPAN_MS = 60_000;

let selected = new URLSearchParams(window.location.search).get('host');
let last = { series: [], instances: [], x0: 0, x1: 0, marker: null };

/** True for the series this panel shows (the inspector leaves them out). */
export function owns(s) {
  return s.name.startsWith('system.') || s.name.startsWith('container.')
    || (s.name.startsWith('process.') && s.attributes.includes('process.pid='));
}

/** `k=v,k=v` (sorted by key) → Map; a value may itself hold commas. */
export function attrs(text) {
  const out = new Map();
  let key = null;
  for (const part of (text || '').split(',')) {
    const m = /^([A-Za-z0-9_.]+)=(.*)$/.exec(part);
    if (m) { key = m[1]; out.set(key, m[2]); } else if (key) out.set(key, `${out.get(key)},${part}`);
  }
  return out;
}

/** Keeps the selected host in the URL beside whatever else is there. */
function writeURL() {
  const params = new URLSearchParams(window.location.search);
  if ((params.get('host') || null) === selected) return;
  if (selected) params.set('host', selected); else params.delete('host');
  const q = params.toString();
  window.history.replaceState(null, '', `${window.location.pathname}${q ? `?${q}` : ''}${window.location.hash}`);
}

export function init() {
  document.getElementById('host-pick').addEventListener('change', (e) => {
    selected = e.target.value || null;
    writeURL();
    render();
  });
}

/** The host of series `s`: its `host.name` attribute, else its sender's. */
function hostOf(s) {
  return attrs(s.attributes).get('host.name') || s.host || undefined;
}

/**
 * Hosts that send host metrics but run no instrumented instance seen
 * (`osprey host` alone): the server map shows them as host nodes.
 */
export function bareHosts() {
  const busy = new Set(last.instances.map((i) => i.host).filter(Boolean));
  const hosts = new Set(last.series.map(hostOf).filter((h) => h && !busy.has(h)));
  return [...hosts].sort();
}

/** Shows host `name` (a host node of the server map). */
export function showHost(name) {
  selected = name;
  writeURL();
  render();
  document.getElementById('host-panel').scrollIntoView({ block: 'nearest' });
}

/** Shows the host that runs service `name` (from the server map). */
export function showService(name) {
  const hosts = new Set(last.instances.filter((i) => i.service === name && i.host).map((i) => i.host));
  for (const s of last.series) {
    if (s.service === name && owns(s)) hosts.add(hostOf(s));
  }
  hosts.delete(undefined);
  if (hosts.size === 0) return;
  selected = [...hosts].sort()[0];
  writeURL();
  render();
  document.getElementById('host-panel').scrollIntoView({ block: 'nearest' });
}

/** The instances of /api/instances (which host runs what). */
export function setInstances(list) {
  last.instances = list;
}

/** New data: `series` from /api/metrics over [x0, x1], `instances` from /api/instances. */
export function show(series, instances, x0, x1, marker = null) {
  last = { series: series.filter(owns), instances: instances ?? last.instances, x0, x1, marker };
  render();
}

/** The selected host's series, one per metric name and attribute set. */
function hostSeries(host) {
  const byKey = new Map();
  for (const s of last.series) {
    const a = attrs(s.attributes);
    if (hostOf(s) !== host) continue;
    const key = `${s.name}|${s.attributes}`;
    const have = byKey.get(key);
    if (!have || s.points.length > have.points.length) byKey.set(key, { ...s, attrs: a });
  }
  return [...byKey.values()];
}

function named(list, name) {
  return list.filter((s) => s.name === name);
}

/** Per-second increase of a cumulative counter (a reset starts again). */
function rate(points, f = (v) => v) {
  const out = [];
  for (let i = 1; i < points.length; i++) {
    const dt = (points[i][0] - points[i - 1][0]) / 1000;
    if (dt <= 0) continue;
    const d = points[i][1] - points[i - 1][1];
    out.push([points[i][0], f((d >= 0 ? d : points[i][1]) / dt)]);
  }
  return out;
}

function latest(s) {
  return s.points.length ? s.points[s.points.length - 1] : null;
}

function render() {
  writeURL();
  const hosts = new Set();
  for (const s of last.series) {
    const h = hostOf(s);
    if (h) hosts.add(h);
  }
  if (selected) hosts.add(selected);
  const pick = document.getElementById('host-pick');
  const sorted = [...hosts].sort();
  pick.replaceChildren(el('option', { value: '', text: sorted.length ? 'choose a host' : 'no host metrics yet' }),
    ...sorted.map((h) => el('option', { value: h, text: h, selected: h === selected })));
  const box = document.getElementById('host');
  if (!selected) { box.replaceChildren(el('p', { class: 'hint', text: 'Pick a host, or a service on the server map.' })); return; }
  const list = hostSeries(selected);
  const { x1, marker } = last;
  // Start where the data starts (at least a minute shown), as the inspector does.
  let first = Infinity;
  for (const s of list) if (s.points.length) first = Math.min(first, s.points[0][0]);
  const x0 = Math.max(last.x0, Math.min(first, x1 - MIN_SPAN_MS));
  const figs = [];
  const running = last.instances.filter((i) => i.host === selected);
  figs.push(el('p', { class: 'hint', text: running.length
    ? `Instances on ${selected}: ${running.map((i) => `${i.service}${i.pid ? ` (pid ${i.pid})` : ''}`).join(', ')}`
    : `No instrumented instance seen on ${selected}.` }));
  const by = (name, key, f = (v) => v, label = null) => named(list, name)
    .map((s) => ({ label: label ? label(s) : s.attrs.get(key) ?? name, pts: s.points.map(([t, v]) => [t, f(v)]) }));
  const cpu = by('system.cpu.utilization', 'cpu.mode', (v) => v * 100)
    .filter((l) => ['user', 'system', 'iowait', 'steal'].includes(l.label));
  figs.push(chart('CPU', cpu, x0, x1, marker, '%'));
  figs.push(chart('Load', ['1m', '5m', '15m'].flatMap((w) => by(`system.cpu.load_average.${w}`, '', undefined, () => w)),
    x0, x1, marker));
  const mem = [
    ...by('system.memory.usage', 'system.memory.state', (v) => v / MiB).filter((l) => l.label === 'used'),
    ...by('system.linux.memory.available', '', (v) => v / MiB, () => 'available'),
    ...by('system.paging.usage', 'system.paging.state', (v) => v / MiB).filter((l) => l.label === 'used')
      .map((l) => ({ ...l, label: 'swap used' })),
  ];
  figs.push(chart('Memory', mem, x0, x1, marker, 'MiB'));
  const io = named(list, 'system.disk.io').map((s) => ({
    label: `${s.attrs.get('system.device')} ${s.attrs.get('disk.io.direction')}`, pts: rate(s.points, (v) => v / MiB) }));
  figs.push(chart('Disk I/O', io, x0, x1, marker, 'MiB/s'));
  figs.push(chart('Disk space used', by('system.filesystem.utilization', 'system.filesystem.mountpoint', (v) => v * 100),
    x0, x1, marker, '%'));
  const net = named(list, 'system.network.io').map((s) => ({
    label: `${s.attrs.get('network.interface.name')} ${s.attrs.get('network.io.direction')}`,
    pts: rate(s.points, (v) => v / 1024) }));
  figs.push(chart('Network', net, x0, x1, marker, 'KiB/s'));
  const errs = [...named(list, 'system.network.errors'), ...named(list, 'system.network.dropped')]
    .map((s) => ({ label: `${s.attrs.get('network.interface.name')} ${s.name.slice(15)} ${s.attrs.get('network.io.direction')}`,
      pts: rate(s.points) }))
    .filter((l) => l.pts.some(([, v]) => v > 0));
  if (errs.length) figs.push(chart('Network errors and drops', errs, x0, x1, marker, '/s'));
  figs.push(tcpTable(named(list, 'system.network.connections')));
  figs.push(processTable(list));
  figs.push(...containerFigures(list, x0, x1, marker));
  box.replaceChildren(...figs);
  box.dataset.host = selected;
  box.dataset.metrics = JSON.stringify([...new Set(list.map((s) => s.name))].sort());
}

function tcpTable(series) {
  const rows = series.map((s) => [s.attrs.get('network.connection.state'), latest(s)?.[1] ?? 0])
    .filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
  return el('figure', { class: 'chart table', 'data-name': 'tcp' },
    el('figcaption', { text: 'TCP connections' }),
    el('table', { id: 'host-tcp' },
      el('thead', {}, el('tr', {}, el('th', { scope: 'col', text: 'State' }), el('th', { scope: 'col', class: 'num', text: 'Connections' }))),
      el('tbody', {}, ...rows.map(([state, n]) => el('tr', {}, el('td', { text: state }), el('td', { class: 'num', text: String(n) }))))));
}

function processTable(list) {
  // The latest sample's processes: each list is refreshed every second.
  const newest = Math.max(0, ...named(list, 'process.memory.usage').map((s) => latest(s)?.[0] ?? 0));
  const procs = new Map();
  for (const s of [...named(list, 'process.memory.usage'), ...named(list, 'process.cpu.utilization')]) {
    const p = latest(s);
    if (!p || p[0] < newest - 1500) continue;
    const pid = s.attrs.get('process.pid');
    const row = procs.get(pid) ?? { pid, name: s.attrs.get('process.executable.name'), cpu: null, rss: null };
    if (s.name === 'process.memory.usage') row.rss = p[1]; else row.cpu = p[1];
    procs.set(pid, row);
  }
  const rows = [...procs.values()].sort((a, b) => (b.cpu ?? 0) - (a.cpu ?? 0) || (b.rss ?? 0) - (a.rss ?? 0));
  return el('figure', { class: 'chart table', 'data-name': 'processes' },
    el('figcaption', { text: 'Top processes (CPU, resident memory)' }),
    el('table', { id: 'host-processes' },
      el('thead', {}, el('tr', {}, ...['PID', 'Name', 'CPU %', 'RSS MiB'].map((h, i) =>
        el('th', { scope: 'col', class: i === 1 ? null : 'num', text: h })))),
      el('tbody', {}, ...rows.map((r) => el('tr', {},
        el('td', { class: 'num', text: r.pid }), el('td', { text: r.name ?? '' }),
        el('td', { class: 'num', text: r.cpu === null ? '' : (r.cpu * 100).toFixed(1) }),
        el('td', { class: 'num', text: r.rss === null ? '' : (r.rss / MiB).toFixed(1) }))))));
}

function containerFigures(list, x0, x1, marker) {
  const cs = list.filter((s) => s.name.startsWith('container.'));
  if (!cs.length) return [];
  const ids = [...new Set(cs.map((s) => s.attrs.get('container.id') ?? ''))];
  return ids.flatMap((id) => {
    const mine = cs.filter((s) => (s.attrs.get('container.id') ?? '') === id);
    const label = id ? `container ${id.slice(0, 12)}` : 'cgroup';
    const cpu = named(mine, 'container.cpu.time').map((s) => ({ label: s.attrs.get('cpu.mode'), pts: rate(s.points, (v) => v * 100) }));
    const thr = named(mine, 'container.cpu.throttled.periods').map((s) => ({ label: 'throttled periods', pts: rate(s.points) }));
    const mem = [...named(mine, 'container.memory.usage').map((s) => ({ label: 'usage', pts: s.points.map(([t, v]) => [t, v / MiB]) })),
      ...named(mine, 'container.memory.limit').map((s) => ({ label: 'limit', pts: s.points.map(([t, v]) => [t, v / MiB]) }))];
    const oom = named(mine, 'container.memory.oom_kills').map((s) => latest(s)?.[1] ?? 0)[0];
    // A cgroup without the memory controller (the root) has no memory chart.
    const figs = [[`${label} CPU`, cpu, '% of a core'], [`${label} throttling`, thr, '/s'], [`${label} memory`, mem, 'MiB']]
      .filter(([, lines]) => lines.length)
      .map(([title, lines, unit]) => chart(title, lines, x0, x1, marker, unit));
    if (oom !== undefined) figs.push(el('p', { class: 'oom', 'data-name': 'oom', text: `${label}: ${oom} processes killed for lack of memory (OOM)` }));
    return figs;
  });
}

/** One chart (the inspector's), its canvas labelled with each line's latest value for screen readers. */
function chart(title, lines, x0, x1, marker, unit = '') {
  const fig = lineChart(title, lines, x0, x1, marker, unit);
  const summary = lines.map((l) => {
    const p = l.pts[l.pts.length - 1];
    return p ? `${l.label} ${p[1] >= 100 ? p[1].toFixed(0) : p[1].toPrecision(3)}` : null;
  }).filter(Boolean).join(', ');
  fig.querySelector('canvas').setAttribute('aria-label', `${title}${unit ? ` (${unit})` : ''}: ${summary || 'no data'}`);
  return fig;
}
