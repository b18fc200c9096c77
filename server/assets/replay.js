// Time slider: any second of the last ten minutes (relative to when the
// slider was first moved) is replayed from /api/at; "Live" returns.

import { clock } from './util.js';

const SPAN_S = 600;
let base = null; // UNIX ms the slider's right end stands for while replaying

/** `onReplay(t_ms)` when the slider settles; `onLive()` for the Live button. */
export function init(onReplay, onLive) {
  const slider = document.getElementById('replay-slider');
  const out = document.getElementById('replay-time');
  const at = () => (base ??= Date.now()) - (SPAN_S - Number(slider.value)) * 1000;
  slider.addEventListener('input', () => { out.textContent = clock(at()); });
  slider.addEventListener('change', () => onReplay(at()));
  document.getElementById('replay-live').addEventListener('click', () => onLive());
}

/** Puts the slider at `t` (a replay started elsewhere) or back at "now". */
export function showAt(t) {
  const slider = document.getElementById('replay-slider');
  const out = document.getElementById('replay-time');
  if (t === null) {
    base = null;
    slider.value = String(SPAN_S);
    out.textContent = 'now';
    return;
  }
  base ??= Math.max(Date.now(), t);
  slider.value = String(Math.max(0, SPAN_S - Math.round((base - t) / 1000)));
  out.textContent = clock(t);
}
