// Agent drops per instance: the counters each agent exports about itself
// (core/src/collector/self_metrics.rs), latest values since its collector
// started, one row per instance (`service.instance.id`, else its host):
// transactions taken, dropped at the queue, kept without their call tree
// (tree budget), dropped at export, steps dropped, names refused, metric
// sets dropped. A row with losses is marked, not only coloured.

import { el } from './util.js';
import { attrs } from './host.js';

const PROCESSED = 'otel.sdk.processor.span.processed';
const EXPORTED = 'otel.sdk.exporter.span.exported';

/** Columns: header, and which series add to it. */
const COLUMNS = [
  ['Taken', (s, a) => s.name === PROCESSED && !a.has('error.type')],
  ['Dropped at queue', (s, a) => s.name === PROCESSED && a.get('error.type') === 'queue_full'],
  ['Without call tree', (s) => s.name === 'osprey.agent.tree_budget.left_out'],
  ['Dropped at export', (s, a) => s.name === EXPORTED && a.has('error.type')],
  ['Steps dropped', (s) => s.name === 'osprey.agent.steps.dropped'],
  ['Names refused', (s) => s.name === 'osprey.agent.names.refused'],
  ['Metric sets dropped', (s) => s.name === 'osprey.agent.metric_sets.dropped'],
];
/** Columns that count losses (not "Taken", not the tree budget's summaries). */
const LOSSES = [1, 3, 4, 5, 6];

/** True for the agents' own counters. */
export function owns(s) {
  return s.name === PROCESSED || s.name === EXPORTED || s.name.startsWith('osprey.agent.');
}

/** Rows `{ service, instance, host, values[] }` from /api/metrics series. */
export function rows(series) {
  const out = new Map();
  for (const s of series) {
    if (!owns(s) || !s.points.length) continue;
    const a = attrs(s.attributes);
    const col = COLUMNS.findIndex(([, f]) => f(s, a));
    if (col < 0) continue;
    const key = `${s.service}\u0000${s.instance || ''}\u0000${s.host || ''}`;
    const row = out.get(key) ?? { service: s.service, instance: s.instance || '', host: s.host || '', values: COLUMNS.map(() => 0) };
    row.values[col] += s.points[s.points.length - 1][1];
    out.set(key, row);
  }
  return [...out.values()].sort((x, y) => x.service.localeCompare(y.service) || x.instance.localeCompare(y.instance));
}

/** Shows the agents' drop counters of `series` in the drops panel. */
export function show(series) {
  const box = document.getElementById('drops');
  const list = rows(series);
  if (!list.length) {
    box.replaceChildren(el('p', { class: 'hint', text: 'No agent has reported its own counters in range.' }));
    return;
  }
  const head = el('tr', {}, el('th', { scope: 'col', text: 'Service' }), el('th', { scope: 'col', text: 'Instance' }),
    ...COLUMNS.map(([h]) => el('th', { scope: 'col', class: 'num', text: h })));
  const body = list.map((r) => {
    const lost = LOSSES.some((i) => r.values[i] > 0);
    const who = r.instance || r.host || '(no instance id)';
    return el('tr', { class: lost ? 'lossy' : null, 'data-instance': r.instance, 'data-service': r.service },
      el('td', { text: r.service }),
      el('th', { scope: 'row', text: `${who}${lost ? ' (losing data)' : ''}`, title: r.host ? `host ${r.host}` : null }),
      ...r.values.map((v, i) => el('td', { class: `num${LOSSES.includes(i) && v > 0 ? ' bad' : ''}`, 'data-col': COLUMNS[i][0], text: String(v) })));
  });
  box.replaceChildren(el('table', { id: 'drops-table' },
    el('caption', { text: 'Agent counters per instance, since each agent started' }),
    el('thead', {}, head), el('tbody', {}, ...body)));
}
