// The filter form: service, instance, endpoint, min/max ms, errors only,
// client IP, user. `current()` gives the active filter; `matches()` applies
// the part the XLog columns carry; ip/user need the server (see app.js).
// The applied filter lives in the page URL (`?service=shop&instance=…`), so
// a reload or a shared link shows the same view. The instances table lists
// each service's processes; a click filters by one.

import { clock, el } from './util.js';

const form = () => document.getElementById('filter');

/** Text fields of the form, named as the API's query parameters. */
const FIELDS = ['service', 'instance', 'endpoint', 'min_ms', 'max_ms', 'ip', 'user'];

/** The filter as query parameters (only the fields that are set). */
export function current() {
  const f = {};
  const data = new FormData(form());
  for (const k of FIELDS) {
    const v = String(data.get(k) || '').trim();
    if (v) f[k] = v;
  }
  if (data.get('error')) f.error = 'true';
  return f;
}

/** True when the filter needs fields the live XLog columns lack (client IP, user). */
export function needsServer(f) {
  return Boolean(f.ip || f.user);
}

/** Whether a dot passes the filter as far as its fields allow (exact matches, like the API). */
export function matches(f, d) {
  if (f.service && d.service !== f.service) return false;
  if (f.instance && d.instance !== f.instance) return false;
  if (f.endpoint && d.endpoint !== f.endpoint) return false;
  if (f.min_ms && d.elapsed < Number(f.min_ms)) return false;
  if (f.max_ms && d.elapsed > Number(f.max_ms)) return false;
  if (f.error && !d.error) return false;
  // Rows from /api/at carry client IP and user (null when none); XLog columns do not.
  if (f.ip && d.ip !== undefined && d.ip !== f.ip) return false;
  if (f.user && d.user !== undefined && d.user !== f.user) return false;
  return true;
}

/** The filter as a query string (leading `&` when not empty). */
export function query(f) {
  const q = new URLSearchParams(f).toString();
  return q ? '&' + q : '';
}

/** Fills the form from the page URL's query parameters. */
function fromUrl() {
  const params = new URLSearchParams(window.location.search);
  for (const k of FIELDS) {
    if (params.has(k)) form().elements[k].value = params.get(k);
  }
  form().elements.error.checked = params.get('error') === 'true';
}

/**
 * Puts filter `f` in the page URL (replacing the entry: no history flood),
 * keeping the parameters other panels own (`host`, ...).
 */
function toUrl(f) {
  const params = new URLSearchParams(window.location.search);
  for (const k of [...FIELDS, 'error']) params.delete(k);
  for (const [k, v] of Object.entries(f)) params.set(k, v);
  const q = params.toString();
  window.history.replaceState(null, '', `${window.location.pathname}${q ? '?' + q : ''}${window.location.hash}`);
}

/**
 * Fills the form from the URL and returns that filter; later calls
 * `onChange` when the form is applied or cleared.
 */
export function init(onChange) {
  fromUrl();
  const changed = () => { const f = current(); toUrl(f); onChange(f); };
  form().addEventListener('submit', (e) => { e.preventDefault(); changed(); });
  form().addEventListener('reset', () => setTimeout(changed, 0));
  return current();
}

/** Shows only `instance` of `service` (the rest cleared). */
export function showInstance(service, instance) {
  form().reset();
  form().elements.service.value = service;
  form().elements.instance.value = instance;
  form().requestSubmit();
}

/** Sets the service field to `name` (the rest cleared) and applies it. */
export function showOnly(name) {
  form().reset();
  form().elements.service.value = name;
  form().requestSubmit();
}

/**
 * Shows the instances (processes) of each service from /api/instances: the
 * `service.instance.id` each agent sets, its host, pid, last seen and
 * counts; choosing one shows only its transactions. The same ids fill the
 * Instance field's suggestions. `selected` is the filtered instance, if any.
 */
export function showInstances(list, selected) {
  const body = document.querySelector('#instances tbody');
  body.replaceChildren(...list.map((i) => el('tr', {
    'data-service': i.service,
    'data-instance': i.instance,
    class: i.instance === selected ? 'selected' : null,
    'aria-current': i.instance === selected ? 'true' : null,
  },
  el('td', { text: i.service }),
  el('td', {}, el('button', {
    type: 'button',
    class: 'instance mono',
    text: i.instance,
    'aria-label': `Show only instance ${i.instance} of ${i.service}`,
    onclick: () => showInstance(i.service, i.instance),
  })),
  el('td', { text: i.host ?? '' }),
  el('td', { class: 'num', text: i.pid === null || i.pid === undefined ? '' : String(i.pid) }),
  el('td', { class: 'mono', text: clock(i.last_seen_ms) }),
  el('td', { class: 'num', text: String(i.transactions) }),
  el('td', { class: 'num', text: String(i.summaries) }))));
  const options = document.getElementById('instance-list');
  options.replaceChildren(...list.map((i) => el('option', {
    value: i.instance,
    label: `${i.service} on ${i.host ?? 'unknown host'}${i.pid ? `, pid ${i.pid}` : ''}`,
  })));
}
