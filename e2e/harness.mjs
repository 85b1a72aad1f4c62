// Runs one scenario with a time box and, when it fails or times out, leaves what is needed to
// find out why: a screenshot of every open page, each page's console, and the driver's own log
// (the commands sent, with times, and for WebKit the WebKitWebDriver/MiniBrowser output). A hung
// browser command must not hang the run, so every step of the harness is itself time-boxed.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ARTIFACTS } from './env.mjs';

/** A scenario's whole budget; Playwright's own test timeout sits above it (playwright.config.mjs). */
export const SCENARIO_TIMEOUT_MS = Number(process.env.E2E_SCENARIO_TIMEOUT_MS ?? 150_000);
/** What collecting artifacts may take once a scenario has failed. */
const ARTIFACT_TIMEOUT_MS = 30_000;

export function timeBox(promise, ms, what) {
  let timer;
  const expiry = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${Math.round(ms / 1000)} s`)), ms);
  });
  return Promise.race([promise, expiry]).finally(() => clearTimeout(timer));
}

/** A bounded, timestamped log of what a driver did and what the pages said. */
export function eventLog(limit = 4000) {
  const lines = [];
  const t0 = Date.now();
  return {
    lines,
    add(line) {
      lines.push(`${((Date.now() - t0) / 1000).toFixed(3).padStart(8)}s ${line}`);
      if (lines.length > limit) lines.splice(0, lines.length - limit);
    },
  };
}

/**
 * Runs `scenario` on `driver`; on failure writes `<engine>-FAILED-<id>-*` files into
 * test-results/e2e-artifacts and rethrows (with the artifact names appended).
 */
export async function runScenario(scenario, driver, env, { timeoutMs = SCENARIO_TIMEOUT_MS, artifacts = ARTIFACTS } = {}) {
  try {
    return await timeBox(Promise.resolve().then(() => scenario.run(driver, env)), timeoutMs, `scenario ${scenario.id}`);
  } catch (error) {
    const written = await timeBox(writeArtifacts(driver, artifacts, env.engine, `FAILED-${scenario.id}`, error), ARTIFACT_TIMEOUT_MS, 'collecting artifacts').catch(
      (e) => [`(artifacts incomplete: ${e.message})`],
    );
    const note = `\nartifacts in ${artifacts}: ${written.join(', ')}`;
    if (error instanceof Error) {
      error.message += note;
      throw error;
    }
    throw new Error(`${String(error)}${note}`);
  }
}

async function writeArtifacts(driver, dir, engine, name, error) {
  const prefix = `${engine}-${name}`;
  mkdirSync(dir, { recursive: true });
  const written = [];
  const put = (name, text) => {
    writeFileSync(join(dir, name), text);
    written.push(name);
  };
  put(`${prefix}-error.txt`, String(error?.stack ?? error));
  // Logs first: a hung page may not answer a screenshot request.
  put(`${prefix}-driver.log`, driver.log.lines.join('\n') + '\n');
  put(`${prefix}-console.log`, driver.console.lines.join('\n') + '\n');
  for (const [name, text] of Object.entries((await driver.extraLogs?.()) ?? {})) put(`${prefix}-${name}`, text);
  written.push(...(await driver.shotAll(name)));
  return written;
}
