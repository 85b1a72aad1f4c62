// The two drivers behind e2e/scenarios.mjs: Playwright pages, and a WebDriver (W3C, classic) client
// for WebKitWebDriver written on plain fetch.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ARTIFACTS } from './env.mjs';
import { eventLog, timeBox } from './harness.mjs';

mkdirSync(ARTIFACTS, { recursive: true });
const VIEWPORT = { width: 1400, height: 1000 };
/** Longer than any single step a scenario takes (a WebDriver script may run 60 s), so only a hang trips it. */
const COMMAND_TIMEOUT_MS = 90_000;
const SHOT_TIMEOUT_MS = 10_000;

/** Wraps each page operation so the driver log shows what ran, how long it took, and what never returned. */
function logged(log, label, ops) {
  const out = {};
  for (const [name, fn] of Object.entries(ops)) {
    out[name] = async (...args) => {
      const what = `${label} ${name}${name === 'eval' ? ` ${String(args[0]).replace(/\s+/g, ' ').slice(0, 100)}` : args.length ? ` ${JSON.stringify(args).slice(0, 100)}` : ''}`;
      const started = Date.now();
      log.add(`→ ${what}`);
      try {
        const value = await fn(...args);
        if (Date.now() - started > 2000) log.add(`← ${label} ${name} (${Date.now() - started} ms)`);
        return value;
      } catch (error) {
        log.add(`✘ ${label} ${name} after ${Date.now() - started} ms: ${String(error?.message ?? error).slice(0, 300)}`);
        throw error;
      }
    };
  }
  return out;
}

/** Screenshots of every open page; returns the file names written. */
async function shootAll(pages, prefix) {
  const names = [];
  for (const [i, p] of pages.entries()) {
    const name = `${prefix}-page${i + 1}`;
    await timeBox(p.shot(name), SHOT_TIMEOUT_MS, `screenshot ${name}`).then(
      (file) => names.push(file),
      (e) => names.push(`(${name}: ${e.message})`),
    );
  }
  return names;
}

/** @param {import('@playwright/test').Browser} browser */
export function playwrightDriver(browser, { demoUrl, engine }) {
  const contexts = new Map();
  const errors = [];
  const pages = [];
  const log = eventLog();
  const consoleLog = eventLog();
  return {
    errors,
    log,
    console: consoleLog,
    shotAll: (prefix) => shootAll(pages, prefix),
    async open(path, { context = 'default' } = {}) {
      let c = contexts.get(context);
      if (!c) {
        c = await browser.newContext({ viewport: VIEWPORT });
        contexts.set(context, c);
      }
      const page = await c.newPage();
      const label = `[${context}#${pages.length + 1} ${path}]`;
      page.on('pageerror', (e) => {
        errors.push(`${path}: ${e.message}`);
        consoleLog.add(`${label} pageerror: ${e.stack ?? e.message}`);
      });
      page.on('console', (m) => consoleLog.add(`${label} ${m.type()}: ${m.text()}`));
      page.on('crash', () => consoleLog.add(`${label} the page crashed`));
      log.add(`open ${label}`);
      await page.goto(new URL(path, demoUrl).href);
      const wrapped = logged(log, label, {
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
        shot: async (name) => {
          const file = `${engine}-${name}.png`;
          await page.screenshot({ path: join(ARTIFACTS, file), fullPage: true });
          return file;
        },
        close: async () => {
          pages.splice(pages.indexOf(wrapped), 1);
          await page.close();
        },
      });
      pages.push(wrapped);
      return wrapped;
    },
    async close() {
      for (const c of contexts.values()) await c.close().catch(() => {});
    },
  };
}

/** A W3C WebDriver session over fetch; every command is time-boxed so a hung browser fails the scenario instead of the run. */
export class WebDriverSession {
  constructor(base, id, output) {
    this.base = base;
    this.id = id;
    this.current = null;
    /** The driver process's (and its browser's) output, when the caller collects it. */
    this.output = output;
  }

  static async create(base, capabilities, output) {
    const res = await fetch(`${base}/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ capabilities }),
      signal: AbortSignal.timeout(COMMAND_TIMEOUT_MS),
    });
    const body = await res.json();
    if (!res.ok || !body.value?.sessionId) throw new Error(`new session failed: ${JSON.stringify(body)}`);
    const session = new WebDriverSession(base, body.value.sessionId, output);
    session.current = await session.cmd('GET', '/window');
    return session;
  }

  async cmd(method, path, body) {
    let res;
    try {
      res = await fetch(`${this.base}/session/${this.id}${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(COMMAND_TIMEOUT_MS),
      });
    } catch (error) {
      if (error?.name === 'TimeoutError') throw new Error(`WebDriver ${method} ${path}: no answer within ${COMMAND_TIMEOUT_MS / 1000} s`);
      throw error;
    }
    const json = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(`WebDriver ${method} ${path}: ${json.value?.error ?? res.status} ${json.value?.message ?? ''}`);
    return json.value;
  }

  async quit() {
    await fetch(`${this.base}/session/${this.id}`, { method: 'DELETE', signal: AbortSignal.timeout(15_000) }).catch(() => {});
    this.onQuit?.();
  }
}

/**
 * Scenario driver over WebDriver: each context is its own session (its own MiniBrowser), each
 * page a window of it; every command first switches to its window.
 */
export function webDriverDriver(newSession, { demoUrl, engine }) {
  const contexts = new Map();
  const log = eventLog();
  const consoleLog = eventLog();
  const context = async (name) => {
    let c = contexts.get(name);
    if (!c) {
      log.add(`new session for context ${name}`);
      c = { session: await newSession((line) => consoleLog.add(`[${name}] ${line}`)), windows: [], fresh: true };
      contexts.set(name, c);
    }
    return c;
  };
  const pages = [];
  return {
    errors: [],
    log,
    console: consoleLog,
    shotAll: (prefix) => shootAll(pages, prefix),
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
      } else if (c.spare) {
        handle = c.spare;
        c.spare = null;
      } else {
        // A window rather than a tab: a hidden tab may be throttled, and both pages must keep running.
        handle = (await session.cmd('POST', '/window/new', { type: 'window' })).handle;
      }
      const label = `[${name}#${pages.length + 1} ${path}]`;
      log.add(`open ${label} in window ${handle}`);
      c.windows.push(handle);
      await activate(handle);
      await session.cmd('POST', '/url', { url: new URL(path, demoUrl).href });
      const wrapped = logged(log, label, {
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
          const file = `${engine}-${name}.png`;
          writeFileSync(join(ARTIFACTS, file), Buffer.from(png, 'base64'));
          return file;
        },
        async close() {
          pages.splice(pages.indexOf(wrapped), 1);
          if (c.windows.length === 1) {
            // Closing the last window would end the session: open a blank one to keep it, then close
            // this one. (Navigating away instead leaves the page to the back/forward cache.)
            c.spare = (await session.cmd('POST', '/window/new', { type: 'window' })).handle;
          }
          await activate(handle);
          await session.cmd('DELETE', '/window');
          c.windows.splice(c.windows.indexOf(handle), 1);
          session.current = null;
          await activate(c.windows[c.windows.length - 1] ?? c.spare);
        },
      });
      pages.push(wrapped);
      return wrapped;
    },
    /** Each WebKitWebDriver's output, and each page's console as the page kept it (demo/src/page-log.ts). */
    async extraLogs() {
      const out = {};
      for (const [name, c] of contexts) if (c.session.output) out[`webdriver-${name}.log`] = c.session.output.lines.join('\n') + '\n';
      const consoles = [];
      for (const [i, p] of pages.entries()) {
        const lines = await timeBox(p.eval(() => globalThis.__pageLog ?? ['(this page keeps no log)']), 5000, 'reading the console').catch((e) => [`(${e.message})`]);
        consoles.push(`--- page ${i + 1} ---`, ...lines);
      }
      out['page-console.log'] = consoles.join('\n') + '\n';
      return out;
    },
    async close() {
      for (const c of contexts.values()) await c.session.quit();
    },
  };
}
