// The alerts panel: every rule's state, the history of firings and
// recoveries with their evidence (the worst transactions of the window,
// each opening its call tree), and for admins the rules file: edit, try it
// on the last 24 hours ("would have fired at …"), save.
//
// API: GET /api/alerts, GET /api/alerts/history, POST /api/alerts/try and
// PUT /api/alerts/rules (TOML bodies; the server checks them and answers
// 400 naming the rule and field at fault).

import { clock, el, getJSON } from './util.js';
import { csrfHeaders } from './session.js';

let openTxn = () => {};
let editorFilled = false;

/** Formats a rule's value for its kind. */
function fmtValue(kind, v) {
  if (v === null || v === undefined) return '–';
  if (['p95', 'p99'].includes(kind)) return `${v.toFixed(0)} ms`;
  if (['active_age', 'silent'].includes(kind)) return `${v.toFixed(0)} s`;
  if (kind === 'metric') return String(Math.round(v * 1000) / 1000);
  return `${(v * 100).toFixed(1)} %`;
}

/** `YYYY-MM-DD HH:MM:SS` (UTC) of UNIX ms. */
function when(ms) {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

function stateText(a) {
  const s = a.phase.state;
  return a.silenced && s !== 'ok' ? `${s} (silenced)` : s;
}

function showStates(alerts) {
  const body = document.querySelector('#alert-rules tbody');
  body.replaceChildren();
  for (const a of alerts) {
    body.append(el('tr', { class: a.firing ? 'error' : null, 'data-rule': a.rule },
      el('td', { text: a.rule }),
      el('td', { text: a.kind }),
      el('td', { text: a.service ?? '' }),
      el('td', { class: `alert-state ${a.phase.state}`, text: stateText(a) }),
      el('td', { class: 'num', text: fmtValue(a.kind, a.reading?.value) }),
      el('td', { class: 'num', text: fmtValue(a.kind, a.threshold) }),
      el('td', { text: a.reading?.detail ?? '' })));
  }
  const firing = alerts.filter((a) => a.firing).length;
  document.getElementById('alerts-count').textContent =
    `${alerts.length} rules, ${firing} firing`;
}

/** A list of evidence links (each opens the transaction's tree). */
function evidence(list) {
  if (!list || list.length === 0) return '';
  const ul = el('ul', { class: 'evidence' });
  for (const t of list) {
    const a = el('a', {
      href: `?txn=${encodeURIComponent(t.id)}`,
      text: `${t.endpoint} ${t.elapsed_ms.toFixed(1)} ms${t.error ? ' error' : ''}`,
      title: `${t.service}, ended ${clock(t.end_ms, true)}, trace ${t.trace_id}`,
      onclick: (e) => {
        e.preventDefault();
        history.replaceState(null, '', `?txn=${encodeURIComponent(t.id)}${location.hash}`);
        openTxn(t.id);
      },
    });
    ul.append(el('li', {}, a));
  }
  return ul;
}

function showHistory(events) {
  const body = document.querySelector('#alert-history tbody');
  body.replaceChildren();
  for (const e of events) {
    body.append(el('tr', { class: e.state === 'firing' ? 'error' : null },
      el('td', { class: 'mono', text: when(e.at_ms) }),
      el('td', { text: e.rule }),
      el('td', { text: e.state + (e.silenced ? ' (silenced)' : '') }),
      el('td', { text: e.detail }),
      el('td', {}, evidence(e.evidence))));
  }
}

/** Refreshes the states and the history. */
export async function poll() {
  const [overview, hist] = await Promise.all([
    getJSON('/api/alerts'),
    getJSON('/api/alerts/history?limit=50'),
  ]);
  showStates(overview.alerts);
  showHistory(hist.events);
  if (!editorFilled) {
    document.getElementById('rules-text').value = overview.rules_text;
    editorFilled = true;
  }
  const names = overview.notifiers.map((n) => `${n.name} (${n.kind})`).join(', ');
  document.getElementById('notifiers').textContent = names ? `Notifiers: ${names}` : 'No notifiers configured.';
}

function say(text, isError = false) {
  const out = document.getElementById('rules-output');
  out.replaceChildren(el('p', { class: isError ? 'failure' : null, text }));
  return out;
}

async function send(method, path) {
  const resp = await fetch(path, {
    method,
    headers: { 'content-type': 'application/toml', ...csrfHeaders() },
    body: document.getElementById('rules-text').value,
  });
  const text = await resp.text();
  return { ok: resp.ok, text };
}

async function tryRules() {
  say('Trying on the last 24 hours…');
  const r = await send('POST', '/api/alerts/try');
  if (!r.ok) return say(r.text.trim(), true);
  const out = say('');
  out.replaceChildren();
  for (const t of JSON.parse(r.text).trials) {
    const head = t.fired.length === 0
      ? `${t.rule}: would not have fired in the last 24 hours`
      : `${t.rule}: would have fired ${t.fired.length} time(s)`;
    const ul = el('ul', { class: 'trial', 'data-rule': t.rule });
    for (const f of t.fired) {
      const end = f.resolved_ms ? `, recovered at ${when(f.resolved_ms)}` : ', still firing';
      ul.append(el('li', { text: `at ${when(f.at_ms)}${end}: ${f.detail}` }));
    }
    out.append(el('p', { text: head }), t.note ? el('p', { class: 'hint', text: t.note }) : null, ul);
  }
}

async function save() {
  const r = await send('PUT', '/api/alerts/rules');
  if (!r.ok) return say(r.text.trim(), true);
  say(`Saved: ${JSON.parse(r.text).rules} rule(s) in force.`);
  await poll();
}

/** Sets up the panel; `open(id)` shows a transaction's call tree. */
export async function init(open) {
  openTxn = open;
  document.getElementById('rules-try').addEventListener('click', () => tryRules().catch((e) => say(String(e), true)));
  document.getElementById('rules-save').addEventListener('click', () => save().catch((e) => say(String(e), true)));
  // Editing is for admins (or everyone when the server runs without auth).
  const resp = await fetch('/api/session', { cache: 'no-store' });
  const s = resp.ok ? await resp.json() : { auth: true, role: 'viewer' };
  document.getElementById('rules-editor').hidden = s.auth && s.role !== 'admin';
}
