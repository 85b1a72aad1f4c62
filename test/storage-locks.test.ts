import { afterEach, describe, expect, it, vi } from 'vitest';
import { defaultLocks, MutexLocks, WebLocks } from '../src/storage/index.js';

const tick = () => new Promise((r) => setTimeout(r, 1));

describe('MutexLocks', () => {
  it('runs tasks of one name one at a time, in call order, and other names alongside', async () => {
    const locks = new MutexLocks();
    const log: string[] = [];
    const task = (name: string, id: string) =>
      locks.run(name, async () => {
        log.push(`${id}+`);
        await tick();
        log.push(`${id}-`);
        return id;
      });
    const results = await Promise.all([task('a', 'a1'), task('a', 'a2'), task('b', 'b1'), task('a', 'a3')]);
    expect(results).toEqual(['a1', 'a2', 'b1', 'a3']);
    const a = log.filter((e) => e.startsWith('a'));
    expect(a).toEqual(['a1+', 'a1-', 'a2+', 'a2-', 'a3+', 'a3-']);
    expect(log.indexOf('b1+')).toBeLessThan(log.indexOf('a1-'));
    await tick();
    expect(locks.busy).toEqual([]);
  });

  it('a failing task releases the lock for the next one', async () => {
    const locks = new MutexLocks();
    const failing = locks.run('x', async () => {
      throw new Error('boom');
    });
    const next = locks.run('x', async () => 'ran');
    await expect(failing).rejects.toThrow('boom');
    await expect(next).resolves.toBe('ran');
  });
});

describe('Web Locks', () => {
  afterEach(() => vi.unstubAllGlobals());

  it('asks the LockManager for an exclusive lock around the task', async () => {
    const requests: [string, unknown][] = [];
    const manager = {
      request: async <T>(name: string, options: unknown, callback: () => Promise<T>) => {
        requests.push([name, options]);
        return callback();
      },
    };
    const locks = new WebLocks(manager);
    expect(locks.kind).toBe('web-locks');
    await expect(locks.run('agentmesh:db:session:did:x', async () => 42)).resolves.toBe(42);
    expect(requests).toEqual([['agentmesh:db:session:did:x', { mode: 'exclusive' }]]);
  });

  it('uses navigator.locks by default where the runtime has it', async () => {
    const seen: string[] = [];
    const manager = {
      request: async <T>(name: string, _options: unknown, callback: () => Promise<T>) => {
        seen.push(name);
        return callback();
      },
    };
    const locks = defaultLocks({ locks: manager });
    expect(locks).toBeInstanceOf(WebLocks);
    await locks.run('n', async () => undefined);
    expect(seen).toEqual(['n']);
  });

  it('falls back to one shared in-process mutex where there are no Web Locks', () => {
    const first = defaultLocks({ userAgent: 'Cloudflare-Workers' });
    expect(first.kind).toBe('mutex');
    expect(defaultLocks({})).toBe(first);
    expect(() => new WebLocks({} as never)).toThrow(TypeError);
  });
});
