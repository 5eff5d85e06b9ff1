// A person walking the web pages in one fresh browser context, with checks on every page
// state: axe-core, console errors, uncaught page errors, CSP violations, and on a phone-sized
// viewport horizontal overflow. Problems are collected per named state and reported together
// at the end of the scenario, so that one run lists everything that is wrong.

import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export const CHROMIUM_LAUNCH = {
  executablePath: '/usr/bin/chromium',
  // Debian's Chromium, never a downloaded one. The networking flags keep it from calling home
  // (this machine's network is closed and refuses those connections by the dozen).
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
};

export const VIEWPORTS = {
  desktop: { viewport: { width: 1280, height: 800 } },
  phone: { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 1 },
};

const SCREENS_DIR = process.env.LATCHKEY_SCREENS_DIR || '';

export class Walk {
  /**
   * @param browser playwright Browser
   * @param server DevServer
   * @param opts { name, viewport: 'desktop'|'phone', js: boolean, screens: boolean | string[] }
   */
  constructor(browser, server, { name, viewport = 'desktop', js = true, screens = false }) {
    this.browser = browser;
    this.server = server;
    this.name = name;
    this.viewportName = viewport;
    this.phone = viewport === 'phone';
    this.js = js;
    // true: every named state; an array: only those screenshot names.
    this.screens = SCREENS_DIR ? screens : false;
    this.problems = [];        // { state, check, details }
    this.pending = [];         // console/page/CSP problems not yet tied to a state
    this.lastState = 'start';
    this.documentErrors = new Map(); // main-frame URL -> HTTP status of a deliberate error page
  }

  async open() {
    this.context = await this.browser.newContext({
      ...VIEWPORTS[this.viewportName],
      javaScriptEnabled: this.js,
      // The dev server's certificate is signed by its own development CA (DATA/tls/dev-ca.pem).
      // Trusting that CA in Chromium would need NSS tooling (certutil on a profile database),
      // so certificate errors are ignored instead, for this context only.
      ignoreHTTPSErrors: true,
      locale: 'en-GB',
    });
    this.context.setDefaultTimeout(10_000);
    this.context.setDefaultNavigationTimeout(15_000);
    await this.context.exposeBinding('__latchkeyCspViolation', ({ page }, v) => {
      this.pending.push({ check: 'CSP violation', details: `${v.directive} blocked ${v.blocked || '(inline)'}${v.source ? ` in ${path0(v.source)}:${v.line}` : ''} on ${path0(page.url())}` });
    });
    await this.context.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => {
        window.__latchkeyCspViolation({ directive: e.violatedDirective, blocked: e.blockedURI, source: e.sourceFile, line: e.lineNumber });
      });
    });
    this.page = await this.context.newPage();
    const page = this.page;
    page.on('response', (r) => {
      const req = r.request();
      if (req.isNavigationRequest() && req.frame() === page.mainFrame() && r.status() >= 400) {
        this.documentErrors.set(r.url(), r.status());
      }
    });
    page.on('console', (msg) => {
      if (msg.type() !== 'error') return;
      const text = msg.text();
      const where = msg.location()?.url || '';
      // A page that answers a refused form with 400/401/429 (the form again, with its error
      // shown in the page) makes Chromium log "Failed to load resource" for the document
      // itself; the status is deliberate, the page is fine. Subresources are not excused.
      if (/^Failed to load resource/.test(text) && this.documentErrors.has(where)) return;
      const check = /Content Security Policy/i.test(text) ? 'CSP violation (console)' : 'console error';
      this.pending.push({ check, details: `${text}${where ? ` [${path0(where)}]` : ''} (on ${path0(page.url())})` });
    });
    page.on('pageerror', (err) => {
      this.pending.push({ check: 'page error', details: `${err.message} (on ${path0(page.url())})` });
    });
    page.on('crash', () => this.pending.push({ check: 'page crashed', details: path0(page.url()) }));
    return this;
  }

  /** Records a problem for `state` (the scenario goes on). */
  problem(state, check, details) {
    this.problems.push({ state, check, details });
  }

  /** Checks `cond`; a soft failure is recorded against the current state. */
  expect(cond, check, details, state = this.lastState) {
    if (!cond) this.problem(state, check, details);
    return Boolean(cond);
  }

  /**
   * A named page state: runs axe-core, ties console/CSP/page errors seen so far to it, checks
   * the layout on the phone, and saves a screenshot when LATCHKEY_SCREENS_DIR is set and `screen`
   * is given.
   */
  async check(state, { screen } = {}) {
    const page = this.page;
    this.lastState = state;
    await page.waitForLoadState('load');
    if (this.js) {
      // Injected through the DevTools protocol, not page.addScriptTag(): the pages' CSP
      // (script-src 'self') rightly refuses an inline <script>, and the test would report its
      // own violation.
      if (!(await page.evaluate(() => typeof window.axe === 'object'))) {
        await page.evaluate(`${AXE_SOURCE}\n;void 0`);
      }
      const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations', 'incomplete'] }));
      for (const v of result.violations) {
        this.problem(state, `axe ${v.id} (${v.impact})`, `${v.help}; targets: ${targets(v)}`);
      }
      for (const v of result.incomplete) {
        if (v.impact === 'serious' || v.impact === 'critical') {
          this.problem(state, `axe needs review: ${v.id} (${v.impact})`, `${v.help}; targets: ${targets(v)}`);
        }
      }
    }
    // With JavaScript off, axe cannot run in the page (Chromium cannot settle a promise there);
    // those pages are the same templates that the scenarios with JavaScript check.
    if (this.phone) {
      const overflow = await page.evaluate(() => {
        const de = document.documentElement;
        const width = Math.min(window.innerWidth, de.clientWidth);
        const describe = (el) => {
          const text = (el.innerText || el.value || el.getAttribute('aria-label') || '').trim().replace(/\s+/g, ' ').slice(0, 24);
          return `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${el.className && typeof el.className === 'string' ? `.${el.className.trim().split(/\s+/).join('.')}` : ''}${text ? ` "${text}"` : ''}`;
        };
        const out = [];
        for (const el of document.querySelectorAll('main td, main th, main button, main .button, main input, main select, main textarea, main a, main svg, main img, main pre, main table')) {
          const r = el.getBoundingClientRect();
          if (r.width === 0 && r.height === 0) continue;
          if (r.left < -0.5 || r.right > width + 0.5) out.push(`${describe(el)} at x=${Math.round(r.left)}..${Math.round(r.right)}`);
        }
        if (de.scrollWidth <= width && !out.length) return null;
        return `document.documentElement.scrollWidth ${de.scrollWidth} px, window.innerWidth ${window.innerWidth} px`
          + (out.length ? `; outside the viewport: ${out.slice(0, 8).join(', ')}${out.length > 8 ? `, … (${out.length} in all)` : ''}` : '');
      });
      if (overflow) this.problem(state, 'horizontal overflow at 390 px', overflow);
    }
    this.#flush(state);
    if (screen && (this.screens === true || (Array.isArray(this.screens) && this.screens.includes(screen)))) {
      fs.mkdirSync(SCREENS_DIR, { recursive: true });
      await page.screenshot({ path: path.join(SCREENS_DIR, `${screen}${this.phone ? '-phone' : ''}.png`), fullPage: true });
    }
  }

  #flush(state) {
    for (const p of this.pending) this.problem(state, p.check, p.details);
    this.pending = [];
  }

  // --- people's actions -----------------------------------------------------------------

  /**
   * Clicks like a person; if something covers the control (a layout bug, recorded as a
   * problem), presses it with the keyboard instead so that the walk goes on.
   */
  async click(locator) {
    try {
      await locator.click({ timeout: 4000 });
    } catch (e) {
      if (!(await locator.count().catch(() => 0))) throw e;
      const why = e.message.match(/<[^\n]*intercepts pointer events/)?.[0] ?? e.message.split('\n')[0];
      this.problem(this.lastState, 'cannot click', `${locator}: ${why}; pressed with the keyboard instead`);
      await locator.first().focus();
      const loaded = this.page.waitForEvent('load', { timeout: 10_000 }).catch(() => {});
      await this.page.keyboard.press('Enter');
      await loaded;
    }
    await this.page.waitForLoadState();
  }

  async goto(p) {
    await this.page.goto(this.server.at(p));
  }

  /** Waits for the URL path to match `re`, with a clear error naming the page shown instead. */
  async waitForPath(re, what, timeout = 15_000) {
    try {
      await this.page.waitForURL((u) => re.test(u.pathname), { timeout });
    } catch {
      throw new Error(`${what}: expected a page at ${re}, still on ${path0(this.page.url())} after ${timeout} ms; it says: ${await this.mainText()}`);
    }
  }

  /** Waits for text matching `re` inside <main>. */
  async waitForText(re, what, timeout = 10_000) {
    try {
      await this.page.locator('main').filter({ hasText: re }).first().waitFor({ timeout });
    } catch {
      throw new Error(`${what}: expected ${re} on ${path0(this.page.url())} within ${timeout} ms; the page says: ${await this.mainText()}`);
    }
  }

  /**
   * Waits until <main> shows `re` or the page has moved on to a path matching `pathRe` (a live
   * status may be replaced by the next page quickly).
   */
  async waitForTextOrPath(re, pathRe, what, timeout = 15_000) {
    const p = this.page;
    const deadline = Date.now() + timeout;
    while (Date.now() < deadline) {
      if (pathRe.test(new URL(p.url()).pathname)) return 'path';
      if (await this.seesText(re).catch(() => false)) return 'text';
      await p.waitForTimeout(100);
    }
    throw new Error(`${what}: expected ${re} or a page at ${pathRe} within ${timeout} ms; on ${path0(p.url())}: ${await this.mainText()}`);
  }

  /** Whether text matching `re` shows in <main> within `timeout` (no error). */
  async seesText(re, timeout = 0) {
    const loc = this.page.locator('main').filter({ hasText: re }).first();
    if (timeout === 0) return (await loc.count()) > 0;
    try { await loc.waitFor({ timeout }); return true; } catch { return false; }
  }

  async mainText() {
    try {
      const text = await this.page.locator('main').first().innerText({ timeout: 2000 });
      return JSON.stringify(text.replace(/\s+/g, ' ').trim().slice(0, 400));
    } catch {
      return '(no <main>)';
    }
  }

  async finish() {
    this.#flush(`after ${this.lastState}`);
    await this.context?.close().catch(() => {});
  }
}

function targets(v) {
  const list = v.nodes.slice(0, 6).map((n) => n.target.join(' ')).join(', ');
  return v.nodes.length > 6 ? `${list}, … (${v.nodes.length} in all)` : list;
}

function path0(url) {
  try { const u = new URL(url); return u.pathname + u.search.replace(/([?&]t=)[^&]+/, '$1…'); } catch { return url; }
}

/** The problems as readable lines. */
export function formatProblems(problems) {
  return problems.map((p) => `  [${p.state}] ${p.check}: ${p.details}`).join('\n');
}
