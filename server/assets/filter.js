// The filter form: service, endpoint, min/max ms, errors only, client IP, user.
// `current()` gives the active filter; `matches()` applies the part the XLog
// columns carry; ip/user need the server (see app.js).

const form = () => document.getElementById('filter');

/** The filter as query parameters (only the fields that are set). */
export function current() {
  const f = {};
  const data = new FormData(form());
  for (const k of ['service', 'endpoint', 'min_ms', 'max_ms', 'ip', 'user']) {
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

/** Calls `onChange` when the form is applied or cleared. */
export function init(onChange) {
  form().addEventListener('submit', (e) => { e.preventDefault(); onChange(current()); });
  form().addEventListener('reset', () => setTimeout(() => onChange(current()), 0));
}

/** Sets the service field to `name` (the rest cleared) and applies it. */
export function showOnly(name) {
  form().reset();
  form().elements.service.value = name;
  form().requestSubmit();
}
