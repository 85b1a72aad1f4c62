import { afterEach, describe, expect, it, vi } from 'vitest';
import { PreKeyNotFoundError } from '../src/errors.js';
import { encodeMetadata } from '../src/session/session-record.js';
import { MemoryAgentStore } from '../src/storage/index.js';
import { X3DHKeyManager } from '../src/x3dh/key-manager.js';
import { connect, newAgent, text, utf8 } from './session-fixtures.js';

afterEach(() => vi.restoreAllMocks());

describe('stored pre-keys (src/prekeys)', () => {
  it('sessions never go through the key manager or its JSON export, which puts private keys in strings', async () => {
    const spies = [
      vi.spyOn(X3DHKeyManager, 'fromEd25519Keys'),
      vi.spyOn(X3DHKeyManager, 'restore'),
      vi.spyOn(X3DHKeyManager.prototype, 'exportPreKeys'),
      vi.spyOn(X3DHKeyManager.prototype, 'importPreKeys'),
    ];
    let now = 1_000;
    const alice = await newAgent(new MemoryAgentStore(), { now: () => now });
    const bob = await newAgent(new MemoryAgentStore(), { now: () => now });
    await connect(alice, bob);
    // A retained signed pre-key answers an establishment that names none (the reference's form).
    const oldBundle = await bob.preKeys.getPublicBundle();
    now += 1;
    await bob.preKeys.rotateSignedPreKey();
    const carol = await newAgent(new MemoryAgentStore(), { now: () => now });
    const establishment = { ...(await carol.initiate(bob.did, oldBundle)), signedPreKeyId: null };
    const first = await carol.send(bob.did, utf8('old key'));
    expect(text(await bob.accept(carol.did, establishment, { firstMessage: first }))).toBe('old key');
    for (const spy of spies) expect(spy).not.toHaveBeenCalled();
  });

  it('accept consumes the one-time pre-key in the session\'s own batch, and only there', async () => {
    const alice = await newAgent(new MemoryAgentStore());
    const bob = await newAgent(new MemoryAgentStore());
    const [otk] = await bob.preKeys.oneTimePreKeyIds();
    const establishment = await alice.initiate(bob.did, await bob.preKeys.getPublicBundle(otk));
    const write = vi.spyOn(bob.store, 'write');
    await bob.accept(alice.did, establishment, { firstMessage: await alice.send(bob.did, utf8('hi')) });
    expect(write.mock.calls.map(([batch]) => batch.map((w) => w.op))).toEqual([['consumeOneTimePreKey', 'putSession']]);
  });

  it('zeroes the private keys it read for an establishment, also when a key it names is gone', async () => {
    const bob = await newAgent(new MemoryAgentStore(), { oneTime: 1 });
    const [otk] = await bob.preKeys.oneTimePreKeyIds();
    const keys = await bob.preKeys.responderKeys({ signedPreKeyId: null, oneTimePreKeyId: otk! }, 64);
    const held = [...keys.signedPreKeys, keys.oneTimePreKey!].map((k) => k.privateKey);
    expect(held.every((k) => k.some((b) => b !== 0))).toBe(true);
    keys.wipe();
    expect(held.every((k) => k.every((b) => b === 0))).toBe(true);
    await expect(bob.preKeys.responderKeys({ signedPreKeyId: 99, oneTimePreKeyId: null }, 64)).rejects.toBeInstanceOf(PreKeyNotFoundError);
  });

  it('has no bundle before a signed pre-key exists: the same PreKeyNotFoundError as the key manager', async () => {
    const bob = await newAgent(new MemoryAgentStore(), { oneTime: 0 });
    await bob.store.write([{ op: 'deleteSignedPreKey', keyId: 0 }]);
    const error = await bob.preKeys.getPublicBundle().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PreKeyNotFoundError);
    expect((error as PreKeyNotFoundError).code).toBe('prekey_not_found');
  });

});

describe('session metadata', () => {
  const key = (n: number) => new Uint8Array(32).fill(n);

  it('is stored in the one shape it always had, whatever the role', () => {
    const establishment = { identityKey: key(3), ephemeralKey: key(4), usedOneTimeKeyId: 7, signedPreKeyId: 2 };
    const initiator = encodeMetadata({ role: 'initiator', peerIdentityKey: key(1), peerIdentityKeyEd: key(2), establishment, inboundEphemeralKey: null });
    expect(Object.keys(initiator)).toEqual(['version', 'role', 'peer_identity_key', 'peer_identity_key_ed', 'establishment', 'accepted_ephemeral_key']);
    expect(initiator.accepted_ephemeral_key).toBeNull();
    const glare = encodeMetadata({ role: 'initiator', peerIdentityKey: key(1), peerIdentityKeyEd: key(2), establishment: null, inboundEphemeralKey: key(5) });
    expect(Object.keys(glare).at(-1)).toBe('inbound_ephemeral_key');
    const responder = encodeMetadata({ role: 'responder', peerIdentityKey: key(1), peerIdentityKeyEd: null, acceptedEphemeralKey: key(6) });
    expect(Object.keys(responder)).toEqual(['version', 'role', 'peer_identity_key', 'peer_identity_key_ed', 'establishment', 'accepted_ephemeral_key']);
    expect([responder.peer_identity_key_ed, responder.establishment]).toEqual([null, null]);
  });
});
