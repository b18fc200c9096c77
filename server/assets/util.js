// Small helpers shared by the panels: JSON fetch, element building, formats.

/** GET `path` and parse JSON; throws on a non-2xx answer. */
export async function getJSON(path) {
  const resp = await fetch(path, { cache: 'no-store' });
  // The session expired or was ended: back to the login page.
  if (resp.status === 401) location.assign('/login');
  if (!resp.ok) throw new Error(`${path}: ${resp.status}`);
  return resp.json();
}

/** Creates an element with attributes (`class`, `text`, `on*` handlers) and children. */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

/** Creates an SVG element with attributes. */
export function svg(tag, attrs = {}) {
  const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

/** `HH:MM:SS` (UTC) of a UNIX ms time, with `.mmm` when `ms` is set. */
export function clock(t, ms = false) {
  const s = new Date(t).toISOString();
  return ms ? s.slice(11, 23) : s.slice(11, 19);
}

/** A duration in ms with sensible precision. */
export function fmtMs(v) {
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

/** Sizes a canvas's backing store to its CSS size and device pixels; returns the 2D context and CSS size. */
export function fitCanvas(canvas) {
  const r = canvas.getBoundingClientRect();
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(r.width)), h = Math.max(1, Math.round(r.height));
  if (canvas.width !== w * dpr || canvas.height !== h * dpr) {
    canvas.width = w * dpr;
    canvas.height = h * dpr;
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return { ctx, w, h };
}

/** The page URL's query parameter `k` (null when absent). */
export function urlParam(k) {
  return new URLSearchParams(window.location.search).get(k);
}

/**
 * Sets (or, for null/empty values, removes) query parameters of the page
 * URL, keeping the others: every view can be linked. Replaces the history
 * entry (no flood of entries while the state changes).
 */
export function setUrlParams(values) {
  const p = new URLSearchParams(window.location.search);
  for (const [k, v] of Object.entries(values)) {
    if (v === null || v === undefined || v === '') p.delete(k);
    else p.set(k, String(v));
  }
  const q = p.toString();
  window.history.replaceState(null, '', `${window.location.pathname}${q ? '?' + q : ''}`);
}
