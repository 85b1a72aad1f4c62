/**
 * Keeps `npm run bench` from rotting: every workload runs a couple of iterations under every crypto
 * preset (node:crypto included, registered and made the default as bench/run.ts does), every floor
 * workload on every preset, and every peer adapter; each checks what it decrypts. The runner
 * produces its table with the targets. Nothing here measures or asserts speed.
 */
import '../bench/node-default.js';
import { describe, expect, it } from 'vitest';
import { createCryptoProvider, defaultCryptoPreset } from '../src/crypto/index.js';
import { PEER_IDS, peerContenders } from '../bench/peers/index.js';
import { floorContenders, formatResults, ourContenders, PRESETS, resultsJson, runBench, type Contender } from '../bench/runner.js';
import { formatRate, formatTable, median, summarize } from '../bench/stats.js';
import { evaluateTargets, targetSummary } from '../bench/targets.js';
import { loadChannel, openChannelPair, saveChannel, WORKLOADS } from '../bench/workloads.js';

describe.each(PRESETS)('bench workloads (%s)', (preset) => {
  for (const workload of WORKLOADS) {
    it(`${workload.id} completes`, async () => {
      const result = await workload.run(createCryptoProvider(preset), 2);
      expect(result.operations).toBe(2);
      expect(Number.isFinite(result.seconds) && result.seconds >= 0).toBe(true);
    });
  }
});

describe.each(PRESETS)('floor workloads (%s)', (preset) => {
  it('every floor workload completes', async () => {
    const [floor] = await floorContenders([preset]);
    for (const [id, run] of Object.entries(floor!.workloads)) {
      const result = await run!(2);
      expect(result.operations, id).toBe(2);
    }
  });
});

describe('peer adapters', () => {
  it('every peer loads (they are devDependencies of the bench)', async () => {
    const skipped: string[] = [];
    const peers = await peerContenders(PEER_IDS, (id, reason) => skipped.push(`${id}: ${reason}`));
    expect(skipped).toEqual([]);
    expect(peers.map((p) => p.id)).toEqual([...PEER_IDS]);
  });

  it.each(PEER_IDS)('%s: every workload completes', async (id) => {
    const [peer] = await peerContenders([id]);
    for (const w of WORKLOADS) {
      const run = peer!.workloads[w.id];
      expect(run, `${id} lacks ${w.id}`).toBeDefined();
      expect((await run!(2)).operations, `${id} ${w.id}`).toBe(2);
    }
  }, 60_000);
});

describe('bench workloads', () => {
  it('refuse a non-positive iteration count', async () => {
    for (const w of WORKLOADS) await expect(w.run(createCryptoProvider('fast'), 0)).rejects.toThrow(RangeError);
  });

  it('open a channel pair that talks both ways', async () => {
    const [a, b] = await openChannelPair(createCryptoProvider('fast'));
    expect(Array.from(await b.receive(await a.send(Uint8Array.of(1, 2))))).toEqual([1, 2]);
    expect(Array.from(await a.receive(await b.send(Uint8Array.of(3))))).toEqual([3]);
  });

  it('persist a channel as JSON text and restore it', async () => {
    const crypto = createCryptoProvider('node');
    const [a, b] = await openChannelPair(crypto);
    const restored = loadChannel(saveChannel(b), crypto);
    expect(Array.from(await restored.receive(await a.send(Uint8Array.of(9))))).toEqual([9]);
  });
});

describe('bench runner', () => {
  it('runs interleaved rounds for every contender and prints one row per workload and contender', async () => {
    const contenders = await ourContenders();
    expect(contenders.map((c) => c.id)).toEqual(PRESETS);
    expect(PRESETS).toContain('node');
    expect(contenders.filter((c) => c.label.includes('(default)'))).toHaveLength(1);
    const result = await runBench({ contenders, rounds: 2, iterations: 1 });
    expect(result.measurements).toHaveLength(WORKLOADS.length * PRESETS.length);
    for (const m of result.measurements) expect(m.samples).toHaveLength(2);
    const table = formatResults(result);
    for (const w of WORKLOADS) expect(table).toContain(w.title);
    for (const c of contenders) expect(table).toContain(c.label);
    expect(table).toMatch(/1\.00×/);
    expect(JSON.parse(JSON.stringify(resultsJson(result)))).toMatchObject({ rounds: 2, reference: defaultCryptoPreset() });
  });

  it('prints the targets beside the figures, met or missed', async () => {
    const [node] = await ourContenders(['node']);
    const floors = await floorContenders(['node']);
    const peers = await peerContenders(['libsignal-client', 'ms-sdk']);
    const result = await runBench({ contenders: [node!, ...floors, ...peers], rounds: 1, iterations: 1, referenceId: 'node' });
    const checks = evaluateTargets(result);
    // Six peer targets, a floor target for each floored workload, one per persisted variant.
    expect(checks.filter((c) => c.target.includes('libsignal-client') || c.target.includes('MS SDK'))).toHaveLength(6);
    expect(checks.filter((c) => c.target.includes('floor'))).toHaveLength(4);
    expect(checks.filter((c) => c.target.includes('in-memory'))).toHaveLength(2);
    for (const c of checks) expect(Number.isFinite(c.figure)).toBe(true);
    const table = formatResults(result, checks);
    expect(table).toMatch(/≥3\.00× libsignal-client: [0-9.]+× (met|MISSED)/);
    expect(targetSummary(checks)).toMatch(/^targets: \d+ met, \d+ missed$/);
  }, 60_000);

  it('shows a workload a contender lacks as missing, not as an error', async () => {
    const [fast] = await ourContenders(['fast']);
    const partial: Contender = { id: 'partial', label: 'peer without setup', workloads: { 'one-way-1k': fast!.workloads['one-way-1k'] } };
    const result = await runBench({ contenders: [fast!, partial], rounds: 1, iterations: 1, referenceId: 'fast' });
    expect(result.measurements).toHaveLength(WORKLOADS.length + 1);
    expect(formatResults(result)).toContain('peer without setup');
  });
});

describe('bench stats', () => {
  it('median, min, max and spread', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow(RangeError);
    expect(summarize([10, 12, 11, 30])).toMatchObject({ n: 4, median: 11.5, min: 10, max: 30 });
  });

  it('formats rates and tables', () => {
    expect(formatRate(23445.2)).toBe('23,445');
    expect(formatRate(31.24)).toBe('31.2');
    expect(formatRate(0.844)).toBe('0.84');
    const t = formatTable(['a', 'bb'], [['xxx', '1'], ['y', '22']], ['left', 'right']).split('\n');
    expect(t).toEqual(['a    bb', '---  --', 'xxx   1', 'y    22']);
  });
});
