import { test, expect } from '@playwright/test';
import { playwrightDriver } from './drivers.mjs';
import { runScenario } from './harness.mjs';
import { scenarios } from './scenarios.mjs';

for (const scenario of scenarios) {
  test(`${scenario.id}. ${scenario.title}`, async ({ browser }, testInfo) => {
    const env = { demoUrl: process.env.E2E_DEMO_URL, persistTo: process.env.E2E_PERSIST_TO, engine: testInfo.project.name };
    const driver = playwrightDriver(browser, env);
    try {
      const result = await runScenario(scenario, driver, env);
      if (result) testInfo.annotations.push({ type: 'result', description: JSON.stringify(result) });
      expect(driver.errors, 'uncaught errors in the page').toEqual([]);
    } finally {
      await driver.close();
    }
  });
}
