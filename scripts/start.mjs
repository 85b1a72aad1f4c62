#!/usr/bin/env node
// `npm start`: the local Worker (registry + relay, on-disk state in .wrangler/state) and a first
// conversation through it; then keeps the Worker up until Ctrl-C, and stops it cleanly.
import { spawn } from 'node:child_process';
import { startLocalWorker } from './local-worker.mjs';

const port = Number(process.env.PORT ?? 8787);
const worker = await startLocalWorker({ port, persistTo: '.wrangler/state' });
console.log(`local Worker (registry + relay) at ${worker.url}`);

const example = spawn(process.execPath, ['node_modules/tsx/dist/cli.mjs', 'examples/mesh-agents.ts', worker.url], { stdio: 'inherit' });
await new Promise((resolve) => example.on('exit', resolve));

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  console.log('\nstopping the local Worker…');
  await worker.stop();
  process.exit(0);
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
if (process.env.CI || process.argv.includes('--once')) await stop();
console.log(`\nthe Worker keeps running at ${worker.url} — Ctrl-C stops it`);
