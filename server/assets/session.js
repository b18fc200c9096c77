// The logged-in user and logout. When the server has auth on,
// /api/session names the user and gives the CSRF token that every
// state-changing call sends in X-CSRF-Token; `logout` is one of those.

let csrf = '';
let role = 'admin';

/** False for a user with the viewer role (auth off: everyone is admin). */
export function isAdmin() {
  return role !== 'viewer';
}

/** Headers for a state-changing call (POST/PUT/DELETE). */
export function csrfHeaders() {
  return csrf ? { 'x-csrf-token': csrf } : {};
}

/** Sends the browser to the login page (the session is gone). */
export function toLogin() {
  location.assign('/login');
}

let markReady;
/** Settles once `init` knows the user (or that auth is off). */
export const ready = new Promise((resolve) => { markReady = resolve; });

/** Shows the user and a logout button in `header` when auth is on. */
export async function init(header) {
  try {
    await show(header);
  } finally {
    markReady();
  }
}

async function show(header) {
  const resp = await fetch('/api/session', { cache: 'no-store' });
  if (resp.status === 401) return toLogin();
  if (!resp.ok) return;
  const s = await resp.json();
  if (!s.auth) return;
  csrf = s.csrf;
  role = s.role;
  const who = document.createElement('span');
  who.id = 'session-user';
  who.className = 'session-user';
  who.textContent = `${s.user} (${s.role})`;
  const out = document.createElement('button');
  out.id = 'logout';
  out.type = 'button';
  out.textContent = 'Log out';
  out.addEventListener('click', async () => {
    await fetch('/logout', { method: 'POST', headers: csrfHeaders() });
    toLogin();
  });
  header.append(who, out);
}
