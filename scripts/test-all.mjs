#!/usr/bin/env node
// Runs every test suite that exists (Node unit tests, workerd suites, browser e2e), prints each
// suite's own output, and ends with one line of real totals: `N passed, N failed`.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBrowsers, explainMissing } from './browsers.mjs';

const root = new URL('..', import.meta.url).pathname;
const out = mkdtempSync(join(tmpdir(), 'agentmesh-tests-'));
const only = process.argv.slice(2);

const suites = [
  { name: 'unit', config: 'vitest.config.ts', kind: 'vitest' },
  { name: 'workerd', config: 'test/workerd/vitest.config.ts', kind: 'vitest' },
  { name: 'worker', config: 'worker/vitest.config.ts', kind: 'vitest' },
  { name: 'e2e', config: 'e2e/run.mjs', kind: 'script' },
].filter((s) => existsSync(join(root, s.config)) && (only.length === 0 || only.includes(s.name)));

// Browsers are set up before any suite runs, so a machine that lacks them stops here with the one
// command to run instead of reporting failed tests.
if (suites.some((s) => s.name === 'e2e')) {
  const browsers = ensureBrowsers();
  if (!browsers.ok) {
    console.error(explainMissing(browsers));
    process.exit(2);
  }
}

let passed = 0;
let failed = 0;
let skipped = 0;
for (const suite of suites) {
  const report = join(out, `${suite.name}.json`);
  console.log(`\n=== ${suite.name} ===`);
  const args =
    suite.kind === 'vitest'
      ? ['vitest', 'run', '--config', suite.config, '--reporter=default', '--reporter=json', `--outputFile.json=${report}`]
      : [suite.config, '--report', report];
  const cmd = suite.kind === 'vitest' ? 'npx' : process.execPath;
  const run = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: process.env });
  if (!existsSync(report)) {
    console.log(`suite ${suite.name} produced no report (exit ${run.status})`);
    failed += 1;
    continue;
  }
  const r = JSON.parse(readFileSync(report, 'utf8'));
  passed += r.numPassedTests ?? 0;
  failed += (r.numFailedTests ?? 0) + (r.numFailedTestSuites && !r.numFailedTests ? r.numFailedTestSuites : 0);
  skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  if (run.status !== 0 && !r.numFailedTests && !r.numFailedTestSuites) failed += 1;
}
console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
