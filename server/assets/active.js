// Active services: transactions in flight (from /api/active), yellow over
// 3 s, red over 8 s; a click or Enter shows the thread's stack.

import { el, fmtMs } from './util.js';

/** Shows the reports of /api/active. */
export function show(services) {
  const body = document.querySelector('#active tbody');
  const pre = document.getElementById('active-stack');
  body.replaceChildren();
  const rows = [];
  for (const s of services) for (const t of s.transactions) rows.push({ service: s.service, ...t });
  rows.sort((a, b) => b.elapsed_ms - a.elapsed_ms);
  for (const t of rows) {
    const cls = t.elapsed_ms > 8000 ? 'slow' : t.elapsed_ms > 3000 ? 'warn' : null;
    const showStack = () => {
      pre.hidden = false;
      pre.textContent = t.stack || `No stack captured for ${t.thread || 'this thread'}.`;
    };
    body.append(el('tr', {
      class: cls, tabindex: '0',
      onclick: showStack,
      onkeydown: (e) => { if (e.key === 'Enter') showStack(); },
    },
    el('td', { text: t.service }),
    el('td', { text: t.endpoint }),
    el('td', { class: 'num', text: fmtMs(t.elapsed_ms) }),
    el('td', { class: 'mono', text: t.thread })));
  }
  if (!rows.length) body.append(el('tr', {}, el('td', { colspan: '4', class: 'hint', text: 'Nothing in flight reported.' })));
}

/** `k=v,k=v` (the API's attribute text) → object; naive about commas in values. */
function parseAttrs(text) {
  const out = {};
  for (const part of text.split(',')) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i)] = part.slice(i + 1);
  }
  return out;
}

/**
 * Agents that sample in-flight transactions as metrics (the Java agent's
 * inspector: `osprey.active.count` per service and one
 * `osprey.active.elapsed` series, in seconds, per transaction, attributes
 * `osprey.transaction.name`, `thread.name`) rather than posting
 * /v1/active: the transactions of each service's latest sample, if it is
 * under 10 s old, as /api/active would report them.
 */
export function fromMetrics(counts, elapsed, now = Date.now()) {
  const out = [];
  for (const c of counts) {
    const [t, n] = c.points[c.points.length - 1] || [];
    if (!n || now - t > 10_000) continue;
    const transactions = elapsed
      .filter((s) => s.service === c.service && s.points.length && s.points[s.points.length - 1][0] === t)
      .map((s) => {
        const a = parseAttrs(s.attributes);
        const v = s.points[s.points.length - 1][1];
        return { endpoint: a['osprey.transaction.name'] || '?', elapsed_ms: v * 1000, thread: a['thread.name'] || a['thread.id'] || '' };
      });
    out.push({ service: c.service, received_ms: t, transactions });
  }
  return out;
}
