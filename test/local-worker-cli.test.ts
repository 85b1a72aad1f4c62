// `npm run worker` listens where README.md's samples expect it (127.0.0.1:8787, or PORT), and
// says so plainly when that port is taken instead of starting somewhere else.
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(__dirname, '..');
const cli = join(root, 'scripts/local-worker.mjs');

/** Holds `port` on 127.0.0.1 if it is free; either way it is taken while `fn` runs. */
async function whileTaken<T>(port: number, fn: () => T): Promise<T> {
  const server: Server | null = await new Promise((done) => {
    const s = createServer();
    s.once('error', () => done(null));
    s.listen(port, '127.0.0.1', () => done(s));
  });
  try {
    return fn();
  } finally {
    await new Promise<void>((done) => (server ? server.close(() => done()) : done()));
  }
}

const run = (env: NodeJS.ProcessEnv) => spawnSync(process.execPath, [cli], { cwd: root, env, encoding: 'utf8', timeout: 30_000 });

describe('npm run worker', () => {
  it('defaults to 127.0.0.1:8787 and refuses plainly when it is taken', async () => {
    const { PORT: _, ...env } = process.env;
    const out = await whileTaken(8787, () => run(env));
    expect(out.status).toBe(1);
    expect(out.stderr).toContain('port 8787 on 127.0.0.1 is taken');
  });

  it('takes PORT', async () => {
    const out = await whileTaken(18787, () => run({ ...process.env, PORT: '18787' }));
    expect(out.status).toBe(1);
    expect(out.stderr).toContain('port 18787 on 127.0.0.1 is taken');
  });
});
