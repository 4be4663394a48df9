// The meme generator page: a prompt form that posts JSON to /api/v1/memes,
// the meme that comes back with its page and a download, and a gallery that
// every visitor shares (history from GET /api/v1/memes, new memes live from
// the server-sent events of GET /api/v1/events). Text from the server or
// other visitors only ever goes in through textContent. Every word it
// shows comes from i18n.js in the visitor's language (t(key, values)).
'use strict';

(() => {
  const t = window.memeI18n ? window.memeI18n.t : (key) => key; // i18n.js, loaded first
  const $ = (id) => document.getElementById(id);
  const form = $('make');
  const prompt = $('prompt');
  const go = $('go');
  const status = $('status');
  const count = $('prompt-count');
  const templateSel = $('template');
  const sizeSel = $('size');
  const formatSel = $('format');
  const result = $('result');
  const resultBody = $('result-body');
  const gallery = $('gallery');

  const GALLERY_MAX = 60;
  const encoder = new TextEncoder();
  let maxBytes = 1000; // replaced by the server's figure (prompt_max_bytes)
  let busy = false;
  let waiting = null; // the request this page waits for: {id, onEvent}
  let objectUrl = null;
  let countState = '';
  const shown = new Set();

  // The server counts the prompt in UTF-8 bytes; so does the page.
  const bytes = (s) => encoder.encode(s).length;
  // What the server calls nothing to draw: spaces of any kind, controls and '|'.
  const BLANK = /[\u0000-\u0020|\u007f-\u00a0\u1680\u2000-\u200b\u2028\u2029\u202f\u205f\u3000\ufeff]/gu;
  const blank = (s) => s.replace(BLANK, '') === '';
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  function say(text, kind) {
    status.className = 'status' + (kind ? ' ' + kind : '');
    status.textContent = text;
  }

  function newId() {
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  // ---- the prompt's limit, counted as the server counts it ----

  function updateCount() {
    const n = bytes(prompt.value);
    const over = n > maxBytes;
    const near = n >= Math.floor(maxBytes * 0.8);
    const state = over ? 'over' : near ? 'near' : '';
    count.hidden = !state;
    count.className = 'count' + (state ? ' ' + state : '');
    if (over) {
      count.textContent = t('count_over', { n, max: maxBytes });
    } else if (near) {
      count.textContent = t('count_near', { n, max: maxBytes });
    }
    prompt.setAttribute('aria-invalid', over ? 'true' : 'false');
    // Say it once when the limit comes near or is passed, not at every key.
    if (state !== countState) {
      if (state) say(count.textContent, over ? 'error' : '');
      else if (countState) say('');
      countState = state;
    }
  }

  // ---- the choices, from the API ----

  async function loadChoices() {
    let choices = {};
    try {
      const r = await fetch('/api/v1/templates');
      if (r.ok) choices = await r.json();
    } catch (err) {
      console.info('meme generator: the list of templates is not available', err);
    }
    if (Number.isInteger(choices.prompt_max_bytes)) maxBytes = choices.prompt_max_bytes;
    for (const t of choices.templates || []) {
      if (typeof t.name !== 'string') continue;
      const label = typeof t.description === 'string' && t.description ? `${t.name}: ${t.description}` : t.name;
      templateSel.add(new Option(label, t.name));
    }
    for (const s of choices.sizes || [512]) sizeSel.add(new Option(t('size_option', { n: s }), String(s)));
    for (const f of choices.formats || ['png']) formatSel.add(new Option(String(f).toUpperCase(), f));
    updateCount();
  }

  // ---- the gallery ----

  function describe(m) {
    const parts = [];
    if (m.worker) parts.push(t('by_worker', { worker: m.worker }));
    if (typeof m.total_ms === 'number') parts.push(t('in_ms', { ms: Math.round(m.total_ms) }));
    return parts.join(' ');
  }

  function card(m, fresh) {
    if (!m || typeof m.id !== 'string' || shown.has(m.id)) return null;
    shown.add(m.id);
    const li = document.createElement('li');
    if (fresh) li.className = 'fresh';
    const a = document.createElement('a');
    a.href = '/m/' + encodeURIComponent(m.id);
    const img = document.createElement('img');
    img.src = '/api/v1/memes/' + encodeURIComponent(m.id);
    img.alt = ''; // the prompt below names the link
    img.width = 512;
    img.height = 512;
    img.loading = 'lazy';
    img.decoding = 'async';
    img.addEventListener('error', () => { li.remove(); shown.delete(m.id); });
    const p = document.createElement('p');
    p.className = 'prompt';
    p.dir = 'auto';
    p.textContent = m.prompt || t('a_meme');
    const meta = document.createElement('p');
    meta.className = 'meta';
    meta.textContent = describe(m);
    a.append(img, p, meta);
    li.append(a);
    return li;
  }

  function addFirst(m) {
    const li = card(m, true);
    if (!li) return;
    gallery.prepend(li);
    while (gallery.children.length > GALLERY_MAX) gallery.lastElementChild.remove();
  }

  async function loadHistory() {
    try {
      const r = await fetch('/api/v1/memes?limit=24');
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      const j = await r.json();
      for (const m of j.memes || []) {
        const li = card(m, false);
        if (li) gallery.append(li);
      }
    } catch (err) {
      console.info('meme generator: recent memes are not available', err);
    }
  }

  function listen() {
    const events = new EventSource('/api/v1/events');
    events.addEventListener('meme', (ev) => {
      let m;
      try { m = JSON.parse(ev.data); } catch { return; }
      if (waiting && m.id === waiting.id) waiting.onEvent(m);
      if (m.status === 'done') addFirst(m);
    });
    events.addEventListener('error', () => {
      console.info('meme generator: live updates interrupted; the browser reconnects');
    });
  }

  // ---- making a meme ----

  // The server's error codes that have a message of their own (i18n.js).
  const CODES = new Set(['missing_prompt', 'prompt_too_long', 'invalid_utf8', 'unknown_template',
    'unknown_engine']);

  class Problem extends Error {}

  function problemFor(httpStatus, body) {
    const code = body && body.code;
    if (typeof code === 'string' && CODES.has(code)) return new Problem(t(code, { max: maxBytes }));
    if (httpStatus === 503) return new Problem(t('unreachable'));
    if (httpStatus === 415 || httpStatus === 400 || httpStatus === 413) return new Problem(t('bad_request'));
    return new Problem(t('went_wrong'));
  }

  function setSteps(current) {
    const order = ['queued', 'working', 'done'];
    const at = order.indexOf(current);
    for (const li of resultBody.querySelectorAll('.steps li')) {
      const i = order.indexOf(li.dataset.step);
      li.dataset.state = i < at || current === 'done' ? 'done' : i === at ? 'current' : '';
      if (i === at && current !== 'done') li.setAttribute('aria-current', 'step');
      else li.removeAttribute('aria-current');
    }
  }

  function showWaiting(text) {
    if (objectUrl) URL.revokeObjectURL(objectUrl);
    objectUrl = null;
    result.hidden = false;
    const steps = document.createElement('ol');
    steps.className = 'steps';
    steps.setAttribute('aria-label', t('progress'));
    for (const [step, label] of [['queued', t('step_queued')], ['working', t('step_working')], ['done', t('step_done')]]) {
      const li = document.createElement('li');
      li.dataset.step = step;
      li.textContent = label;
      steps.append(li);
    }
    const box = document.createElement('div');
    box.className = 'placeholder';
    const p = document.createElement('p');
    p.dir = 'auto';
    p.textContent = text;
    box.append(p);
    resultBody.replaceChildren(steps, box);
    setSteps('queued');
  }

  function showMeme(m) {
    const fig = document.createElement('figure');
    const img = document.createElement('img');
    img.src = m.src;
    img.alt = t('meme_alt', { prompt: m.prompt });
    const cap = document.createElement('figcaption');
    cap.dir = 'auto';
    cap.textContent = m.prompt;
    fig.append(img, cap);
    const actions = document.createElement('p');
    actions.className = 'actions';
    const page = document.createElement('a');
    page.className = 'button secondary';
    page.href = '/m/' + encodeURIComponent(m.id);
    page.textContent = t('open_page');
    const dl = document.createElement('a');
    dl.className = 'button';
    dl.href = '/api/v1/memes/' + encodeURIComponent(m.id) + '?download=1';
    dl.setAttribute('download', '');
    dl.textContent = t('download');
    actions.append(page, dl);
    const steps = resultBody.querySelector('.steps');
    resultBody.replaceChildren(...(steps ? [steps] : []), fig, actions);
    setSteps('done');
  }

  function showProblem(text) {
    const p = document.createElement('p');
    p.className = 'status error';
    p.textContent = text;
    resultBody.replaceChildren(p);
  }

  // While a request waits, the gateway that holds it can say what the
  // worker reported: queued, working, or retrying and why. Asked once a
  // second from shortly after the request went out; each change is said once.
  function watchProgress(id) {
    let stopped = false;
    let lastText = '';
    let timer = null;
    const show = (s) => {
      let text;
      if (s.state === 'queued') {
        setSteps('queued');
        text = t('queued');
      } else if (s.state === 'working') {
        setSteps('working');
        text = s.worker ? t('working_by', { worker: s.worker }) : t('working');
      } else if (s.state === 'retrying') {
        setSteps('working');
        const why = typeof s.message === 'string' ? s.message : t('worker_problem');
        text = Number.isInteger(s.attempt) && Number.isInteger(s.max_attempts)
          ? t('retrying', { n: s.attempt + 1, max: s.max_attempts, why })
          : t('retrying_plain', { why });
      } else {
        return;
      }
      if (text !== lastText) {
        lastText = text;
        say(text);
      }
    };
    const tick = async () => {
      try {
        const r = await fetch('/api/v1/memes/' + encodeURIComponent(id) + '/status');
        if (r.ok && !stopped) show(await r.json());
      } catch (err) {
        console.info('meme generator: progress not available', err);
      }
      if (!stopped) timer = setTimeout(tick, 1000);
    };
    timer = setTimeout(tick, 700);
    return () => { stopped = true; clearTimeout(timer); };
  }

  async function fromResponse(r, id, text) {
    const blob = await r.blob();
    if (objectUrl) URL.revokeObjectURL(objectUrl);
    objectUrl = URL.createObjectURL(blob);
    const q = parseFloat(r.headers.get('Meme-Queue-Ms'));
    const g = parseFloat(r.headers.get('Meme-Gen-Ms'));
    return {
      id,
      prompt: text,
      src: objectUrl,
      worker: r.headers.get('Meme-Worker') || '',
      total_ms: Number.isFinite(q) && Number.isFinite(g) ? q + g : undefined,
    };
  }

  // After the request's deadline (or a dropped connection) the meme may
  // still come: watch the live events for its id and ask for it by id, less
  // and less often, for up to ten minutes.
  async function keepChecking(id, text) {
    say(t('still_working'));
    let heard = null;
    let wake = null;
    waiting = { id, onEvent: (m) => { heard = m; if (wake) wake(); } };
    const until = Date.now() + 10 * 60 * 1000;
    let delay = 2000;
    try {
      while (Date.now() < until) {
        await Promise.race([sleep(delay), new Promise((r) => { wake = r; })]);
        delay = Math.min(delay * 1.5, 15000);
        let r;
        try {
          r = await fetch('/api/v1/memes/' + encodeURIComponent(id));
        } catch (err) {
          console.info('meme generator: still checking', err);
          continue;
        }
        if (r.ok) return await fromResponse(r, id, text);
        let body = {};
        try { body = await r.json(); } catch { /* not JSON */ }
        if (r.status === 404 || r.status === 503) {
          if (heard && heard.status === 'failed') throw problemFor(502, heard);
          continue;
        }
        console.info('meme generator: the meme could not be made', r.status, body);
        throw problemFor(r.status, body);
      }
      throw new Problem(t('gave_up'));
    } finally {
      waiting = null;
    }
  }

  async function make(id, body) {
    let r;
    try {
      r = await fetch('/api/v1/memes', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
    } catch (err) {
      console.info('meme generator: the request was interrupted; checking for the meme by id', err);
      return keepChecking(id, body.prompt);
    }
    if (r.ok) return fromResponse(r, id, body.prompt);
    let j = {};
    try { j = await r.json(); } catch { /* not JSON */ }
    console.info('meme generator: the request was answered with', r.status, j);
    if (r.status === 504 || (r.status === 503 && j.code === 'shutting_down')) return keepChecking(id, body.prompt);
    throw problemFor(r.status, j);
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (busy) return;
    const text = prompt.value;
    if (blank(text)) {
      prompt.setAttribute('aria-invalid', 'true');
      say(t('missing_prompt'), 'error');
      prompt.focus();
      return;
    }
    if (bytes(text) > maxBytes) {
      say(t('prompt_bytes', { n: bytes(text), max: maxBytes }), 'error');
      prompt.focus();
      return;
    }
    busy = true;
    go.setAttribute('aria-disabled', 'true'); // not disabled: the focus stays on the button
    const id = newId();
    const t0 = performance.now();
    showWaiting(text);
    say(t('queued'));
    const body = { id, prompt: text, size: parseInt(sizeSel.value, 10) || 512, format: formatSel.value || 'png' };
    if (templateSel.value) body.template = templateSel.value;
    const stopWatching = watchProgress(id);
    try {
      const m = await make(id, body);
      showMeme(m);
      const took = Math.round(performance.now() - t0);
      say(m.worker ? t('done_in_by', { ms: took, worker: m.worker }) : t('done_in', { ms: took }), 'done');
      addFirst({ id, prompt: text, worker: m.worker, total_ms: m.total_ms });
    } catch (err) {
      const text2 = err instanceof Problem ? err.message : t('went_wrong');
      if (!(err instanceof Problem)) console.info('meme generator:', err);
      showProblem(text2);
      say(text2, 'error');
    } finally {
      stopWatching();
      busy = false;
      go.removeAttribute('aria-disabled');
    }
  });

  prompt.addEventListener('input', updateCount);

  listen();
  loadChoices();
  loadHistory();
})();
