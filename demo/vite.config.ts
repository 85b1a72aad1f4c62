import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// The demo page: `vite build --config demo/vite.config.ts` → build/demo (served by demo/server.mjs
// under `npm start`). The root vite.config.ts keeps building the SDK's browser bundle.
const here = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root: here,
  base: './',
  publicDir: false,
  build: {
    outDir: fileURLToPath(new URL('../build/demo', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    rollupOptions: { input: { index: `${here}index.html` } },
  },
});
