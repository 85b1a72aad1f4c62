#!/usr/bin/env node
// The e2e scenarios in WebKitGTK: WebKitWebDriver drives MiniBrowser under Xvfb (Playwright cannot
// drive Debian's WebKit). Starts its own Xvfb, driver, local Worker and demo server.
//
//   node e2e/webkit.mjs [--report <file.json>] [--only 1,2]
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { BROWSER_EXECUTABLES, executablePath, explainMissing, installCommand } from '../scripts/browsers.mjs';
import { freePort } from '../scripts/local-worker.mjs';
import { webDriverDriver, WebDriverSession } from './drivers.mjs';
import { buildPages, startStack } from './env.mjs';
import { eventLog, runScenario } from './harness.mjs';
import { scenarios } from './scenarios.mjs';

const argv = process.argv.slice(2);
const reportPath = argv.includes('--report') ? argv[argv.indexOf('--report') + 1] : null;
const only = argv.includes('--only') ? argv[argv.indexOf('--only') + 1].split(',').map(Number) : null;
const [DRIVER, MINIBROWSER, XVFB] = ['WEBKIT_WEBDRIVER', 'WEBKIT_MINIBROWSER', 'XVFB_PATH'].map((v) => executablePath(BROWSER_EXECUTABLES.find((e) => e.env === v)));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function writeReport(results, startTime) {
  const count = (s) => results.filter((r) => r.status === s).length;
  const report = {
    runner: 'e2e/webkit.mjs',
    engine: 'webkitgtk',
    numTotalTests: results.length,
    numPassedTests: count('passed'),
    numFailedTests: count('failed'),
    numPendingTests: count('skipped'),
    startTime,
    durationMs: Date.now() - startTime,
    testResults: results,
  };
  if (reportPath) writeFileSync(reportPath, JSON.stringify(report, null, 2));
  return report;
}

const startTime = Date.now();
const missing = BROWSER_EXECUTABLES.filter((e) => e.engine === 'WebKit' && !existsSync(executablePath(e)));
if (missing.length) {
  // Not a test result: scripts/browsers.mjs installs these before `npm test` runs anything.
  console.error(explainMissing({ missing, command: installCommand([...new Set(missing.map((m) => m.pkg))]) }));
  process.exit(2);
}

const children = [];
const spawnChild = (cmd, args, env = {}) => {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  children.push(child);
  return child;
};
const killChildren = () => {
  for (const c of children) {
    try {
      c.kill('SIGTERM');
    } catch {
      // gone
    }
  }
};
process.on('exit', killChildren);
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143)); // 'exit' then ends Xvfb, the drivers and the local Worker

// A free X display.
let display = 90 + Math.floor(Math.random() * 400);
while (existsSync(`/tmp/.X11-unix/X${display}`) || existsSync(`/tmp/.X${display}-lock`)) display += 1;
spawnChild(XVFB, [`:${display}`, '-screen', '0', '1400x1000x24', '-nolisten', 'tcp']);
// WebKitWebDriver runs one session at a time: each session (a browser context in the scenarios) gets its own driver.
// Its output (and MiniBrowser's, whose console goes to stdout) is kept for a failed scenario's artifacts.
async function startDriver(onConsole) {
  const port = await freePort();
  const child = spawnChild(DRIVER, [`--port=${port}`, '--host=127.0.0.1'], { DISPLAY: `:${display}` });
  const output = eventLog();
  const lines = (stream, each) => {
    let rest = '';
    stream.setEncoding('utf8');
    stream.on('data', (d) => {
      const parts = (rest + d).split('\n');
      rest = parts.pop();
      for (const line of parts) each(line);
    });
  };
  lines(child.stdout, (line) => {
    output.add(`stdout: ${line}`);
    if (/: CONSOLE [A-Z]+ /.test(line)) onConsole(line); // MiniBrowser's console, when the driver passes it on
  });
  lines(child.stderr, (line) => output.add(`stderr: ${line}`));
  child.on('exit', (code, signal) => output.add(`WebKitWebDriver exited (${signal ?? code})`));
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/status`)).ok) return { base, child, output };
    } catch {
      // starting
    }
    if (i > 100) throw new Error(`WebKitWebDriver did not start:\n${output.lines.join('\n')}`);
    await sleep(100);
  }
}
await sleep(300); // Xvfb
buildPages();
const stack = await startStack();
const newSession = async (onConsole) => {
  const { base, child, output } = await startDriver(onConsole);
  const session = await WebDriverSession.create(base, {
    alwaysMatch: {
      browserName: 'MiniBrowser',
      'webkitgtk:browserOptions': { binary: MINIBROWSER, args: ['--automation', '--enable-write-console-messages-to-stdout=true'] },
      timeouts: { script: 60_000, pageLoad: 60_000, implicit: 2000 },
    },
  }, output);
  session.onQuit = () => child.kill('SIGTERM');
  return session;
};

const results = [];
try {
  for (const scenario of scenarios) {
    if (only && !only.includes(scenario.id)) continue;
    const title = `[webkit] ${scenario.id}. ${scenario.title}`;
    const env = { demoUrl: stack.demoUrl, persistTo: stack.worker.persistTo, engine: 'webkit' };
    const d = webDriverDriver(newSession, env);
    const started = Date.now();
    try {
      const result = await runScenario(scenario, d, env);
      results.push({ title, status: 'passed', durationMs: Date.now() - started, ...(result ? { result } : {}) });
      console.log(`  ✓ ${title} (${((Date.now() - started) / 1000).toFixed(1)}s)`);
    } catch (error) {
      results.push({ title, status: 'failed', durationMs: Date.now() - started, error: String(error?.stack ?? error) });
      console.log(`  ✘ ${title}\n    ${String(error?.message ?? error).split('\n').join('\n    ')}`);
    } finally {
      await d.close().catch(() => {});
    }
  }
} finally {
  await stack.stop();
  killChildren();
}
const report = writeReport(results, startTime);
console.log(`webkit: ${report.numPassedTests} passed, ${report.numFailedTests} failed (${(report.durationMs / 1000).toFixed(0)} s)`);
process.exit(report.numFailedTests ? 1 : 0);
