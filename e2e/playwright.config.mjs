import { defineConfig } from '@playwright/test';
import { BROWSER_EXECUTABLES, executablePath } from '../scripts/browsers.mjs';

const path = (variable) => executablePath(BROWSER_EXECUTABLES.find((e) => e.env === variable));

// Debian's browsers (see ../shared/TOOLCHAIN.md): Chromium, and Firefox ESR over WebDriver BiDi.
// WebKitGTK is not drivable by Playwright; e2e/webkit.mjs runs the same scenarios there.
export default defineConfig({
  testDir: '.',
  testMatch: /.*\.spec\.mjs$/,
  outputDir: '../test-results/e2e',
  globalSetup: './global-setup.mjs',
  workers: 1,
  fullyParallel: false,
  timeout: 180_000,
  retries: 0,
  reporter: [['list'], ['json', { outputFile: process.env.E2E_PW_REPORT ?? '../test-results/e2e/playwright.json' }]],
  use: { viewport: { width: 1400, height: 1000 }, actionTimeout: 15_000 },
  projects: [
    {
      name: 'chromium',
      use: {
        browserName: 'chromium',
        launchOptions: {
          executablePath: path('CHROMIUM_PATH'),
          args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
        },
      },
    },
    {
      name: 'firefox',
      use: { browserName: 'firefox', channel: 'moz-firefox', launchOptions: { executablePath: path('FIREFOX_PATH') } },
    },
  ],
});
