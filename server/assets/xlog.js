// XLog scatter: one dot per finished transaction, x = end time, y = elapsed
// (log or linear, auto scale), errors red. Drag a rectangle to select.

import { clock, fitCanvas, fmtMs } from './util.js';

const PAD = { l: 52, r: 10, t: 10, b: 24 };
const canvas = () => document.getElementById('xlog');

let dots = [];          // {end, elapsed, error, id, trace, service, endpoint, instance, omitted}
let range = null;       // fixed x range [from, to] in replay, null in live
let drag = null;        // {x0, y0, x1, y1} in CSS pixels while dragging
let onSelect = () => {};
let onPick = () => {};
let scale = null;       // the last drawn scale, to map pixels back to data

/** Replaces the dots shown (already filtered and bounded by the caller). */
export function setDots(list, xRange = null) {
  dots = list;
  range = xRange;
  draw();
}

/** Dots currently drawn (for the count and the test hook). */
export function shown() {
  return dots;
}

function nice(v) {
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function computeScale(w, h) {
  const now = Date.now();
  let x0, x1;
  if (range) [x0, x1] = range;
  else {
    x1 = now;
    const oldest = dots.length ? Math.min(...dots.slice(0, 5000).map((d) => d.end)) : now;
    x0 = Math.max(now - 600_000, Math.min(oldest - 2_000, now - 30_000));
  }
  const log = document.getElementById('xlog-log').checked;
  let maxEl = 1;
  for (const d of dots) if (d.elapsed > maxEl) maxEl = d.elapsed;
  const y1 = log ? Math.pow(10, Math.ceil(Math.log10(maxEl * 1.05))) : nice(maxEl * 1.1);
  const y0 = log ? 0.1 : 0;
  const pw = w - PAD.l - PAD.r, ph = h - PAD.t - PAD.b;
  const fy = log
    ? (v) => Math.log10(Math.max(v, y0) / y0) / Math.log10(y1 / y0)
    : (v) => v / y1;
  const gy = log ? (f) => y0 * Math.pow(y1 / y0, f) : (f) => f * y1;
  return {
    x0, x1, y0, y1, log,
    px: (t) => PAD.l + ((t - x0) / (x1 - x0)) * pw,
    py: (v) => PAD.t + ph - Math.min(1, Math.max(0, fy(v))) * ph,
    tx: (x) => x0 + ((x - PAD.l) / pw) * (x1 - x0),
    ty: (y) => gy(1 - (y - PAD.t) / ph),
  };
}

/** Redraws axes, dots and the selection rectangle. */
export function draw() {
  const c = canvas();
  const { ctx, w, h } = fitCanvas(c);
  const s = (scale = computeScale(w, h));
  ctx.clearRect(0, 0, w, h);
  ctx.strokeStyle = '#2c333d';
  ctx.fillStyle = '#8a94a3';
  ctx.font = '10px system-ui';
  ctx.lineWidth = 1;
  // y grid: decades (log) or five steps (linear)
  const ticks = [];
  if (s.log) for (let v = s.y0; v <= s.y1 * 1.001; v *= 10) ticks.push(v);
  else for (let i = 0; i <= 5; i++) ticks.push((s.y1 * i) / 5);
  for (const v of ticks) {
    const y = Math.round(s.py(v)) + 0.5;
    ctx.beginPath(); ctx.moveTo(PAD.l, y); ctx.lineTo(w - PAD.r, y); ctx.stroke();
    ctx.fillText(fmtMs(v) + ' ms', 2, y + 3);
  }
  // x labels: five times
  for (let i = 0; i <= 4; i++) {
    const t = s.x0 + ((s.x1 - s.x0) * i) / 4;
    ctx.fillText(clock(t, s.x1 - s.x0 < 5_000), Math.min(w - 50, s.px(t) - 20), h - 8);
  }
  // dots: normal first, errors on top
  for (const pass of [false, true]) {
    ctx.fillStyle = pass ? '#ff4d4f' : '#4fa3ff';
    for (const d of dots) {
      if (d.error !== pass) continue;
      ctx.fillRect(s.px(d.end) - 1.5, s.py(d.elapsed) - 1.5, 3, 3);
    }
  }
  if (drag) {
    ctx.strokeStyle = '#f5c542';
    ctx.setLineDash([4, 3]);
    ctx.strokeRect(drag.x0, drag.y0, drag.x1 - drag.x0, drag.y1 - drag.y0);
    ctx.setLineDash([]);
  }
  c.dataset.dots = String(dots.length);
  c.dataset.errors = String(dots.filter((d) => d.error).length);
  document.getElementById('xlog-count').textContent = `${dots.length} transactions`;
}

/** The dots inside a rectangle given in canvas CSS pixels. */
export function dotsIn(x0, y0, x1, y1) {
  if (!scale) return [];
  const [ta, tb] = [scale.tx(Math.min(x0, x1)), scale.tx(Math.max(x0, x1))];
  const [ea, eb] = [scale.ty(Math.max(y0, y1)), scale.ty(Math.min(y0, y1))];
  // Dots are drawn clamped to the plot: a rectangle touching an edge takes what is beyond it.
  const lo = Math.max(y0, y1) >= scale.py(scale.y0) - 1 ? -Infinity : ea;
  const hi = Math.min(y0, y1) <= PAD.t + 1 ? Infinity : eb;
  return dots.filter((d) => d.end >= ta && d.end <= tb && d.elapsed >= lo && d.elapsed <= hi);
}

/** The dot drawn nearest to (x, y) within 6 px, if any. */
function nearest(x, y) {
  if (!scale) return null;
  let best = null, bestD = 36;
  for (const d of dots) {
    const dx = scale.px(d.end) - x, dy = scale.py(d.elapsed) - y;
    const dist = dx * dx + dy * dy;
    if (dist <= bestD) { best = d; bestD = dist; }
  }
  return best;
}

/**
 * Wires the pointer: dragging a rectangle calls `select(list)` with its
 * dots; a click on a dot calls `pick(dot)`; hovering names the dot.
 */
export function init(select, pick) {
  onSelect = select;
  onPick = pick;
  const c = canvas();
  const pos = (e) => {
    const r = c.getBoundingClientRect();
    return [e.clientX - r.left, e.clientY - r.top];
  };
  c.addEventListener('pointerdown', (e) => {
    const [x, y] = pos(e);
    drag = { x0: x, y0: y, x1: x, y1: y };
    if (c.setPointerCapture && e.pointerId !== undefined) {
      try { c.setPointerCapture(e.pointerId); } catch (_) { /* synthetic events */ }
    }
  });
  c.addEventListener('pointermove', (e) => {
    if (!drag) {
      const d = nearest(...pos(e));
      c.title = d ? `${d.service}${d.instance ? ` (${d.instance})` : ''} ${d.endpoint}: ${fmtMs(d.elapsed)} ms at ${clock(d.end, true)}${d.error ? ' (error)' : ''}${d.omitted ? ', call tree not kept' : ''}` : '';
      return;
    }
    [drag.x1, drag.y1] = pos(e);
    draw();
  });
  c.addEventListener('pointerup', () => {
    if (!drag) return;
    const d = drag;
    drag = null;
    draw();
    if (Math.abs(d.x1 - d.x0) > 2 && Math.abs(d.y1 - d.y0) > 2) {
      onSelect(dotsIn(d.x0, d.y0, d.x1, d.y1));
    } else {
      const hit = nearest(d.x1, d.y1);
      if (hit) onPick(hit);
    }
  });
  // Keyboard: Enter selects every dot shown.
  c.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') onSelect(dots.slice());
  });
  document.getElementById('xlog-log').addEventListener('change', draw);
  window.addEventListener('resize', draw);
}
