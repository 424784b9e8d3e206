// Shared by the browser journeys: launching Debian's Chromium, the accessibility smoke
// check, screenshots, steps that explain their failure, and reading the emails that
// `roster serve --mail file:DIR` writes.

import { chromium } from 'playwright-core';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The flags every launch uses: headless, no sandbox (CI runs as root), nothing that
 * reaches the network by itself. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-quic',
  '--disable-sync',
];

/** A required environment variable. */
export function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

/** The Chromium to drive: $ROSTER_TEST_CHROMIUM, else `chromium` on PATH. Playwright's
 * own browser download is never used. */
export function chromiumPath() {
  const given = process.env.ROSTER_TEST_CHROMIUM;
  if (given) return given;
  for (const dir of (process.env.PATH || '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, 'chromium');
    if (existsSync(candidate)) return candidate;
  }
  throw new Error('no Chromium: set ROSTER_TEST_CHROMIUM or put `chromium` on PATH');
}

export async function launch() {
  return chromium.launch({
    executablePath: chromiumPath(),
    args: CHROMIUM_ARGS,
    headless: true,
    timeout: 30_000,
  });
}

/** A new browser context (its own cookies) with short, explicit timeouts. */
export async function newContext(browser) {
  const context = await browser.newContext({
    viewport: { width: 1280, height: 800 },
    acceptDownloads: true,
    locale: 'en-US',
  });
  context.setDefaultTimeout(5_000);
  context.setDefaultNavigationTimeout(10_000);
  return context;
}

/**
 * Keeps `context` on the given origins (e.g. the server under test and the test OpenID
 * provider): any other request is aborted before it leaves the browser. The provider's
 * development login page imports a web font from the internet, for one.
 */
export async function stayOn(context, origins) {
  const allowed = new Set(origins.map((o) => new URL(o).origin));
  await context.route(
    (url) => /^https?:$/.test(url.protocol) && !allowed.has(url.origin),
    (route) => route.abort('blockedbyclient'),
  );
}

// ---------------------------------------------------------------------------------------
// Accessibility smoke check

/**
 * Throws with the list of offenders unless the page: sets `<html lang>`, has exactly one
 * `<h1>`, has no duplicate `id`, gives every visible form field (not `type=hidden`) a
 * label (`<label for>`, a wrapping `<label>`, `aria-label` or `aria-labelledby`), and
 * gives every visible button and link an accessible name.
 */
export async function a11yCheck(page, where = '') {
  const offenders = await page.evaluate(() => {
    const found = [];
    const describe = (el) => {
      const tag = el.tagName.toLowerCase();
      const bits = [tag];
      if (el.id) bits.push(`#${el.id}`);
      for (const a of ['name', 'type', 'href']) {
        if (el.getAttribute(a)) bits.push(`[${a}="${el.getAttribute(a)}"]`);
      }
      const text = (el.textContent || '').trim().replace(/\s+/g, ' ').slice(0, 40);
      return text ? `${bits.join('')} "${text}"` : bits.join('');
    };
    const visible = (el) => {
      if (!el.getClientRects().length) return false;
      const style = getComputedStyle(el);
      return style.visibility !== 'hidden' && style.display !== 'none';
    };
    const text = (s) => (s || '').replace(/\s+/g, ' ').trim();
    const byIds = (el) =>
      text(
        (el.getAttribute('aria-labelledby') || '')
          .split(/\s+/)
          .filter(Boolean)
          .map((id) => document.getElementById(id))
          .filter(Boolean)
          .map((ref) => ref.textContent)
          .join(' '),
      );
    const labelText = (el) =>
      text(
        Array.from(el.labels || [])
          .map((l) => l.textContent)
          .join(' '),
      );

    if (!text(document.documentElement.getAttribute('lang'))) found.push('<html> has no lang');

    const h1s = document.querySelectorAll('h1');
    if (h1s.length !== 1) {
      found.push(
        `expected exactly one <h1>, found ${h1s.length}` +
          (h1s.length ? `: ${Array.from(h1s).map((h) => JSON.stringify(text(h.textContent))).join(', ')}` : ''),
      );
    }

    const ids = new Map();
    for (const el of document.querySelectorAll('[id]')) {
      ids.set(el.id, (ids.get(el.id) || 0) + 1);
    }
    for (const [id, n] of ids) if (n > 1) found.push(`id "${id}" is used ${n} times`);

    for (const el of document.querySelectorAll('input, select, textarea')) {
      if (el.tagName === 'INPUT' && (el.type || '').toLowerCase() === 'hidden') continue;
      if (!visible(el)) continue;
      const named =
        labelText(el) || text(el.getAttribute('aria-label')) || byIds(el);
      if (!named) found.push(`field without a label: ${describe(el)}`);
    }

    const buttons = document.querySelectorAll(
      'button, a[href], summary, input[type=submit], input[type=button], input[type=reset], [role=button], [role=link]',
    );
    for (const el of buttons) {
      if (!visible(el)) continue;
      let name = text(el.getAttribute('aria-label')) || byIds(el);
      if (!name && el.tagName === 'INPUT') name = text(el.value);
      if (!name) name = text(el.innerText || el.textContent);
      if (!name) {
        name = text(
          Array.from(el.querySelectorAll('img[alt], [aria-label]'))
            .map((i) => i.getAttribute('alt') || i.getAttribute('aria-label'))
            .join(' '),
        );
      }
      if (!name) name = text(el.getAttribute('title'));
      if (!name) found.push(`${el.tagName.toLowerCase()} without an accessible name: ${describe(el)}`);
    }
    return found;
  });
  if (offenders.length) {
    throw new Error(
      `accessibility check failed on ${page.url()}${where ? ` (${where})` : ''}:\n  - ${offenders.join('\n  - ')}`,
    );
  }
}

// ---------------------------------------------------------------------------------------
// Screenshots and steps

function screenshotDir() {
  const dir = env('ROSTER_SCREENSHOTS');
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** A full-page screenshot `<name>.png` in $ROSTER_SCREENSHOTS. */
export async function screenshot(page, name) {
  const path = join(screenshotDir(), `${name}.png`);
  await page.screenshot({ path, fullPage: true, animations: 'disabled' });
  return path;
}

/** Screenshot and accessibility check of the page as it is now. */
export async function capture(page, name) {
  await screenshot(page, name);
  await a11yCheck(page, name);
}

async function visibleText(page) {
  try {
    const t = await page.locator('body').innerText({ timeout: 1_000 });
    return t.replace(/\s+\n/g, '\n').replace(/\n{2,}/g, '\n').trim().slice(0, 1_500);
  } catch (e) {
    return `(no text: ${e.message.split('\n')[0]})`;
  }
}

/**
 * Runs one step of a journey: logs `ok: <name>`, or saves `failed-<name>.png` (one per
 * page given, numbered after the first) and throws with each page's URL and visible text.
 * An array of pages is read when the step fails, so a step may add the pages it opens.
 */
export async function step(name, pages, body) {
  const started = Date.now();
  try {
    await body();
  } catch (e) {
    const list = (Array.isArray(pages) ? pages : [pages]).filter((p) => p && !p.isClosed());
    const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
    const where = [];
    for (const [i, page] of list.entries()) {
      let shot = '';
      try {
        shot = await screenshot(page, `failed-${slug}${i ? `-${i + 1}` : ''}`);
      } catch (s) {
        shot = `(no screenshot: ${s.message.split('\n')[0]})`;
      }
      where.push(`page ${i + 1}: ${page.url()}\n  screenshot: ${shot}\n  visible text:\n${(await visibleText(page)).replace(/^/gm, '    | ')}`);
    }
    const err = new Error(`step failed: ${name}\n${e.stack || e}\n${where.join('\n')}`);
    err.step = name;
    throw err;
  }
  console.log(`ok: ${name} (${Date.now() - started} ms)`);
}

/** Fails with `message` unless `cond`. */
export function check(cond, message) {
  if (!cond) throw new Error(message);
}

// ---------------------------------------------------------------------------------------
// Emails written by the file transport

/** Decodes a quoted-printable body: soft line breaks (`=` at a line end) and `=XX` bytes. */
export function decodeQuotedPrintable(body) {
  const joined = body.replace(/=\r?\n/g, '');
  const bytes = [];
  for (let i = 0; i < joined.length; i++) {
    const c = joined[i];
    if (c === '=' && /^[0-9A-Fa-f]{2}$/.test(joined.slice(i + 1, i + 3))) {
      bytes.push(parseInt(joined.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      for (const b of Buffer.from(c, 'utf8')) bytes.push(b);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

function parseHeaders(block) {
  const headers = {};
  for (const line of block.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return headers;
}

function splitHead(raw) {
  const m = /\r?\n\r?\n/.exec(raw);
  if (!m) return [raw, ''];
  return [raw.slice(0, m.index), raw.slice(m.index + m[0].length)];
}

function decodePart(headers, body) {
  const encoding = (headers['content-transfer-encoding'] || '').toLowerCase();
  if (encoding === 'quoted-printable') return decodeQuotedPrintable(body);
  if (encoding === 'base64') return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  return body;
}

/** One `.eml` file: its headers and its decoded text and HTML parts. */
export function parseEmail(raw) {
  const [head, body] = splitHead(raw);
  const headers = parseHeaders(head);
  const parts = { text: '', html: '' };
  const type = headers['content-type'] || 'text/plain';
  const boundary = /boundary="?([^";]+)"?/i.exec(type);
  const add = (h, b) => {
    const t = (h['content-type'] || 'text/plain').toLowerCase();
    const decoded = decodePart(h, b);
    if (t.startsWith('text/html')) parts.html += decoded;
    else if (t.startsWith('text/plain')) parts.text += decoded;
  };
  if (boundary) {
    for (const chunk of body.split(`--${boundary[1]}`).slice(1)) {
      if (chunk.startsWith('--')) break;
      const [h, b] = splitHead(chunk.replace(/^\r?\n/, ''));
      add(parseHeaders(h), b);
    }
  } else {
    add(headers, body);
  }
  return { headers, subject: headers.subject || '', to: headers.to || '', ...parts };
}

/** Every email in `dir` addressed to `to`, newest first. */
export function emailsTo(dir, to) {
  if (!existsSync(dir)) return [];
  const want = to.toLowerCase();
  return readdirSync(dir)
    .filter((f) => f.endsWith('.eml') && !f.startsWith('.'))
    .map((f) => {
      const path = join(dir, f);
      return { file: f, path, mtime: statSync(path).mtimeMs };
    })
    .map((e) => ({ ...e, ...parseEmail(readFileSync(e.path, 'utf8')) }))
    .filter((e) => e.to.toLowerCase().includes(want))
    .sort((a, b) => b.mtime - a.mtime || b.file.localeCompare(a.file));
}

/**
 * Waits (up to `timeoutMs`) for the newest email to `to` that is not among `seen` (file
 * names) and whose subject contains `subject` when given; returns it.
 */
export async function waitForEmail(dir, to, { seen = new Set(), subject, timeoutMs = 10_000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = emailsTo(dir, to).find(
      (e) => !seen.has(e.file) && (!subject || e.subject.includes(subject)),
    );
    if (found) return found;
    if (Date.now() > deadline) {
      const all = emailsTo(dir, to).map((e) => `${e.file}: ${e.subject}`);
      throw new Error(
        `no new email to ${to}${subject ? ` with subject containing "${subject}"` : ''} in ${dir} ` +
          `after ${timeoutMs} ms; emails to ${to}: ${all.length ? all.join('; ') : 'none'}`,
      );
    }
    await new Promise((r) => setTimeout(r, 150));
  }
}

/** The file names of the emails to `to` so far (to wait for a newer one). */
export function seenEmails(dir, to) {
  return new Set(emailsTo(dir, to).map((e) => e.file));
}

/**
 * The first link in an email (its text part, else its HTML) whose path contains
 * `pathPart`, moved onto `baseUrl` (the server under test) keeping path, query and hash.
 */
export function emailLink(email, pathPart, baseUrl) {
  const urls = [
    ...(email.text.match(/https?:\/\/[^\s<>"']+/g) || []),
    ...(email.html
      .replace(/&#x2f;/gi, '/')
      .replace(/&#x3d;/gi, '=')
      .replace(/&amp;/g, '&')
      .match(/https?:\/\/[^\s<>"']+/g) || []),
  ];
  const link = urls.find((u) => !pathPart || u.includes(pathPart));
  if (!link) {
    throw new Error(`no link containing "${pathPart}" in the email "${email.subject}" (${email.file}):\n${email.text}`);
  }
  const url = new URL(link);
  const base = new URL(baseUrl);
  url.protocol = base.protocol;
  url.host = base.host;
  return url.toString();
}
