// Inspector: small line charts of TPS and response time per second (from
// /api/aggregates) and of every metric /api/metrics returns (JVM heap, GC,
// threads, CPU, classes, ... whatever the agents send), one chart per
// metric name with one line per attribute set. A vertical marker shows the
// replayed second.

import { clock, el, fitCanvas } from './util.js';

const COLORS = ['#4fa3ff', '#ff4d4f', '#57c785', '#f5c542', '#b48cff', '#ff9f43'];
// Charted first, in this order, when present; others follow by name.
const PREFERRED = ['jvm.memory.used', 'jvm.memory.committed', 'jvm.gc.duration', 'jvm.gc.count',
  'jvm.gc.time', 'jvm.thread.count', 'jvm.cpu.recent_utilization', 'process.cpu.utilization',
  'jvm.class.loaded'];
const MAX_CHARTS = 16;

/** Draws one chart: `lines` = [{label, pts: [[t_ms, v]]}], x range [x0, x1]. */
function chart(title, lines, x0, x1, marker, unit = '') {
  const canvas = el('canvas', { role: 'img', 'aria-label': title });
  const legend = lines.map((l, i) => `${i < COLORS.length ? '■' : ''}${l.label}`).join(' ');
  const fig = el('figure', { class: 'chart', 'data-name': title },
    el('figcaption', { text: `${title}${unit ? ` (${unit})` : ''}` }), canvas);
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
  fig.title = legend;
  return fig;
}

function scaled(s) {
  if (s.unit === 'By') return { unit: 'MiB', f: (v) => v / 1048576 };
  if (s.unit === '1' && /utilization/.test(s.name)) return { unit: '%', f: (v) => v * 100 };
  return { unit: s.unit || '', f: (v) => v };
}

/**
 * Redraws the inspector: `seconds` from /api/aggregates, `series` from
 * /api/metrics, over [x0, x1] (UNIX ms), with an optional marker.
 */
export function show(seconds, series, x0, x1, marker = null) {
  const box = document.getElementById('charts');
  const figs = [];
  const pts = (f) => seconds.map((s) => [s.second * 1000, f(s)]);
  figs.push(chart('TPS', [{ label: 'transactions/s', pts: pts((s) => s.count) },
    { label: 'errors/s', pts: pts((s) => s.errors) }], x0, x1, marker));
  figs.push(chart('Response time', [{ label: 'avg', pts: pts((s) => s.elapsed_avg_ms) },
    { label: 'max', pts: pts((s) => s.elapsed_max_ms) }], x0, x1, marker, 'ms'));
  const byName = new Map();
  for (const s of series) (byName.get(s.name) || byName.set(s.name, []).get(s.name)).push(s);
  const names = [...byName.keys()].sort((a, b) => {
    const ia = PREFERRED.indexOf(a), ib = PREFERRED.indexOf(b);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
  });
  for (const name of names.slice(0, MAX_CHARTS)) {
    const list = byName.get(name);
    const { unit, f } = scaled(list[0]);
    const lines = list.slice(0, 6).map((s) => ({
      label: [list.length > 1 ? s.service : '', s.attributes].filter(Boolean).join(' ') || s.service,
      pts: s.points.map(([t, v]) => [t, f(v)]),
    }));
    figs.push(chart(name, lines, x0, x1, marker, unit));
  }
  box.replaceChildren(...figs);
  box.dataset.metrics = JSON.stringify(names);
}
