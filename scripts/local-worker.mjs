#!/usr/bin/env node
// Starts the AgentMesh Worker locally with `wrangler dev` on 127.0.0.1, with its Durable Objects
// stored on disk (no Cloudflare account needed), and stops it again. Used by the integration
// tests, the browser tests and `npm start`; run directly to keep one running:
//
//   node scripts/local-worker.mjs [--port 8787 (or PORT)] [--persist-to .wrangler/state] [--var KEY:VALUE]…
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const WRANGLER = join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js');

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
export function freePort(host = '127.0.0.1') {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

function portIsFree(port, host = '127.0.0.1') {
  return new Promise((resolveFree) => {
    const probe = createServer();
    probe.once('error', () => resolveFree(false));
    probe.listen(port, host, () => probe.close(() => resolveFree(true)));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts `wrangler dev` and resolves once `GET /v1/health` answers.
 * @param {object} [options]
 * @param {number} [options.port] default: a free port
 * @param {string} [options.host] default 127.0.0.1
 * @param {string} [options.persistTo] state directory; default a new temporary one, removed on stop()
 * @param {Record<string, string>} [options.vars] Worker variables (see wrangler.toml and worker/config.ts)
 * @param {number} [options.timeoutMs] how long to wait for readiness (default 90 s)
 * @param {(line: string) => void} [options.log] receives wrangler's output (default: kept for errors only)
 */
export async function startLocalWorker(options = {}) {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? (await freePort(host));
  const inspectorPort = await freePort(host);
  const ownDir = options.persistTo === undefined;
  const persistTo = options.persistTo ?? mkdtempSync(join(tmpdir(), 'agentmesh-worker-'));
  const args = [
    WRANGLER, 'dev',
    '--config', join(ROOT, 'wrangler.toml'),
    '--ip', host,
    '--port', String(port),
    '--inspector-port', String(inspectorPort),
    '--persist-to', persistTo,
    '--show-interactive-dev-session=false',
    '--log-level', 'warn',
  ];
  for (const [key, value] of Object.entries(options.vars ?? {})) args.push('--var', `${key}:${value}`);
  // Our own process group, so stop() can also end workerd if wrangler does not.
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: 'false', WRANGLER_SEND_METRICS: 'false', WRANGLER_HIDE_BANNER: 'true', NO_COLOR: '1' },
  });
  const output = [];
  const onData = (chunk) => {
    for (const line of String(chunk).split('\n')) {
      if (!line.trim()) continue;
      output.push(line);
      if (output.length > 200) output.shift();
      options.log?.(line);
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  let exited = false;
  const exit = new Promise((r) => child.once('exit', () => {
    exited = true;
    r();
  }));
  const killGroup = () => {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  };
  process.once('exit', killGroup);

  const url = `http://${host}:${port}`;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    process.removeListener('exit', killGroup);
    if (!exited) {
      try {
        process.kill(child.pid, 'SIGTERM');
      } catch {
        // Already gone.
      }
      await Promise.race([exit, sleep(5000)]);
    }
    // Whatever wrangler left behind in its group (workerd) goes too.
    killGroup();
    if (ownDir) rmSync(persistTo, { recursive: true, force: true });
  };

  const deadline = Date.now() + (options.timeoutMs ?? 90_000);
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`wrangler dev exited before it was ready:\n${output.join('\n')}`);
    }
    try {
      const res = await fetch(`${url}/v1/health`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`wrangler dev was not ready within ${options.timeoutMs ?? 90_000} ms:\n${output.join('\n')}`);
    }
    await sleep(250);
  }
  return { url, port, persistTo, pid: child.pid, output, stop };
}

// Run directly: keep a worker up until interrupted.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  const options = { vars: {}, log: (line) => console.log(line) };
  for (let i = 0; i < argv.length; i++) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === '--port') options.port = Number(value);
    else if (flag === '--persist-to') options.persistTo = resolve(value);
    else if (flag === '--var') {
      const at = value.indexOf(':');
      options.vars[value.slice(0, at)] = value.slice(at + 1);
    } else {
      console.error(`unknown option ${flag}`);
      process.exit(2);
    }
    i += 1;
  }
  options.persistTo ??= join(ROOT, '.wrangler', 'state');
  // Where README.md's samples and the demo expect it, unless told otherwise.
  options.port ??= Number(process.env.PORT ?? 8787);
  if (!(await portIsFree(options.port))) {
    console.error(`port ${options.port} on 127.0.0.1 is taken (is \`npm start\` running?): pass --port N or set PORT`);
    process.exit(1);
  }
  const worker = await startLocalWorker(options);
  console.log(`AgentMesh relay listening on ${worker.url} (state in ${worker.persistTo}); Ctrl-C stops it`);
  const shutdown = () => worker.stop().then(() => process.exit(0));
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}
