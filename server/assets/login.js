// The login page: posts the form as JSON to /login (the server accepts
// only JSON, so another site cannot post it), then opens the viewer.

const form = document.getElementById('login');
const error = document.getElementById('login-error');

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  error.textContent = '';
  const button = form.querySelector('button');
  button.disabled = true;
  try {
    const resp = await fetch('/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: form.user.value, password: form.password.value }),
      credentials: 'same-origin',
    });
    if (resp.ok) {
      location.assign('/');
      return;
    }
    if (resp.status === 429) {
      const wait = resp.headers.get('retry-after') || 'a few';
      error.textContent = `Too many failed logins: try again in ${wait} s.`;
    } else if (resp.status === 401) {
      error.textContent = 'Wrong user name or password.';
      form.password.value = '';
      form.password.focus();
    } else {
      error.textContent = `Login failed (${resp.status}).`;
    }
  } catch (e) {
    error.textContent = `Cannot reach the server: ${e.message}`;
  } finally {
    button.disabled = false;
  }
});
