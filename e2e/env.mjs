// Shared by the Playwright suite and the WebKit runner: builds the demo (and the in-browser test
// page) once, starts a local Worker on a free port and the static server.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startLocalWorker } from '../scripts/local-worker.mjs';
import { serveDemo } from '../demo/server.mjs';

export const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
export const DEMO_BUILD = join(ROOT, 'build', 'demo');
// Screenshots (test-results/ is ignored by git).
export const ARTIFACTS = join(ROOT, 'test-results', 'e2e-artifacts');

/** `vite build` of the demo and of the browser test page (skipped when E2E_SKIP_BUILD=1). */
export function buildPages() {
  if (process.env.E2E_SKIP_BUILD === '1' && existsSync(join(DEMO_BUILD, 'index.html'))) return;
  for (const config of ['demo/vite.config.ts', 'e2e/browser-tests/vite.config.ts']) {
    const run = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', config, '--logLevel', 'warn'], { cwd: ROOT, stdio: 'inherit' });
    if (run.status !== 0) throw new Error(`vite build --config ${config} failed`);
  }
}

/** A local Worker (own state directory, edge-agent restarts allowed) and the demo server in front of it. */
export async function startStack() {
  const worker = await startLocalWorker({ vars: { EDGE_AGENT_RESTART: 'true', RATE_LIMIT_PER_MINUTE: '6000' } });
  const server = await serveDemo({ root: DEMO_BUILD, workerUrl: worker.url, mounts: { '/_tests/': join(ROOT, 'build', 'demo-tests') } });
  return {
    worker,
    server,
    demoUrl: server.url,
    async stop() {
      await server.close();
      await worker.stop();
    },
  };
}

/** Every file under `dir`, read as bytes and as text, to search the relay's on-disk state. */
export function searchState(dir, needles) {
  const hits = [];
  const walk = (d) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else {
        const bytes = readFileSync(p);
        for (const n of needles) if (bytes.includes(Buffer.from(n, 'utf8'))) hits.push({ file: p, needle: n });
      }
    }
  };
  if (existsSync(dir)) walk(dir);
  return hits;
}
