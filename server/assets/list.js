// The list of selected transactions; a click (or Enter) opens the call tree.
// Keyboard: Tab into the list, arrow keys move, Enter opens.

import { clock, el, fmtMs } from './util.js';

const MAX_ROWS = 1000;
let onOpen = () => {};

/** Shows `list` (dots), newest first. */
export function show(list, note = '') {
  const body = document.querySelector('#txn-list tbody');
  body.replaceChildren();
  const rows = list.slice().sort((a, b) => b.end - a.end).slice(0, MAX_ROWS);
  for (const d of rows) {
    const tr = el('tr', {
      tabindex: '0',
      class: d.error ? 'error' : null,
      'data-id': d.id,
      'aria-label': `${d.endpoint}, ${fmtMs(d.elapsed)} ms${d.error ? ', error' : ''}`,
      onclick: () => open(tr, d),
      onkeydown: (e) => keys(e, tr, d),
    },
    el('td', { class: 'mono', text: clock(d.end, true) }),
    el('td', { text: d.service, title: d.instance ? `instance ${d.instance}` : null }),
    el('td', { text: d.endpoint }),
    el('td', { class: 'num', text: fmtMs(d.elapsed) }),
    el('td', { text: d.error ? 'error' : '' }),
    el('td', { class: 'mono', text: d.trace }));
    body.append(tr);
  }
  const more = list.length > rows.length ? ` (first ${rows.length})` : '';
  document.getElementById('list-count').textContent = `${list.length} selected${more}${note}`;
}

function open(tr, d) {
  for (const r of tr.parentNode.querySelectorAll('tr.selected')) r.classList.remove('selected');
  tr.classList.add('selected');
  onOpen(d);
}

function keys(e, tr, d) {
  if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); open(tr, d); }
  else if (e.key === 'ArrowDown' && tr.nextElementSibling) { e.preventDefault(); tr.nextElementSibling.focus(); }
  else if (e.key === 'ArrowUp' && tr.previousElementSibling) { e.preventDefault(); tr.previousElementSibling.focus(); }
}

/** `open(dot)` is called when a row is chosen. */
export function init(openTree) {
  onOpen = openTree;
}
