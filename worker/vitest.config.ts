import { fileURLToPath } from 'node:url';
import { cloudflareTest } from '@cloudflare/vitest-pool-workers';
import { defineConfig } from 'vitest/config';

// Worker tests run inside workerd against the real wrangler.toml, with smaller limits so that
// the limit tests stay quick.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  plugins: [
    cloudflareTest({
      wrangler: { configPath: fileURLToPath(new URL('../wrangler.toml', import.meta.url)) },
      miniflare: {
        bindings: {
          RATE_LIMIT_PER_MINUTE: '120',
          PREKEY_CLAIMS_PER_MINUTE: '40',
          MAX_ONE_TIME_PRE_KEYS: '30',
          MAX_ONE_TIME_PRE_KEYS_PER_UPLOAD: '20',
          INBOX_MAX_PER_RECIPIENT: '12',
          INBOX_MAX_PER_SENDER: '8',
          MAX_FRAME_BYTES: '8192',
        },
      },
    }),
  ],
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
  },
});
