// Options are checked where they enter, with the bounds the parsers apply when they read values
// back, and a bad one changes nothing: no identity stored, no request sent.
import { describe, expect, it } from 'vitest';
import { MeshAgent } from '../src/agent/mesh-agent.js';
import { AgentIdentity } from '../src/identity/agent-identity.js';
import { RelayClient } from '../src/net/relay-client.js';
import { DoubleRatchet } from '../src/ratchet/double-ratchet.js';
import { MAX_SKIP_LIMIT, MAX_SKIPPED_KEYS_LIMIT } from '../src/ratchet/state.js';
import { SessionManager } from '../src/session/session-manager.js';
import { MemoryAgentStore } from '../src/storage/memory.js';
import { TrustConfigError } from '../src/trust/errors.js';

const noFetch = async (): Promise<Response> => {
  throw new Error('no request may be sent');
};

describe('options are checked where they enter', () => {
  it.each([
    [{ maxSkip: -1 }, /maxSkip must be an integer from 0 to 100000/],
    [{ maxSkip: MAX_SKIP_LIMIT + 1 }, /maxSkip/],
    [{ maxSkippedKeys: MAX_SKIPPED_KEYS_LIMIT + 1 }, /maxSkippedKeys/],
    [{ maxSkip: 1.5 }, /maxSkip/],
    [{ signedPreKeyRetentionMs: Number.NaN }, /signedPreKeyRetentionMs must be a duration/],
  ])('SessionManager.open refuses %o before it stores anything', async (bad, message) => {
    const store = new MemoryAgentStore();
    await expect(SessionManager.open({ store, identity: await AgentIdentity.generate(), ...bad })).rejects.toThrow(RangeError);
    await expect(SessionManager.open({ store, identity: await AgentIdentity.generate(), ...bad })).rejects.toThrow(message);
    expect(await store.getIdentity()).toBeNull();
  });

  it('the ratchet takes the bounds RatchetState.fromDict reads back', async () => {
    const secret = new Uint8Array(32).fill(1);
    const dhKeyPair = { privateKey: new Uint8Array(32).fill(2), publicKey: new Uint8Array(32).fill(9) };
    expect(() => DoubleRatchet.initReceiver({ sharedSecret: secret, dhKeyPair }, { maxSkip: MAX_SKIP_LIMIT + 1 })).toThrow(RangeError);
    await expect(DoubleRatchet.initSender({ sharedSecret: secret, remoteDhPublic: new Uint8Array(32).fill(9) }, { maxSkippedKeys: -1 })).rejects.toThrow(RangeError);
  });

  it.each([
    [{ handshakeTimeoutMs: 0 }, RangeError],
    [{ handshakeTimeoutMs: Number.POSITIVE_INFINITY }, RangeError],
    [{ upkeepIntervalMs: -5 }, RangeError],
    [{ minTrustScore: 1001 }, TrustConfigError],
    [{ minTrustScore: 0.5 }, TrustConfigError],
  ])('MeshAgent.create refuses %o before it stores or sends anything', async (bad, type) => {
    const store = new MemoryAgentStore();
    await expect(MeshAgent.create({ registryUrl: 'http://127.0.0.1:1', store, fetch: noFetch, ...bad })).rejects.toThrow(type);
    expect(await store.getIdentity()).toBeNull();
  });

  it.each([
    [{ connectTimeoutMs: -1 }, /connectTimeoutMs/],
    [{ sendTimeoutMs: Number.NaN }, /sendTimeoutMs/],
    [{ maxFrameChars: 0 }, /maxFrameChars/],
  ])('RelayClient refuses %o', async (bad, message) => {
    const identity = await AgentIdentity.generate();
    expect(() => new RelayClient({ url: 'http://127.0.0.1:1', identity, ...bad })).toThrow(message);
  });

  it('RelayClient takes 0 for connectTimeoutMs and sendTimeoutMs: no time limit, as documented', async () => {
    const identity = await AgentIdentity.generate();
    expect(() => new RelayClient({ url: 'http://127.0.0.1:1', identity, connectTimeoutMs: 0, sendTimeoutMs: 0 })).not.toThrow();
  });
});
