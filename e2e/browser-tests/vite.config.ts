import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// The in-browser run of the SDK's storage and session tests (e2e scenario 7): the test files are
// bundled as they are, with `vitest` mapped to a small shim and `fake-indexeddb/auto` to nothing
// (the browser has the real IndexedDB). Output: build/demo-tests, served at /_tests/ by demo/server.mjs.
const here = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root: here,
  plugins: [
    {
      name: 'test-files-have-side-effects',
      enforce: 'pre',
      async resolveId(source, importer, options) {
        if (!/\.test\.ts$/.test(source)) return null;
        const resolved = await this.resolve(source, importer, { ...options, skipSelf: true });
        return resolved ? { ...resolved, moduleSideEffects: true } : null;
      },
    },
  ],
  base: './',
  publicDir: false,
  resolve: {
    alias: [
      { find: /^vitest$/, replacement: `${here}vitest-shim.ts` },
      { find: /^fake-indexeddb\/auto$/, replacement: `${here}empty.ts` },
    ],
  },
  define: { 'process.env.NODE_ENV': '"test"' },
  build: {
    outDir: fileURLToPath(new URL('../../build/demo-tests', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    minify: false,
    sourcemap: true,
    // package.json says `sideEffects: false` (true of the SDK); test files are nothing but side effects.
    rolldownOptions: { treeshake: { moduleSideEffects: true } },
  },
});
