import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import { browserCases, readmeBlocks } from '../../test/readme-blocks.js';

// The in-browser run of the SDK's storage and session tests (e2e scenario 7): the test files are
// bundled as they are, with `vitest` mapped to a small shim and `fake-indexeddb/auto` to nothing
// (the browser has the real IndexedDB). Output: build/demo-tests, served at /_tests/ by demo/server.mjs.
const here = fileURLToPath(new URL('.', import.meta.url));
const readme = fileURLToPath(new URL('../../README.md', import.meta.url));
const README_CASES = '\0readme-browser-cases.ts';

export default defineConfig({
  root: here,
  plugins: [
    {
      // README.md's ```ts browser blocks, as cases that readme.test.ts runs against the local Worker.
      name: 'readme-browser-blocks',
      resolveId: (source) => (source === 'virtual:readme-browser-cases' ? README_CASES : null),
      load(id) {
        if (id !== README_CASES) return null;
        this.addWatchFile(readme);
        return browserCases(readmeBlocks(readFileSync(readme, 'utf8')));
      },
    },
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
      { find: /^agentmesh-e2e$/, replacement: fileURLToPath(new URL('../../src/index.ts', import.meta.url)) },
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
