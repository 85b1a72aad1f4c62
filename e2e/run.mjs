#!/usr/bin/env node
// The browser end-to-end suite: Playwright (Chromium, Firefox ESR) and then the same scenarios in
// WebKitGTK (e2e/webkit.mjs). Writes one JSON report with vitest's field names, so that
// scripts/test-all.mjs counts the browser tests in its totals line.
//
//   node e2e/run.mjs [--report <file.json>] [--project chromium|firefox|webkit]…
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBrowsers, explainMissing } from '../scripts/browsers.mjs';
import { buildPages, ROOT } from './env.mjs';

const argv = process.argv.slice(2);
const reportPath = argv.includes('--report') ? argv[argv.indexOf('--report') + 1] : null;
const projects = argv.flatMap((a, i) => (argv[i - 1] === '--project' ? [a] : []));
const want = (p) => projects.length === 0 || projects.includes(p);
const browsers = ensureBrowsers();
if (!browsers.ok) {
  // A machine without browsers is a set-up problem, not a failing test: say how to fix it and stop.
  console.error(explainMissing(browsers));
  process.exit(2);
}
const tmp = mkdtempSync(join(tmpdir(), 'agentmesh-e2e-'));
const started = Date.now();
const totals = { passed: 0, failed: 0, skipped: 0 };
const suites = [];

function record(name, passed, failed, skipped, note) {
  totals.passed += passed;
  totals.failed += failed;
  totals.skipped += skipped;
  suites.push({ name, passed, failed, skipped, ...(note ? { note } : {}) });
}

try {
  buildPages();
} catch (error) {
  console.error(error.message);
  record('build', 0, 1, 0, 'vite build failed');
}

const env = { ...process.env, E2E_SKIP_BUILD: '1' };
const pwProjects = ['chromium', 'firefox'].filter(want);
if (pwProjects.length && totals.failed === 0) {
  const pwReport = join(tmp, 'playwright.json');
  const run = spawnSync(
    process.execPath,
    [join(ROOT, 'node_modules', '@playwright', 'test', 'cli.js'), 'test', '-c', 'e2e/playwright.config.mjs', ...pwProjects.flatMap((p) => ['--project', p])],
    { cwd: ROOT, stdio: 'inherit', env: { ...env, E2E_PW_REPORT: pwReport } },
  );
  if (existsSync(pwReport)) {
    const r = JSON.parse(readFileSync(pwReport, 'utf8'));
    const s = r.stats ?? {};
    const failed = (s.unexpected ?? 0) + (r.errors?.length && !s.unexpected ? 1 : 0);
    record(`playwright (${pwProjects.join(', ')})`, (s.expected ?? 0) + (s.flaky ?? 0), failed, s.skipped ?? 0, s.flaky ? `${s.flaky} flaky` : undefined);
  } else {
    record('playwright', 0, 1, 0, `no report (exit ${run.status})`);
  }
}

if (want('webkit') && totals.failed >= 0) {
  const wkReport = join(tmp, 'webkit.json');
  const run = spawnSync(process.execPath, [join(ROOT, 'e2e', 'webkit.mjs'), '--report', wkReport], { cwd: ROOT, stdio: 'inherit', env });
  if (existsSync(wkReport)) {
    const r = JSON.parse(readFileSync(wkReport, 'utf8'));
    record('webkit (WebKitWebDriver)', r.numPassedTests, r.numFailedTests, r.numPendingTests);
  } else {
    record('webkit', 0, 1, 0, `no report (exit ${run.status})`);
  }
}

const report = {
  runner: 'e2e/run.mjs',
  numTotalTests: totals.passed + totals.failed + totals.skipped,
  numPassedTests: totals.passed,
  numFailedTests: totals.failed,
  numPendingTests: totals.skipped,
  startTime: started,
  durationMs: Date.now() - started,
  suites,
  artifacts: 'test-results/e2e-artifacts',
};
if (reportPath) writeFileSync(reportPath, JSON.stringify(report, null, 2));
console.log(`\ne2e: ${suites.map((s) => `${s.name}: ${s.passed} passed, ${s.failed} failed${s.skipped ? `, ${s.skipped} skipped` : ''}`).join(' · ')}`);
console.log(`e2e: ${totals.passed} passed, ${totals.failed} failed (${Math.round((Date.now() - started) / 1000)} s); screenshots in test-results/e2e-artifacts`);
process.exit(totals.failed ? 1 : 0);
