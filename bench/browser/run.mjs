/**
 * `npm run bench:browser [-- --rounds N --sample-ms MS --iterations N --browsers chromium,firefox]`:
 * builds bench/browser/entry.ts for the browser (vite), serves it on 127.0.0.1, and runs it in
 * headless Debian Chromium and Firefox ESR through Playwright (no browser download: the system
 * binaries). Prints, per browser, the same table as `npm run bench` (ours and the floor; the
 * peers are Node-only), with the targets beside each figure.
 *
 * Needs /usr/bin/chromium and /usr/bin/firefox-esr; installs them with apt-get when missing and
 * running as root.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium, firefox } from '@playwright/test';
import { build } from 'vite';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    'sample-ms': { type: 'string', default: '200' },
    iterations: { type: 'string' },
    browsers: { type: 'string', default: 'chromium,firefox' },
    workloads: { type: 'string' },
  },
});

const root = fileURLToPath(new URL('../..', import.meta.url));
const BROWSERS = {
  chromium: {
    binary: '/usr/bin/chromium',
    apt: 'chromium',
    launch: () =>
      chromium.launch({
        executablePath: '/usr/bin/chromium',
        args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      }),
  },
  firefox: {
    binary: '/usr/bin/firefox-esr',
    apt: 'firefox-esr',
    launch: () => firefox.launch({ channel: 'moz-firefox', executablePath: '/usr/bin/firefox-esr' }),
  },
};

function ensureInstalled(name) {
  const b = BROWSERS[name];
  if (existsSync(b.binary)) return true;
  if (process.getuid?.() !== 0) return false;
  console.error(`installing ${b.apt} (apt-get)…`);
  execFileSync('apt-get', ['update'], { stdio: 'ignore' });
  execFileSync('apt-get', ['install', '-y', b.apt], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  return existsSync(b.binary);
}

const bundle = await build({
  configFile: false,
  root,
  logLevel: 'silent',
  build: { write: false, minify: false, target: 'es2022', lib: { entry: 'bench/browser/entry.ts', formats: ['es'], fileName: () => 'bench.js' } },
});
const code = (Array.isArray(bundle) ? bundle : [bundle]).flatMap((o) => o.output).find((c) => c.type === 'chunk').code;
const page = '<!doctype html><meta charset="utf-8"><title>agentmesh-e2e bench</title><script type="module" src="/bench.js"></script>';
const server = createServer((req, res) => {
  if (req.url === '/bench.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(code);
  else res.writeHead(200, { 'content-type': 'text/html' }).end(page);
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${server.address().port}/`;

const options = {
  rounds: Number(values.rounds),
  sampleMs: Number(values['sample-ms']),
  iterations: values.iterations ? Number(values.iterations) : undefined,
  workloads: values.workloads ? values.workloads.split(',') : undefined,
};
const cpus = os.cpus();
console.log('agentmesh-e2e browser benchmark');
console.log(`machine: ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${cpus.length} cores; load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} at start`);
console.log(`date:    ${new Date().toISOString()}`);
console.log(`method:  ${options.rounds} interleaved rounds, ~${options.sampleMs} ms per sample; median [min–max]; ratios of medians`);

let failed = false;
try {
  for (const name of values.browsers.split(',')) {
    if (!ensureInstalled(name)) {
      console.log(`\n${name}: not installed (${BROWSERS[name].binary}); skipped`);
      continue;
    }
    const browser = await BROWSERS[name].launch();
    try {
      const p = await browser.newPage();
      p.on('pageerror', (e) => console.error(`${name} page error: ${e.message}`));
      await p.goto(url);
      await p.waitForFunction(() => typeof window.agentmeshBench === 'function');
      const ua = await p.evaluate(() => navigator.userAgent);
      const out = await p.evaluate((o) => window.agentmeshBench(o), options);
      console.log(`\n${name} — ${browser.version()} (${ua})\n`);
      console.log(out.table);
      console.log(`\n${out.summary}`);
    } catch (error) {
      failed = true;
      console.error(`${name}: ${error.message}`);
    } finally {
      await browser.close();
    }
  }
} finally {
  server.close();
}
console.log(`\nload average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} at end`);
process.exit(failed ? 1 : 0);
