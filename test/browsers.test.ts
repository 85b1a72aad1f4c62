// `npm test` on a machine without the browsers: it installs them when it may, and otherwise stops
// before any suite runs with the one command to run (scripts/browsers.mjs), never a failed test.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: plain JavaScript module of the scripts
import { BROWSER_PACKAGES } from '../scripts/browsers.mjs';

const root = resolve(__dirname, '..');
const missing = { ...process.env, CHROMIUM_PATH: '/nonexistent/chromium', BROWSERS_INSTALL: 'never' };

describe('browser provisioning', () => {
  it('npm test stops before running anything and prints the command when a browser is missing and cannot be installed', () => {
    const run = spawnSync(process.execPath, ['scripts/test-all.mjs'], { cwd: root, env: missing, encoding: 'utf8', timeout: 60_000 });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('sudo apt-get update && sudo apt-get install -y chromium');
    expect(run.stderr).toContain('/nonexistent/chromium');
    expect(run.stdout).not.toContain('=== unit ===');
    expect(`${run.stdout}${run.stderr}`).not.toMatch(/\d+ passed, \d+ failed/);
  });

  it('the e2e runner treats a missing engine the same way', () => {
    const run = spawnSync(process.execPath, ['e2e/run.mjs', '--project', 'webkit'], { cwd: root, env: missing, encoding: 'utf8', timeout: 60_000 });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('apt-get install -y chromium');
  });

  it('one list of packages, which CI does not restate', () => {
    expect(BROWSER_PACKAGES).toEqual(['chromium', 'firefox-esr', 'webkit2gtk-driver', 'xvfb']);
    expect(readFileSync(join(root, '.ci/run'), 'utf8')).not.toMatch(/firefox-esr|webkit2gtk/);
  });
});
