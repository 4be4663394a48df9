// The gateway's web page in Debian's chromium, driven by puppeteer-core, as
// two visitors would use it: by keyboard only, make two memes and keep both,
// see a second visitor's meme arrive live, reload, open a permalink,
// download; check every control's name in the accessibility tree, the
// prompt limit and the empty prompt, and collect console errors. Prints one
// JSON report on stdout for tests/integration/test_web.c to judge; a
// visitor whose browser speaks German makes a meme and one in Japanese and
// one in Dutch (not spoken: English) see the page's words; takes
// screenshots (desktop and phone) into OUT_DIR.
//
//   node tests/web/check.mjs BASE_URL OUT_DIR
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer from 'puppeteer-core';

const [base, outDir] = process.argv.slice(2);
if (!base || !outDir) {
  console.error('usage: node check.mjs BASE_URL OUT_DIR');
  process.exit(2);
}

const WAIT = 60000; // a shared machine can be slow; nothing here is timed to pass
const report = { console_errors: [], steps: [] };
const step = (name, data) => report.steps.push({ name, ...data });

const profile = mkdtempSync(join(tmpdir(), 'memectl-chromium-'));
const browser = await puppeteer.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  userDataDir: profile,
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--lang=en-US',
  ],
});

// Every console error, uncaught exception and failed request of a page.
function watch(page, who) {
  page.on('console', (m) => {
    if (m.type() === 'error') report.console_errors.push(`${who}: ${m.text()}`);
  });
  page.on('pageerror', (e) => report.console_errors.push(`${who}: uncaught ${e.message}`));
  page.on('requestfailed', (r) => {
    const why = r.failure() ? r.failure().errorText : 'failed';
    // Leaving a page aborts its event stream: that is no error.
    if (why !== 'net::ERR_ABORTED') report.console_errors.push(`${who}: ${r.url()} ${why}`);
  });
}

// Controls that must have an accessible name.
const NAMED = new Set(['button', 'link', 'textbox', 'combobox', 'listbox', 'checkbox', 'radio',
  'searchbox', 'spinbutton', 'slider', 'switch', 'menuitem', 'tab', 'img', 'image']);

async function unnamedControls(page) {
  const tree = await page.accessibility.snapshot({ interestingOnly: false });
  const unnamed = [];
  const seen = [];
  const walk = (n) => {
    if (!n) return;
    if (NAMED.has(n.role)) {
      seen.push(`${n.role}: ${n.name || ''}`);
      if (!n.name || !n.name.trim()) unnamed.push(n.role);
    }
    for (const c of n.children || []) walk(c);
  };
  walk(tree);
  const roles = [];
  const collect = (n) => { if (!n) return; roles.push(n.role); for (const c of n.children || []) collect(c); };
  collect(tree);
  return { unnamed, controls: seen, has_status: roles.includes('status') };
}

async function galleryIds(page) {
  return page.$$eval('#gallery a', (as) => as.map((a) => decodeURIComponent(a.getAttribute('href').slice(3))));
}

async function waitForChoices(page) {
  await page.waitForFunction(() => document.querySelectorAll('#template option').length > 1 &&
    document.querySelectorAll('#size option').length > 0, { timeout: WAIT });
}

// Types a prompt and sends it by keyboard only; returns the new meme's id.
async function makeMeme(page, text, how) {
  await page.focus('#prompt');
  await page.keyboard.down('Control');
  await page.keyboard.press('KeyA');
  await page.keyboard.up('Control');
  await page.keyboard.press('Backspace');
  await page.keyboard.type(text);
  const before = await page.$eval('#status', (s) => s.textContent);
  if (how === 'space') {
    await page.keyboard.press('Tab'); // template
    await page.keyboard.press('Tab'); // size
    await page.keyboard.press('Tab'); // format
    await page.keyboard.press('Tab'); // the button
    await page.keyboard.press('Space');
  } else {
    await page.keyboard.press('Enter');
  }
  // The old meme must not stay on screen while the new one is made.
  const waitingShown = await page.waitForFunction(
    () => document.querySelector('#result .placeholder') !== null ||
      document.querySelector('#status.done') !== null, { timeout: WAIT }).then(() => true, () => false);
  await page.waitForFunction(
    () => document.querySelector('#status.done') && document.querySelector('#result img'),
    { timeout: WAIT });
  const id = await page.$eval('#result a[href^="/m/"]', (a) => decodeURIComponent(a.getAttribute('href').slice(3)));
  const focus = await page.evaluate(() => document.activeElement && document.activeElement.id);
  const statusText = await page.$eval('#status', (s) => s.textContent);
  const img = await page.$eval('#result img', (i) => ({ w: i.naturalWidth, alt: i.alt }));
  const dl = await page.$eval('#result a[download]', (a) => a.getAttribute('href'));
  return { id, focus, status: statusText, status_before: before, waiting_shown: waitingShown, img, download: dl };
}

try {
  // ---- visitor A: two memes, by keyboard ----
  const ctxA = browser.defaultBrowserContext();
  const a = await ctxA.newPage();
  watch(a, 'A');
  await a.setViewport({ width: 1280, height: 900 });
  await a.goto(base + '/', { waitUntil: 'load', timeout: WAIT });
  await waitForChoices(a);
  const a11y = await unnamedControls(a);
  step('accessibility', a11y);
  report.choices = await a.evaluate(() => ({
    templates: document.querySelectorAll('#template option').length,
    sizes: Array.from(document.querySelectorAll('#size option'), (o) => o.value),
    formats: Array.from(document.querySelectorAll('#format option'), (o) => o.value),
  }));

  const first = await makeMeme(a, 'when the queue hits five | keda wakes up', 'enter');
  step('first', first);
  const second = await makeMeme(a, 'one does not simply | scale to zero \u{1F680}', 'space');
  step('second', second);
  const keptBoth = await a.waitForFunction(
    (x, y) => { const ids = Array.from(document.querySelectorAll('#gallery a'), (l) => decodeURIComponent(l.getAttribute('href').slice(3))); return ids.includes(x) && ids.includes(y); },
    { timeout: WAIT }, first.id, second.id).then(() => true, () => false);
  step('kept_both', { ok: keptBoth, gallery: await galleryIds(a) });

  // The file a download saves: its name comes from the prompt.
  step('download', await a.evaluate(async (href) => {
    const r = await fetch(href);
    return { status: r.status, disposition: r.headers.get('Content-Disposition'), type: r.headers.get('Content-Type') };
  }, first.download));

  // ---- visitor B, in a browser context of its own: A sees B's meme live ----
  const ctxB = await browser.createBrowserContext();
  const b = await ctxB.newPage();
  watch(b, 'B');
  await b.setViewport({ width: 1024, height: 800 });
  await b.goto(base + '/', { waitUntil: 'load', timeout: WAIT });
  await waitForChoices(b);
  const other = await makeMeme(b, '\u{1F389} \u65E5\u672C\u8A9E | \u043F\u0440\u0438\u0432\u0435\u0442 \u0645\u0631\u062D\u0628\u0627', 'enter');
  const t0 = Date.now();
  const live = await a.waitForFunction(
    (x) => Array.from(document.querySelectorAll('#gallery a')).some((l) => decodeURIComponent(l.getAttribute('href').slice(3)) === x),
    { timeout: WAIT }, other.id).then(() => true, () => false);
  step('live', { ok: live, id: other.id, after_ms: Date.now() - t0, reloads: 0 });
  await a.evaluate(() => window.scrollTo(0, 0));
  await new Promise((r) => setTimeout(r, 800)); // the newest card's arrival animation
  await a.screenshot({ path: join(outDir, 'web-desktop.png') });

  // ---- reload: the gallery comes back from the results bucket ----
  await a.reload({ waitUntil: 'load', timeout: WAIT });
  const afterReload = await a.waitForFunction(
    (ids) => { const have = Array.from(document.querySelectorAll('#gallery a'), (l) => decodeURIComponent(l.getAttribute('href').slice(3))); return ids.every((i) => have.includes(i)); },
    { timeout: WAIT }, [first.id, second.id, other.id]).then(() => true, () => false);
  step('reload', { ok: afterReload, gallery: await galleryIds(a) });

  // ---- the empty prompt and the limit, counted as the server counts ----
  let posts = 0;
  a.on('request', (r) => { if (r.method() === 'POST') posts++; });
  await a.focus('#prompt');
  await a.keyboard.type('  |  | ');
  await a.keyboard.press('Enter');
  await new Promise((r) => setTimeout(r, 300));
  step('blank', {
    posts,
    status: await a.$eval('#status', (s) => s.textContent),
    invalid: await a.$eval('#prompt', (p) => p.getAttribute('aria-invalid')),
  });
  // 450 emoji: 450 characters but 1,800 bytes.
  await a.$eval('#prompt', (p) => { p.value = '\u{1F389}'.repeat(450); p.dispatchEvent(new Event('input')); });
  await a.keyboard.press('Enter');
  await new Promise((r) => setTimeout(r, 300));
  step('too_long', {
    posts,
    count: await a.$eval('#prompt-count', (c) => ({ hidden: c.hidden, text: c.textContent, cls: c.className })),
    invalid: await a.$eval('#prompt', (p) => p.getAttribute('aria-invalid')),
  });
  // Exactly at the limit (500 two-byte letters) and one byte over: the page
  // and the server (asked from here, not from the page) agree on both.
  const post = async (prompt, type = 'application/json') => (await fetch(base + '/api/v1/memes', {
    method: 'POST', headers: { 'Content-Type': type }, body: JSON.stringify({ prompt }),
  })).status;
  const pageSays = (v) => a.evaluate((text) => {
    const input = document.getElementById('prompt');
    input.value = text;
    input.dispatchEvent(new Event('input'));
    return input.getAttribute('aria-invalid');
  }, v);
  const at = '\u00e9'.repeat(500);
  step('limit_agrees', {
    at_page: await pageSays(at), at_server: await post(at),
    over_page: await pageSays(at + 'x'), over_server: await post(at + 'x'),
  });
  // What a cross-site form can send without a preflight is refused.
  step('form_post', { text_plain: await post('csrf', 'text/plain'),
    form: await post('csrf', 'application/x-www-form-urlencoded') });
  posts = 0;

  // ---- the permalink ----
  await a.goto(base + '/m/' + encodeURIComponent(first.id), { waitUntil: 'load', timeout: WAIT });
  step('permalink', {
    title: await a.title(),
    h1: await a.$eval('h1', (h) => h.textContent),
    og_image: await a.$eval('meta[property="og:image"]', (m) => m.content),
    og_title: await a.$eval('meta[property="og:title"]', (m) => m.content),
    twitter_card: await a.$eval('meta[name="twitter:card"]', (m) => m.content),
    image: await a.$eval('main img', (i) => ({ w: i.naturalWidth, h: i.naturalHeight, alt: i.alt })),
    details: await a.$$eval('.details dt', (d) => d.map((x) => x.textContent)),
    download: await a.$eval('a[download]', (x) => x.getAttribute('href')),
    a11y: await unnamedControls(a),
  });
  await a.screenshot({ path: join(outDir, 'web-permalink.png') });

  // ---- progress while a meme waits: the worker's word, shown ----
  // The POST is held back for 2.5 s and the gateway's status answer is
  // replaced by a worker's, so the page's handling of "working" is seen
  // whatever the speed of this machine.
  const slow = await ctxB.newPage();
  watch(slow, 'slow');
  await slow.setRequestInterception(true);
  slow.on('request', (r) => {
    if (r.isInterceptResolutionHandled()) return;
    if (r.method() === 'POST') {
      setTimeout(() => r.continue(), 2500);
    } else if (r.url().endsWith('/status')) {
      r.respond({ status: 200, contentType: 'application/json',
        body: JSON.stringify({ id: 'x', state: 'working', worker: 'web-w9', waiting_ms: 900 }) });
    } else {
      r.continue();
    }
  });
  await slow.goto(base + '/', { waitUntil: 'load', timeout: WAIT });
  await waitForChoices(slow);
  await slow.focus('#prompt');
  await slow.keyboard.type('patience | is a virtue');
  await slow.keyboard.press('Enter');
  const working = await slow.waitForFunction(
    () => document.querySelector('#result .steps li[data-step="working"][aria-current="step"]') &&
      document.getElementById('status').textContent.includes('web-w9'),
    { timeout: WAIT }).then(() => true, () => false);
  const workingText = await slow.$eval('#status', (s) => s.textContent);
  await slow.waitForFunction(() => document.querySelector('#status.done'), { timeout: WAIT });
  step('progress', { working_shown: working, text: workingText,
    done_steps: await slow.$$eval('#result .steps li', (l) => l.map((x) => x.dataset.state)) });
  await slow.close();

  // ---- a phone ----
  const phone = await ctxB.newPage();
  watch(phone, 'phone');
  await phone.setViewport({ width: 390, height: 844, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  await phone.goto(base + '/', { waitUntil: 'load', timeout: WAIT });
  await waitForChoices(phone);
  const phoneMeme = await makeMeme(phone, 'scaled to zero | and back', 'enter');
  step('phone', { id: phoneMeme.id, width: await phone.evaluate(() => document.documentElement.scrollWidth) });
  await phone.screenshot({ path: join(outDir, 'web-phone.png') });

  // ---- a visitor whose browser speaks German, and one that speaks Japanese ----
  // A browser of its own started with --lang=de-DE, asking for German in
  // every request, with navigator.languages saying so too.
  const deProfile = mkdtempSync(join(tmpdir(), 'memectl-chromium-de-'));
  const deBrowser = await puppeteer.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    userDataDir: deProfile,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--lang=de-DE',
    ],
  });
  const speaks = (page, langs) => page.evaluateOnNewDocument((l) => {
    Object.defineProperty(navigator, 'languages', { get: () => l });
    Object.defineProperty(navigator, 'language', { get: () => l[0] });
  }, langs);
  const named = async (page) => {
    const a11y = await unnamedControls(page);
    return { ...a11y, lang: await page.evaluate(() => document.documentElement.lang) };
  };
  try {
    const de = await deBrowser.newPage();
    watch(de, 'de');
    await de.setExtraHTTPHeaders({ 'Accept-Language': 'de-DE,de;q=0.9' });
    await speaks(de, ['de-DE', 'de']);
    await de.setViewport({ width: 1280, height: 900 });
    await de.goto(base + '/', { waitUntil: 'load', timeout: WAIT });
    await waitForChoices(de);
    const deA11y = await named(de);
    const deMeme = await makeMeme(de, 'wenn die Warteschlange f\u00fcnf erreicht | wacht KEDA auf', 'enter');
    step('german', {
      ...deA11y,
      title: await de.title(),
      status: deMeme.status,
      live_region: await de.$eval('#status', (s) => s.getAttribute('aria-live')),
      focus: deMeme.focus,
      img_alt: deMeme.img.alt,
      links: await de.$$eval('#result .actions a', (l) => l.map((x) => x.textContent)),
      steps: await de.$$eval('#result .steps li', (l) => l.map((x) => x.textContent)),
      sizes: await de.$$eval('#size option', (o) => o.map((x) => x.textContent)),
    });
    // The empty prompt's message, in German too.
    await de.focus('#prompt');
    await de.keyboard.down('Control');
    await de.keyboard.press('KeyA');
    await de.keyboard.up('Control');
    await de.keyboard.press('Backspace');
    await de.keyboard.type(' | ');
    await de.keyboard.press('Enter');
    await de.waitForFunction(() => document.querySelector('#status.error'), { timeout: WAIT });
    report.steps.at(-1).blank = await de.$eval('#status', (s) => s.textContent);
    await de.close();

    const ja = await deBrowser.newPage();
    watch(ja, 'ja');
    await ja.setExtraHTTPHeaders({ 'Accept-Language': 'ja-JP,ja;q=0.9' });
    await speaks(ja, ['ja-JP', 'ja', 'en-US']);
    await ja.goto(base + '/', { waitUntil: 'load', timeout: WAIT });
    await waitForChoices(ja);
    step('japanese', await named(ja));
    await ja.close();

    // A language the page does not speak falls back to English.
    const other = await deBrowser.newPage();
    watch(other, 'fallback');
    await speaks(other, ['nl-NL', 'nl', 'fi']);
    await other.goto(base + '/', { waitUntil: 'load', timeout: WAIT });
    await waitForChoices(other);
    step('fallback', await named(other));
    await other.close();
  } finally {
    await deBrowser.close();
    rmSync(deProfile, { recursive: true, force: true });
  }
} catch (err) {
  report.error = String(err && err.stack ? err.stack : err);
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(report, null, 1));
