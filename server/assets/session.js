// The logged-in user and logout. When the server has auth on,
// /api/session names the user and gives the CSRF token that every
// state-changing call sends in X-CSRF-Token; `logout` is one of those.

let csrf = '';

/** Headers for a state-changing call (POST/PUT/DELETE). */
export function csrfHeaders() {
  return csrf ? { 'x-csrf-token': csrf } : {};
}

/** Sends the browser to the login page (the session is gone). */
export function toLogin() {
  location.assign('/login');
}

/** Shows the user and a logout button in `header` when auth is on. */
export async function init(header) {
  const resp = await fetch('/api/session', { cache: 'no-store' });
  if (resp.status === 401) return toLogin();
  if (!resp.ok) return;
  const s = await resp.json();
  if (!s.auth) return;
  csrf = s.csrf;
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
