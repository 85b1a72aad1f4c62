#!/usr/bin/env node
// The browsers the end-to-end suite drives, in one place: which Debian packages bring them, where
// their executables are, and how to install them. `npm test` (scripts/test-all.mjs) and `.ci/run`
// call this before any suite runs, so a missing browser is a set-up step, never a failing test.
//
//   node scripts/browsers.mjs            install what is missing when this machine allows it
//   node scripts/browsers.mjs --check    only report; exit 1 when something is missing
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Debian packages, one per engine plus the X server WebKitGTK needs (it has no headless mode). */
export const BROWSER_PACKAGES = ['chromium', 'firefox-esr', 'webkit2gtk-driver', 'xvfb'];

/** Each executable the suite starts, the package that brings it, and the variable that overrides its path. */
export const BROWSER_EXECUTABLES = [
  { engine: 'Chromium', env: 'CHROMIUM_PATH', path: '/usr/bin/chromium', pkg: 'chromium' },
  { engine: 'Firefox', env: 'FIREFOX_PATH', path: '/usr/bin/firefox-esr', pkg: 'firefox-esr' },
  { engine: 'WebKit', env: 'WEBKIT_WEBDRIVER', path: '/usr/bin/WebKitWebDriver', pkg: 'webkit2gtk-driver' },
  { engine: 'WebKit', env: 'WEBKIT_MINIBROWSER', path: '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser', pkg: 'webkit2gtk-driver' },
  { engine: 'WebKit', env: 'XVFB_PATH', path: '/usr/bin/Xvfb', pkg: 'xvfb' },
];

/** Where an executable is on this machine (its override first). */
export const executablePath = (e) => process.env[e.env] || e.path;

/** The executables that are not there. */
export function missingBrowsers() {
  return BROWSER_EXECUTABLES.filter((e) => !existsSync(executablePath(e)));
}

export function installCommand(packages = BROWSER_PACKAGES) {
  return `sudo apt-get update && sudo apt-get install -y ${packages.join(' ')}`;
}

/** Runs a command with its output in `logFile` (apt's progress is long; it is shown only on failure). */
function run([cmd, ...args], logFile) {
  const fd = openSync(logFile, 'a');
  try {
    return spawnSync(cmd, args, { stdio: ['ignore', fd, fd] }).status === 0;
  } finally {
    closeSync(fd);
  }
}
const found = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

/**
 * How this process may run apt-get: as root, through password-less sudo, or not at all.
 * `BROWSERS_INSTALL=never` asks for the report and the command instead of an install.
 */
function privilege() {
  if (process.env.BROWSERS_INSTALL === 'never' || !found('apt-get')) return null;
  if (process.getuid?.() === 0) return [];
  if (found('sudo') && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0) return ['sudo', '-n'];
  return null;
}

/**
 * Makes sure every browser is there, installing the missing packages when this machine allows it.
 * @returns {{ ok: true, installed: string[] } | { ok: false, missing: object[], command: string }}
 */
export function ensureBrowsers({ log = console.log } = {}) {
  const missing = missingBrowsers();
  if (missing.length === 0) return { ok: true, installed: [] };
  const packages = [...new Set(missing.map((m) => m.pkg))];
  const command = installCommand(packages);
  const prefix = privilege();
  if (!prefix) return { ok: false, missing, command };
  log(`The browser tests drive ${[...new Set(missing.map((m) => m.engine))].join(', ')}, which this machine lacks`);
  for (const m of missing) log(`  missing ${executablePath(m)} (package ${m.pkg})`);
  const logFile = join(mkdtempSync(join(tmpdir(), 'agentmesh-apt-')), 'apt.log');
  log(`Installing Debian's ${packages.join(' ')} with apt-get (nothing downloads a browser by itself; about 2–3 minutes; output in ${logFile})…`);
  const started = Date.now();
  // `env` carries the variable through sudo as well.
  const apt = (...args) => run([...prefix, 'env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', ...args], logFile);
  const ok = apt('update', '-qq') && apt('install', '-y', '-qq', ...packages);
  const still = missingBrowsers();
  if (!ok || still.length) {
    log(readFileSync(logFile, 'utf8').split('\n').slice(-30).join('\n'));
    return { ok: false, missing: still.length ? still : missing, command };
  }
  log(`Installed ${packages.join(' ')} in ${Math.round((Date.now() - started) / 1000)} s.`);
  return { ok: true, installed: packages };
}

/** The message for a machine where the browsers cannot be installed from here. */
export function explainMissing({ missing, command }) {
  return [
    'The browser tests need these, and this process cannot install them (it is neither root nor allowed password-less sudo, apt-get is absent, or BROWSERS_INSTALL=never):',
    ...missing.map((m) => `  ${m.engine}: ${executablePath(m)} (Debian package ${m.pkg}; or set ${m.env})`),
    '',
    'Install them with:',
    `  ${command}`,
    '',
    'or run every suite but the browsers: npm test -- unit workerd worker',
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--check')) {
    const missing = missingBrowsers();
    for (const m of missing) console.log(`missing ${executablePath(m)} (${m.pkg})`);
    process.exit(missing.length ? 1 : 0);
  }
  const result = ensureBrowsers();
  if (!result.ok) console.error(explainMissing(result));
  process.exit(result.ok ? 0 : 1);
}
