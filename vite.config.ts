import { defineConfig } from 'vite';

// `vite build` makes the browser bundle of the SDK (ESM, minified) in dist/browser.
// The demo page (demo/) gets its own config when it exists.
export default defineConfig({
  build: {
    outDir: 'dist/browser',
    emptyOutDir: true,
    sourcemap: true,
    lib: {
      entry: 'src/index.ts',
      formats: ['es'],
      fileName: () => 'agentmesh-e2e.js',
    },
    target: 'es2022',
  },
});
