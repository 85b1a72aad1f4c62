#!/usr/bin/env node
// `npm start`: builds the demo page, starts the local Worker (registry + relay + edge agent, state
// on disk in .wrangler/state) and a static server for the demo, prints the URL, and stops both
// cleanly on Ctrl-C. `npm start -- --once` (or CI=1) shows it works and exits by itself: a Node
// conversation through the Worker, the demo page served, the edge agent answering.
//
//   PORT (Worker, default 8787, a free one if taken), DEMO_PORT (default 5173), --no-build
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startLocalWorker } from './local-worker.mjs';
import { serveDemo } from '../demo/server.mjs';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const once = Boolean(process.env.CI) || process.argv.includes('--once');
const DEMO_BUILD = join(ROOT, 'build', 'demo');

if (!process.argv.includes('--no-build') || !existsSync(join(DEMO_BUILD, 'index.html'))) {
  console.log('building the demo page (vite)…');
  const build = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', 'demo/vite.config.ts', '--logLevel', 'warn'], { cwd: ROOT, stdio: 'inherit' });
  if (build.status !== 0) process.exit(build.status ?? 1);
}

async function portOr(preferred) {
  const { createServer } = await import('node:net');
  return new Promise((r) => {
    const probe = createServer();
    probe.once('error', () => freePort().then(r));
    probe.listen(preferred, '127.0.0.1', () => probe.close(() => r(preferred)));
  });
}

const workerPort = await portOr(Number(process.env.PORT ?? 8787));
const worker = await startLocalWorker({
  port: workerPort,
  persistTo: join(ROOT, '.wrangler', 'state'),
  // A local run may restart the edge agent's object from the page.
  vars: { EDGE_AGENT_RESTART: 'true' },
});
let server;
let stopping = false;
async function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  console.log('\nstopping the demo server and the local Worker…');
  await server?.close().catch(() => {});
  await worker.stop();
  console.log('stopped.');
  process.exit(code);
}
process.on('SIGINT', () => (stopping ? process.exit(130) : void stop(0)));
process.on('SIGTERM', () => void stop(0));

try {
  server = await serveDemo({ root: DEMO_BUILD, port: await portOr(Number(process.env.DEMO_PORT ?? 5173)), workerUrl: worker.url });
} catch (error) {
  console.error(error);
  await stop(1);
}
console.log(`local Worker (registry + relay + edge agent) at ${worker.url} — state in .wrangler/state`);
console.log(`\n  demo: ${server.url}\n`);

if (once) {
  let ok = true;
  const page = await fetch(server.url).then((r) => r.text(), () => '');
  ok &&= page.includes('AgentMesh');
  console.log(`demo page served: ${page.includes('AgentMesh') ? 'yes' : 'NO'}`);
  const edge = await fetch(`${worker.url}/v1/edge-agent`).then((r) => (r.ok ? r.json() : null), () => null);
  ok &&= Boolean(edge?.did);
  console.log(`edge agent: ${edge?.did ?? 'NOT RUNNING'}`);
  const example = spawn(process.execPath, [join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(ROOT, 'examples', 'mesh-agents.ts'), worker.url], { cwd: ROOT, stdio: 'inherit' });
  const code = await new Promise((r) => example.on('exit', r));
  ok &&= code === 0;
  await stop(ok ? 0 : 1);
} else {
  console.log('open the demo in a browser; Ctrl-C stops the server and the Worker');
}
