import { describe, expect, it } from 'vitest';
import { AgentIdentity } from '../src/identity/agent-identity.js';
import { PreKeyUpkeep } from '../src/prekeys/prekey-upkeep.js';
import type { PreKeyUpload } from '../src/net/prekey-upload.js';
import type { PreKeyStatus, RegistryClient } from '../src/net/registry-client.js';
import { X3DHKeyManager } from '../src/x3dh/key-manager.js';
import { SessionManager } from '../src/session/index.js';
import { MemoryAgentStore } from '../src/storage/index.js';

const DAY = 24 * 60 * 60 * 1000;

/** The two registry calls upkeep makes, against an in-memory pool. */
class FakeRegistry {
  spk: { keyId: number; createdAt: string } | null = null;
  pool = new Map<number, Uint8Array>();
  uploads: PreKeyUpload[] = [];
  constructor(private readonly now: () => number) {}
  async preKeyStatus(): Promise<PreKeyStatus> {
    return { oneTimePreKeys: this.pool.size, signedPreKey: this.spk, retainedSignedPreKeys: [] };
  }
  async uploadPreKeys(upload: PreKeyUpload) {
    this.uploads.push(upload);
    if (this.spk?.keyId !== upload.signedPreKey.keyId) this.spk = { keyId: upload.signedPreKey.keyId, createdAt: new Date(this.now()).toISOString() };
    for (const k of upload.oneTimePreKeys) this.pool.set(k.keyId, k.publicKey);
    return { signedPreKeyId: upload.signedPreKey.keyId, oneTimePreKeys: this.pool.size };
  }
  claim(n: number) {
    for (const id of [...this.pool.keys()].slice(0, n)) this.pool.delete(id);
  }
}

async function setup() {
  let now = Date.parse('2026-01-01T00:00:00Z');
  const clock = () => now;
  const identity = await AgentIdentity.generate();
  const keyManager = await X3DHKeyManager.fromEd25519Keys(identity.secretKey, identity.publicKey, { now: clock });
  const registry = new FakeRegistry(clock);
  const persisted: number[] = [];
  const upkeep = new PreKeyUpkeep({
    keyManager,
    registry: registry as unknown as RegistryClient,
    now: clock,
    persist: async () => void persisted.push(keyManager.oneTimePreKeyCount),
  });
  return { upkeep, registry, keyManager, persisted, advance: (ms: number) => (now += ms) };
}

describe('PreKeyUpkeep', () => {
  it('publishes a signed pre-key and 10 one-time pre-keys at first, persisting before uploading', async () => {
    const { upkeep, registry, persisted } = await setup();
    expect(await upkeep.run()).toEqual({ rotatedSignedPreKey: true, uploadedOneTimePreKeys: 10, oneTimePreKeys: 10 });
    expect(persisted).toEqual([10]);
    expect(registry.uploads).toHaveLength(1);
    expect(registry.spk?.keyId).toBe(0);
  });

  it('does nothing while 5 or more remain, and tops up to 10 below that, uploading only new keys', async () => {
    const { upkeep, registry } = await setup();
    await upkeep.run();
    registry.claim(5);
    expect(await upkeep.run()).toEqual({ rotatedSignedPreKey: false, uploadedOneTimePreKeys: 0, oneTimePreKeys: 5 });
    registry.claim(1);
    expect(await upkeep.run()).toEqual({ rotatedSignedPreKey: false, uploadedOneTimePreKeys: 6, oneTimePreKeys: 10 });
    const last = registry.uploads.at(-1)!;
    expect(last.oneTimePreKeys.map((k) => k.keyId)).toEqual([10, 11, 12, 13, 14, 15]);
  });

  it('rotates the signed pre-key every 7 days (injected clock)', async () => {
    const { upkeep, registry, keyManager, advance } = await setup();
    await upkeep.run();
    advance(7 * DAY - 1);
    expect((await upkeep.run()).rotatedSignedPreKey).toBe(false);
    advance(1);
    expect((await upkeep.run()).rotatedSignedPreKey).toBe(true);
    expect(registry.spk?.keyId).toBe(1);
    expect(keyManager.retainedSignedPreKeys.map((k) => k.keyId)).toEqual([0]);
  });

  it('re-uploads the current signed pre-key when the registry lost it', async () => {
    const { upkeep, registry } = await setup();
    await upkeep.run();
    registry.spk = null;
    const result = await upkeep.run();
    expect(result.rotatedSignedPreKey).toBe(false);
    expect((registry.spk as { keyId: number } | null)?.keyId).toBe(0);
    expect(registry.uploads.at(-1)!.oneTimePreKeys).toEqual([]);
  });

  it('shares one run between concurrent callers', async () => {
    const { upkeep, registry } = await setup();
    await Promise.all([upkeep.run(), upkeep.run(), upkeep.run()]);
    expect(registry.uploads).toHaveLength(1);
  });
});

describe('PreKeyManager.upkeep (a MeshAgent\'s stored pre-keys)', () => {
  it('follows the same policy: publishes at first, tops up below 5 to 10, rotates after 7 days', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const clock = () => now;
    const identity = await AgentIdentity.generate();
    const sessions = await SessionManager.open({ store: new MemoryAgentStore(), identity, now: clock });
    const registry = new FakeRegistry(clock);
    const run = () => sessions.preKeys.upkeep(registry as unknown as RegistryClient);
    expect(await run()).toEqual({ rotatedSignedPreKey: true, uploadedOneTimePreKeys: 10, oneTimePreKeys: 10 });
    registry.claim(5);
    expect(await run()).toEqual({ rotatedSignedPreKey: false, uploadedOneTimePreKeys: 0, oneTimePreKeys: 5 });
    registry.claim(1);
    expect(await run()).toEqual({ rotatedSignedPreKey: false, uploadedOneTimePreKeys: 6, oneTimePreKeys: 10 });
    expect(registry.uploads.at(-1)!.oneTimePreKeys.map((k) => k.keyId)).toEqual([10, 11, 12, 13, 14, 15]);
    now += 7 * DAY;
    expect((await run()).rotatedSignedPreKey).toBe(true);
    expect(registry.spk?.keyId).toBe(1);
    expect(await sessions.preKeys.oneTimePreKeyIds()).toHaveLength(16);
  });
});
