import { fileURLToPath } from 'node:url';
import { cloudflareTest } from '@cloudflare/vitest-pool-workers';
import { defineConfig } from 'vitest/config';

// Storage and session tests that run inside workerd (`npm run test:workerd`), against a Durable
// Object configured by the wrangler.toml next to this file.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  plugins: [cloudflareTest({ wrangler: { configPath: fileURLToPath(new URL('./wrangler.toml', import.meta.url)) } })],
  test: {
    include: ['**/*.test.ts'],
    testTimeout: 30_000,
  },
});
