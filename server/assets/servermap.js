// Server map: services, databases and external hosts as nodes, calls as
// edges labelled with count, errors and p95, and the hosts that send host
// metrics without an instrumented app (`osprey host`) as host nodes that
// open their host panel. Layered layout: a node's column is its longest
// call path from a service nobody calls.

import { fmtMs, svg } from './util.js';

let onService = () => {};
let onHost = () => {};

/**
 * `pick(name)` is called when a service node is clicked (or Enter on it),
 * `pickHost(name)` for a host node.
 */
export function init(pick, pickHost = () => {}) {
  onService = pick;
  onHost = pickHost;
}

const NODE_W = 130, NODE_H = 34, MIN_GAP = 150, ROW_GAP = 24;

function layers(nodes, edges) {
  const rank = new Map([...nodes.keys()].map((n) => [n, 0]));
  // Longest path by relaxation; bounded passes so cycles cannot loop.
  for (let pass = 0; pass < nodes.size; pass++) {
    let changed = false;
    for (const e of edges) {
      if (e.caller === e.callee) continue;
      const r = rank.get(e.caller) + 1;
      if (r > rank.get(e.callee) && r < nodes.size) { rank.set(e.callee, r); changed = true; }
    }
    if (!changed) break;
  }
  return rank;
}

/**
 * Draws `edges` (from /api/servermap or /api/at); `services` adds nodes
 * without calls, `hosts` host nodes (hosts without an instrumented app).
 */
export function show(edges, services = [], hosts = []) {
  const root = document.getElementById('servermap');
  root.replaceChildren();
  const nodes = new Map();
  for (const h of hosts) nodes.set(h, 'host');
  for (const s of services) nodes.set(s, 'service');
  for (const e of edges) {
    if (!nodes.has(e.caller)) nodes.set(e.caller, 'service');
    nodes.set(e.callee, e.callee_kind === 'unknown' ? 'service' : e.callee_kind);
  }
  root.dataset.nodes = String(nodes.size);
  root.dataset.edges = JSON.stringify(edges.map((e) => `${e.caller}->${e.callee}`));
  if (!nodes.size) {
    const t = svg('text', { x: 10, y: 20 });
    t.textContent = 'No calls in range.';
    root.append(t);
    return;
  }
  const rank = layers(nodes, edges);
  const cols = [];
  for (const [n, r] of rank) (cols[r] ||= []).push(n);
  // Spread the columns over the panel's width (never closer than MIN_GAP).
  const avail = root.getBoundingClientRect().width || 600;
  const gap = Math.max(MIN_GAP, cols.length > 1 ? (avail - 20 - cols.length * NODE_W) / (cols.length - 1) : 0);
  const pos = new Map();
  cols.forEach((col, c) => col.sort().forEach((n, i) => {
    pos.set(n, { x: 10 + c * (NODE_W + gap), y: 20 + i * (NODE_H + ROW_GAP) });
  }));
  const width = Math.max(avail, 20 + cols.length * NODE_W + (cols.length - 1) * gap);
  const height = 40 + Math.max(...cols.map((c) => c.length)) * (NODE_H + ROW_GAP);
  root.setAttribute('viewBox', `0 0 ${width} ${Math.max(height, 120)}`);
  const defs = svg('defs');
  const marker = svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto' });
  marker.append(svg('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#8a94a3' }));
  defs.append(marker);
  root.append(defs);
  for (const e of edges) {
    const a = pos.get(e.caller), b = pos.get(e.callee);
    const g = svg('g', { class: 'edge-group', 'data-caller': e.caller, 'data-callee': e.callee });
    let d;
    if (e.caller === e.callee) {
      d = `M${a.x + NODE_W - 20},${a.y} c30,-30 50,0 20,${NODE_H / 2}`;
    } else {
      const x1 = a.x + NODE_W, y1 = a.y + NODE_H / 2, x2 = b.x, y2 = b.y + NODE_H / 2;
      const mx = (x1 + x2) / 2;
      d = `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`;
    }
    g.append(svg('path', { d, class: `edge${e.errors ? ' err' : ''}`, 'marker-end': 'url(#arrow)' }));
    const lx = e.caller === e.callee ? a.x + NODE_W : a.x + NODE_W + 6;
    const ly = e.caller === e.callee ? a.y - 8 : a.y + NODE_H / 2 - 5 + (b.y - a.y) * 0.15;
    const label = svg('text', { x: lx, y: ly, class: 'elabel' });
    label.textContent = `${e.count} call${e.count === 1 ? '' : 's'}${e.errors ? `, ${e.errors} err` : ''}, p95 ${fmtMs(e.p95_ms)} ms`;
    const title = svg('title');
    title.textContent = `${e.caller} → ${e.callee}: ${e.count} calls, ${e.errors} errors, p50 ${fmtMs(e.p50_ms)} / p95 ${fmtMs(e.p95_ms)} / p99 ${fmtMs(e.p99_ms)} / max ${fmtMs(e.max_ms)} ms`;
    g.append(label, title);
    root.append(g);
  }
  for (const [n, kind] of nodes) {
    const p = pos.get(n);
    const g = svg('g', { class: `node ${kind}`, 'data-name': n, 'data-kind': kind });
    if (kind === 'service' || kind === 'host') {
      const pick = kind === 'service' ? onService : onHost;
      g.setAttribute('tabindex', '0');
      g.setAttribute('role', 'button');
      g.setAttribute('aria-label', kind === 'service' ? `Show only ${n}` : `Show host ${n}`);
      g.addEventListener('click', () => pick(n));
      g.addEventListener('keydown', (e) => { if (e.key === 'Enter') pick(n); });
    }
    if (kind === 'database') {
      g.append(svg('rect', { x: p.x, y: p.y, width: NODE_W, height: NODE_H, rx: 14 }));
    } else {
      g.append(svg('rect', { x: p.x, y: p.y, width: NODE_W, height: NODE_H, rx: 4 }));
    }
    const t = svg('text', { x: p.x + 8, y: p.y + 14 });
    t.textContent = n.length > 20 ? n.slice(0, 19) + '…' : n;
    const k = svg('text', { x: p.x + 8, y: p.y + 27, class: 'elabel' });
    k.textContent = kind;
    const title = svg('title');
    title.textContent = `${kind}: ${n}`;
    g.append(t, k, title);
    root.append(g);
  }
}
