import { defineConfig } from 'vitest/config';

// Node suite. Suites that run inside workerd have their own configs (test/workerd, worker/).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    exclude: ['test/workerd/**', 'worker/**', 'e2e/**', 'node_modules/**'],
    testTimeout: 30_000,
  },
});
