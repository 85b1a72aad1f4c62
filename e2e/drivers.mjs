// The two drivers behind e2e/scenarios.mjs: Playwright pages, and a WebDriver (W3C, classic) client
// for WebKitWebDriver written on plain fetch.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ARTIFACTS } from './env.mjs';

mkdirSync(ARTIFACTS, { recursive: true });
const VIEWPORT = { width: 1400, height: 1000 };

/** @param {import('@playwright/test').Browser} browser */
export function playwrightDriver(browser, { demoUrl, engine }) {
  const contexts = new Map();
  const errors = [];
  const pages = [];
  return {
    errors,
    /** Screenshots of every open page, for a failed scenario. */
    async shotAll(prefix) {
      for (const [i, p] of pages.entries()) await p.shot(`${prefix}-page${i + 1}`).catch(() => {});
    },
    async open(path, { context = 'default' } = {}) {
      let c = contexts.get(context);
      if (!c) {
        c = await browser.newContext({ viewport: VIEWPORT });
        contexts.set(context, c);
      }
      const page = await c.newPage();
      page.on('pageerror', (e) => errors.push(`${path}: ${e.message}`));
      await page.goto(new URL(path, demoUrl).href);
      const wrapped = {
        eval: (fn, arg) => page.evaluate(fn, arg),
        fill: async (selector, text) => {
          // Firefox over BiDi appends to a number input instead of replacing it: empty it first.
          await page.locator(selector).evaluate((el) => {
            el.value = '';
          });
          await page.fill(selector, text);
        },
        click: (selector) => page.click(selector),
        reload: () => page.reload(),
        shot: (name) => page.screenshot({ path: join(ARTIFACTS, `${engine}-${name}.png`), fullPage: true }),
        close: async () => {
          pages.splice(pages.indexOf(wrapped), 1);
          await page.close();
        },
      };
      pages.push(wrapped);
      return wrapped;
    },
    async close() {
      for (const c of contexts.values()) await c.close().catch(() => {});
    },
  };
}

/** A W3C WebDriver session over fetch. */
export class WebDriverSession {
  constructor(base, id) {
    this.base = base;
    this.id = id;
    this.current = null;
  }

  static async create(base, capabilities) {
    const res = await fetch(`${base}/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ capabilities }) });
    const body = await res.json();
    if (!res.ok || !body.value?.sessionId) throw new Error(`new session failed: ${JSON.stringify(body)}`);
    const session = new WebDriverSession(base, body.value.sessionId);
    session.current = await session.cmd('GET', '/window');
    return session;
  }

  async cmd(method, path, body) {
    const res = await fetch(`${this.base}/session/${this.id}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(`WebDriver ${method} ${path}: ${json.value?.error ?? res.status} ${json.value?.message ?? ''}`);
    return json.value;
  }

  async quit() {
    await fetch(`${this.base}/session/${this.id}`, { method: 'DELETE' }).catch(() => {});
    this.onQuit?.();
  }
}

/**
 * Scenario driver over WebDriver: each context is its own session (its own MiniBrowser), each
 * page a window of it; every command first switches to its window.
 */
export function webDriverDriver(newSession, { demoUrl, engine }) {
  const contexts = new Map();
  const context = async (name) => {
    let c = contexts.get(name);
    if (!c) {
      c = { session: await newSession(), windows: [], fresh: true };
      contexts.set(name, c);
    }
    return c;
  };
  const pages = [];
  return {
    errors: [],
    async shotAll(prefix) {
      for (const [i, p] of pages.entries()) await p.shot(`${prefix}-page${i + 1}`).catch(() => {});
    },
    async open(path, { context: name = 'default' } = {}) {
      const c = await context(name);
      const { session } = c;
      const activate = async (handle) => {
        if (session.current !== handle) {
          await session.cmd('POST', '/window', { handle });
          session.current = handle;
        }
      };
      const element = async (selector) => Object.values(await session.cmd('POST', '/element', { using: 'css selector', value: selector }))[0];
      let handle;
      if (c.fresh) {
        handle = session.current;
        c.fresh = false;
      } else {
        // A window rather than a tab: a hidden tab may be throttled, and both pages must keep running.
        handle = (await session.cmd('POST', '/window/new', { type: 'window' })).handle;
      }
      c.windows.push(handle);
      await activate(handle);
      await session.cmd('POST', '/url', { url: new URL(path, demoUrl).href });
      const wrapped = {
        async eval(fn, arg) {
          await activate(handle);
          const script = `const [src, arg, done] = arguments;
            Promise.resolve().then(() => (0, eval)('(' + src + ')')(arg)).then(
              (value) => done({ ok: true, value: value === undefined ? null : JSON.parse(JSON.stringify(value)) }),
              (error) => done({ ok: false, error: String(error && error.stack || error) }));`;
          const out = await session.cmd('POST', '/execute/async', { script, args: [fn.toString(), arg ?? null] });
          if (!out?.ok) throw new Error(`in the page: ${out?.error}`);
          return out.value;
        },
        async fill(selector, text) {
          await activate(handle);
          const el = await element(selector);
          await session.cmd('POST', `/element/${el}/clear`, {});
          await session.cmd('POST', `/element/${el}/value`, { text });
        },
        async click(selector) {
          await activate(handle);
          for (let attempt = 0; ; attempt++) {
            try {
              await session.cmd('POST', `/element/${await element(selector)}/click`, {});
              return;
            } catch (error) {
              // The page re-rendered between finding and clicking: find it again.
              if (attempt >= 3 || !String(error.message).includes('stale element')) throw error;
            }
          }
        },
        async reload() {
          await activate(handle);
          await session.cmd('POST', '/refresh', {});
        },
        async shot(name) {
          await activate(handle);
          const png = await session.cmd('GET', '/screenshot');
          writeFileSync(join(ARTIFACTS, `${engine}-${name}.png`), Buffer.from(png, 'base64'));
        },
        async close() {
          if (c.windows.length === 1) {
            // Closing the last window would end the session: leave a blank page instead.
            await activate(handle);
            await session.cmd('POST', '/url', { url: 'about:blank' });
            return;
          }
          await activate(handle);
          await session.cmd('DELETE', '/window');
          c.windows.splice(c.windows.indexOf(handle), 1);
          session.current = null;
          await activate(c.windows[c.windows.length - 1]);
        },
      };
      pages.push(wrapped);
      return wrapped;
    },
    async close() {
      for (const c of contexts.values()) await c.session.quit();
    },
  };
}
