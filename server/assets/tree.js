// One transaction's call tree from /api/tree/{id}: a header (service,
// endpoint, elapsed, exception), then one row per step with its name
// indented by depth, SQL text, exception, and a bar placed at its offset
// with its duration, relative to the transaction. Attributes expand.

import { clock, el, fmtMs, getJSON, setUrlParams } from './util.js';

function attrs(map) {
  const keys = Object.keys(map || {});
  if (!keys.length) return null;
  return el('details', { class: 'attrs' },
    el('summary', { text: `${keys.length} attributes` }),
    el('table', {}, ...keys.map((k) => el('tr', {}, el('td', { class: 'mono', text: k }), el('td', { class: 'mono', text: map[k] })))));
}

function exc(type, message) {
  if (!type && !message) return null;
  return el('span', { class: 'exc', text: [type, message].filter(Boolean).join(': ') });
}

/** Buttons that open the transactions of other services a step called. */
function callees(list) {
  if (!list || !list.length) return null;
  return el('div', { class: 'callees' }, ...list.map((c) => el('button', {
    type: 'button', class: 'callee', 'data-id': c.id,
    text: `→ ${c.service} ${c.id}`,
    onclick: () => show(c.id),
  })));
}

/** A step row; its bar is placed on `frame` ({shift, total} in ms: the transaction, or the whole trace). */
function stepRow(s, frame) {
  const { shift, total } = frame;
  const left = total > 0 ? (100 * (shift + s.offset_ms)) / total : 0;
  const width = total > 0 ? (100 * s.duration_ms) / total : 0;
  const bar = el('div', { class: `bar ${s.kind}${s.error ? ' error' : ''}` });
  bar.style.left = `${Math.min(100, left)}%`;
  bar.style.width = `${Math.min(100 - Math.min(100, left), width)}%`;
  const name = el('div', { class: 'sname mono', text: s.name });
  name.style.paddingLeft = `${(s.depth - 1) * 14}px`;
  const detail = el('div', {},
    s.sql && s.sql !== s.name ? el('span', { class: 'sql mono', text: s.sql }) : null,
    exc(s.exception_type, s.exception_message),
    callees(s.callees),
    attrs(s.attributes));
  detail.style.paddingLeft = name.style.paddingLeft;
  return el('tr', {
    class: `step ${s.kind}${s.error ? ' error' : ''}`,
    'data-name': s.name,
    'data-kind': s.kind,
    title: Object.entries(s.attributes || {}).map(([k, v]) => `${k}=${v}`).join('\n'),
  },
  el('td', {}, name, detail),
  el('td', {}, el('div', { class: 'track', title: `+${fmtMs(s.offset_ms)} ms, ${fmtMs(s.duration_ms)} ms` }, bar)),
  el('td', { class: 'num', text: `+${fmtMs(s.offset_ms)}` }),
  el('td', { class: 'num', text: fmtMs(s.duration_ms) }));
}

function render(t, frame) {
  const x = t.transaction;
  const total = x.elapsed_ms;
  const head = el('div', { class: 'tree-head' },
    el('strong', { text: `${x.service} ${x.endpoint}` }),
    ` ${fmtMs(total)} ms, ended ${clock(x.end_ms, true)}`,
    x.http_status ? ` · HTTP ${x.http_status}` : '',
    x.client_ip ? ` · ${x.client_ip}` : '',
    x.user ? ` · user ${x.user}` : '',
    x.instance ? ` · instance ${x.instance}` : '',
    el('div', { class: 'mono' }, `trace ${x.trace_id} · transaction ${x.id} `,
      el('button', { type: 'button', class: 'whole-trace', text: 'Whole trace', onclick: () => show(x.trace_id) })),
    callees(t.callees),
    x.error ? exc(t.exception_type || 'error', t.exception_message) : null,
    attrs(t.attributes));
  const table = el('table', { class: 'steps' },
    el('colgroup', {}, el('col', { class: 'c-name' }), el('col', { class: 'c-bar' }), el('col', { class: 'c-ms' }), el('col', { class: 'c-ms' })),
    el('thead', {}, el('tr', {}, el('th', { text: 'Step' }), el('th', { text: 'Timeline' }), el('th', { class: 'num', text: 'Start ms' }), el('th', { class: 'num', text: 'ms' }))),
    el('tbody', {}, ...t.steps.map((s) => stepRow(s, frame))));
  const none = x.tree_omitted
    ? el('p', { class: 'hint omitted', text: 'Call tree not kept (over the agent\'s tree budget): the transaction, its counts and totals only.' })
    : el('p', { class: 'hint', text: 'No steps recorded.' });
  return el('div', { class: `txn${x.error ? ' error' : ''}`, 'data-id': x.id }, head, t.steps.length ? table : none);
}

/** Loads and shows the call tree of transaction `id` (16 hex digits), or of every transaction of trace `id` (32). */
export async function show(id) {
  const box = document.getElementById('tree');
  box.replaceChildren(el('p', { class: 'hint', text: 'Loading…' }));
  try {
    const data = await getJSON(`/api/tree/${id}`);
    // One time frame for all: several transactions of a trace line up.
    const start = Math.min(...data.transactions.map((t) => t.transaction.start_ms));
    const end = Math.max(...data.transactions.map((t) => t.transaction.start_ms + t.transaction.elapsed_ms));
    box.replaceChildren(...data.transactions.map((t) => render(t, {
      shift: t.transaction.start_ms - start,
      total: Math.max(end - start, t.transaction.elapsed_ms),
    })));
    box.dataset.id = id;
    // The open tree is part of the view's link (`txn=`).
    setUrlParams({ txn: id });
  } catch (e) {
    box.replaceChildren(el('p', { class: 'hint', text: `No call tree: ${e.message}` }));
  }
}
