/**
 * `node bench/size/run.mjs`: minified + gzipped size of the browser build of what SecureChannel
 * needs (secure-channel-entry.ts), of the same imported from the package root (root-entry.ts), and
 * of the whole SDK (src/index.ts), built with vite as `npm run build` builds dist/browser.
 * Target (issue 7): SecureChannel ≤ 30 KB.
 */
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

const root = fileURLToPath(new URL('../..', import.meta.url));
const TARGET_KB = 30;

async function size(entry) {
  const out = await build({
    configFile: false,
    root,
    logLevel: 'silent',
    build: { write: false, minify: true, target: 'es2022', sourcemap: false, lib: { entry, formats: ['es'], fileName: () => 'x.js' } },
  });
  const chunks = (Array.isArray(out) ? out : [out]).flatMap((o) => o.output).filter((c) => c.type === 'chunk');
  const code = chunks.map((c) => c.code).join('\n');
  if (/\bnode:/.test(code)) throw new Error(`${entry}: the browser build imports a node: module`);
  return { min: Buffer.byteLength(code), gz: gzipSync(code, { level: 9 }).length };
}

const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
const channel = await size('bench/size/secure-channel-entry.ts');
const fromRoot = await size('bench/size/root-entry.ts');
const whole = await size('src/index.ts');
console.log(`SecureChannel and what it needs: ${kb(channel.min)} minified, ${kb(channel.gz)} gzipped  (target ≤ ${TARGET_KB} KB: ${channel.gz <= TARGET_KB * 1024 ? 'met' : 'MISSED'})`);
console.log(`the same, from the package root: ${kb(fromRoot.min)} minified, ${kb(fromRoot.gz)} gzipped`);
console.log(`whole SDK (src/index.ts):        ${kb(whole.min)} minified, ${kb(whole.gz)} gzipped`);
