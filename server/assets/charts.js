// Inspector: small line charts of TPS and response time per second (from
// /api/aggregates) and of every metric /api/metrics returns (JVM heap, GC,
// threads, CPU, classes, ... whatever the agents send), one chart per
// metric name with one line per attribute set. A vertical marker shows the
// replayed second.

import { clock, el, fitCanvas } from './util.js';

const COLORS = ['#4fa3ff', '#ff4d4f', '#57c785', '#f5c542', '#b48cff', '#ff9f43'];
// Charted first, in this order, when present; others follow by name.
const PREFERRED = ['jvm.memory.used', 'jvm.memory.committed', 'jvm.gc.collections.count',
  'jvm.gc.collections.elapsed', 'jvm.gc.duration', 'jvm.thread.count', 'jvm.cpu.recent_utilization',
  'process.cpu.utilization', 'jvm.cpu.time', 'jvm.class.count', 'jvm.class.loaded'];
// Cumulative counters the agent sends: charted as the increase between samples.
const CUMULATIVE = new Set(['jvm.gc.collections.count', 'jvm.gc.collections.elapsed', 'jvm.cpu.time',
  'jvm.class.loaded', 'jvm.class.unloaded']);
const MAX_CHARTS = 24;
const MIN_SPAN_MS = 60_000;

let onAdd = null;

/** Gives every inspector chart an "Add to board" button calling `f(spec)`. */
export function setAddHandler(f) {
  onAdd = f;
}

/** Draws one chart: `lines` = [{label, pts: [[t_ms, v]]}], x range [x0, x1]. */
export function chart(title, lines, x0, x1, marker, unit = '') {
  const canvas = el('canvas', { role: 'img', 'aria-label': title });
  const legend = el('div', { class: 'legend' }, ...lines.map((l, i) => {
    const key = el('span', { text: '■ ' });
    key.style.color = COLORS[i % COLORS.length];
    return el('span', {}, key, l.label, ' ');
  }));
  const fig = el('figure', { class: 'chart', 'data-name': title },
    el('figcaption', { text: `${title}${unit ? ` (${unit})` : ''}` }), canvas, legend);
  // Drawn once attached (the canvas needs its layout size).
  queueMicrotask(() => {
    const { ctx, w, h } = fitCanvas(canvas);
    let max = 0;
    for (const l of lines) for (const [, v] of l.pts) if (v > max) max = v;
    max = max > 0 ? max * 1.1 : 1;
    const px = (t) => 4 + ((t - x0) / Math.max(1, x1 - x0)) * (w - 8);
    const py = (v) => h - 12 - (v / max) * (h - 22);
    ctx.fillStyle = '#8a94a3';
    ctx.font = '10px system-ui';
    ctx.fillText(max >= 100 ? max.toFixed(0) : max.toPrecision(3), 4, 10);
    ctx.fillText(clock(x0), 4, h - 1);
    ctx.fillText(clock(x1), w - 48, h - 1);
    lines.forEach((l, i) => {
      ctx.strokeStyle = COLORS[i % COLORS.length];
      ctx.beginPath();
      l.pts.forEach(([t, v], j) => (j ? ctx.lineTo(px(t), py(v)) : ctx.moveTo(px(t), py(v))));
      ctx.stroke();
    });
    if (marker) {
      ctx.strokeStyle = '#f5c542';
      ctx.beginPath(); ctx.moveTo(px(marker), 0); ctx.lineTo(px(marker), h); ctx.stroke();
    }
  });
  return fig;
}

/** Display unit and scale of a series (bytes as MiB, utilization as %). */
export function scaled(s) {
  if (s.unit === 'By') return { unit: 'MiB', f: (v) => v / 1048576 };
  if (s.unit === '1' && /utilization/.test(s.name)) return { unit: '%', f: (v) => v * 100 };
  return { unit: s.unit || '', f: (v) => v };
}

/** Increase between consecutive points of a cumulative counter (a reset starts again). */
function increases(points, f) {
  const out = [];
  for (let i = 1; i < points.length; i++) {
    const d = points[i][1] - points[i - 1][1];
    out.push([points[i][0], f(d >= 0 ? d : points[i][1])]);
  }
  return out;
}

/**
 * Redraws the inspector: `seconds` from /api/aggregates, `series` from
 * /api/metrics, over [x0, x1] (UNIX ms), with an optional marker.
 */
export function show(seconds, series, x0, x1, marker = null) {
  const box = document.getElementById('charts');
  // Start where the data starts (at least a minute shown), not at an empty range's edge.
  let first = Infinity;
  for (const s of seconds) if (s.count > 0) { first = s.second * 1000; break; }
  for (const s of series) if (s.points.length) first = Math.min(first, s.points[0][0]);
  x0 = Math.max(x0, Math.min(first, x1 - MIN_SPAN_MS));
  const figs = [];
  const pts = (f) => seconds.map((s) => [s.second * 1000, f(s)]);
  const addable = (fig, spec) => {
    if (onAdd) {
      fig.append(el('button', {
        type: 'button', class: 'chart-add', text: 'Add to board',
        'aria-label': `Add ${fig.dataset.name} to the board`, onclick: () => onAdd(spec),
      }));
    }
    return fig;
  };
  figs.push(chart('TPS', [{ label: 'transactions/s', pts: pts((s) => s.count) },
    { label: 'errors/s', pts: pts((s) => s.errors) }], x0, x1, marker));
  addable(figs[0], { kind: 'tps' });
  figs.push(chart('Response time', [{ label: 'avg', pts: pts((s) => s.elapsed_avg_ms) },
    { label: 'max', pts: pts((s) => s.elapsed_max_ms) }], x0, x1, marker, 'ms'));
  addable(figs[1], { kind: 'response' });
  const byName = new Map();
  for (const s of series) (byName.get(s.name) || byName.set(s.name, []).get(s.name)).push(s);
  const names = [...byName.keys()].sort((a, b) => {
    const ia = PREFERRED.indexOf(a), ib = PREFERRED.indexOf(b);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
  });
  for (const name of names.slice(0, MAX_CHARTS)) {
    const list = byName.get(name);
    const { unit, f } = scaled(list[0]);
    const services = new Set(list.map((s) => s.service)).size;
    // Several processes of one service send the same series: name the instance.
    const instances = new Set(list.map((s) => s.instance || '')).size;
    const lines = list.slice(0, 6).map((s) => ({
      label: [services > 1 ? s.service : '', instances > 1 ? s.instance || s.host : '', s.attributes]
        .filter(Boolean).join(' ') || s.service,
      pts: CUMULATIVE.has(name) ? increases(s.points, f) : s.points.map(([t, v]) => [t, f(v)]),
    }));
    figs.push(addable(chart(name, lines, x0, x1, marker, CUMULATIVE.has(name) ? `${unit} per sample` : unit),
      { kind: 'metric', metric: name }));
  }
  box.replaceChildren(...figs);
  box.dataset.metrics = JSON.stringify(names);
}
