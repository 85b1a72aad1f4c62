// The browser suite's harness (e2e/harness.mjs): a scenario that hangs is stopped at its time box
// and leaves what is needed to find out why.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error: plain JavaScript module of the e2e suite
import { eventLog, runScenario } from '../e2e/harness.mjs';

const dir = mkdtempSync(join(tmpdir(), 'agentmesh-harness-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fakeDriver() {
  const log = eventLog();
  const console = eventLog();
  return {
    log,
    console,
    shots: [] as string[],
    async shotAll(prefix: string) {
      this.shots.push(prefix);
      return [`webkit-${prefix}-page1.png`];
    },
    async extraLogs() {
      return { 'webdriver-one.log': 'driver output\n' };
    },
  };
}

describe('e2e harness', () => {
  it('stops a scenario that never finishes and leaves the error, the command log, the console, the driver output and screenshots', async () => {
    const driver = fakeDriver();
    const scenario = {
      id: 4,
      run: async () => {
        driver.log.add('→ eval waiting for hal');
        driver.console.add('[hal] log: connecting');
        await new Promise(() => undefined);
      },
    };
    const error = await runScenario(scenario, driver, { engine: 'webkit' }, { timeoutMs: 100, artifacts: dir }).then(
      () => null,
      (e: Error) => e,
    );
    expect(error?.message).toMatch(/scenario 4 timed out after 0 s/);
    expect(error?.message).toContain('webkit-FAILED-4-driver.log');
    expect(driver.shots).toEqual(['FAILED-4']);
    expect(readdirSync(dir).sort()).toEqual(['webkit-FAILED-4-console.log', 'webkit-FAILED-4-driver.log', 'webkit-FAILED-4-error.txt', 'webkit-FAILED-4-webdriver-one.log']);
    expect(readFileSync(join(dir, 'webkit-FAILED-4-driver.log'), 'utf8')).toContain('eval waiting for hal');
    expect(readFileSync(join(dir, 'webkit-FAILED-4-console.log'), 'utf8')).toContain('[hal] log: connecting');
  });

  it('passes a finished scenario through and writes nothing', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'agentmesh-harness-ok-'));
    try {
      const result = await runScenario({ id: 1, run: async () => ({ ok: 1 }) }, fakeDriver(), { engine: 'chromium' }, { timeoutMs: 1000, artifacts: empty });
      expect(result).toEqual({ ok: 1 });
      expect(readdirSync(empty)).toEqual([]);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
