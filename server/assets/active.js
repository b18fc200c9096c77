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
