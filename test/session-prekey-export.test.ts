import { describe, expect, it } from 'vitest';
import { SecureChannel } from '../src/channel/secure-channel.js';
import { utf8, fromUtf8 } from '../src/encoding.js';
import { InvalidKeyError, PreKeyNotFoundError } from '../src/errors.js';
import { AgentIdentity } from '../src/identity/agent-identity.js';
import { X3DHKeyManager, type PreKeySetJson } from '../src/x3dh/key-manager.js';

/** X3DHKeyManager.exportPreKeys / importPreKeys / restore: the additions sessions persist pre-keys through. */

async function manager(options: { now?: () => number; signedPreKeyRetentionMs?: number } = {}) {
  const identity = await AgentIdentity.generate();
  const secret = identity.secretKey;
  const km = await X3DHKeyManager.fromEd25519Keys(secret, identity.publicKey, options);
  return { km, secret, publicKey: identity.publicKey };
}

describe('X3DHKeyManager pre-key export and import', () => {
  it('a restored manager answers establishments made against the original bundles', async () => {
    let now = 0;
    const bob = await manager({ now: () => now });
    await bob.km.generateSignedPreKey();
    const oldBundle = bob.km.getPublicBundle();
    now = 10;
    await bob.km.generateSignedPreKey();
    const [otk] = await bob.km.generateOneTimePreKeys(3);
    const bundle = bob.km.getPublicBundle(otk!.keyId);

    const exported = bob.km.exportPreKeys();
    expect(JSON.parse(JSON.stringify(exported))).toEqual(exported);
    expect(exported.signed_pre_keys.map((k) => [k.key_id, k.retired_at])).toEqual([
      [1, null],
      [0, 10],
    ]);
    expect(exported.one_time_pre_keys).toHaveLength(3);
    expect([exported.next_signed_pre_key_id, exported.next_one_time_pre_key_id]).toEqual([2, 3]);

    const restored = await X3DHKeyManager.restore(bob.secret, bob.publicKey, JSON.parse(JSON.stringify(exported)), { now: () => now });
    expect(restored.exportPreKeys()).toEqual(exported);
    const alice = await manager();
    for (const b of [bundle, oldBundle]) {
      const [channel, establishment] = await SecureChannel.createSender(alice.km, b);
      const message = await channel.send(utf8('hi'));
      const receiver = await SecureChannel.createReceiver(restored, establishment);
      expect(fromUtf8(await receiver.receive(message))).toBe('hi');
    }
    // The one-time key was consumed by the restored manager, and ids continue where they left off.
    expect(restored.oneTimePreKeyIds).not.toContain(otk!.keyId);
    await expect(SecureChannel.createReceiver(restored, { identityKey: alice.km.identityKey.publicKey, ephemeralKey: new Uint8Array(32).fill(9), usedOneTimeKeyId: otk!.keyId })).rejects.toBeInstanceOf(PreKeyNotFoundError);
    expect((await restored.generateSignedPreKey()).keyId).toBe(2);
    expect((await restored.generateOneTimePreKeys(1))[0]!.keyId).toBe(3);
  });

  it('import replaces the held pre-keys and zeroes the replaced private keys', async () => {
    const bob = await manager();
    await bob.km.generateSignedPreKey();
    const [old] = await bob.km.generateOneTimePreKeys(1);
    const other = await manager();
    const empty: PreKeySetJson = { version: 1, signed_pre_keys: [], one_time_pre_keys: [], next_signed_pre_key_id: 5, next_one_time_pre_key_id: 7 };
    await bob.km.importPreKeys(empty);
    expect(old!.keyPair.privateKey).toEqual(new Uint8Array(32));
    expect(bob.km.signedPreKey).toBeNull();
    expect(bob.km.oneTimePreKeyCount).toBe(0);
    expect((await bob.km.generateOneTimePreKeys(1))[0]!.keyId).toBe(7);
    await other.km.importPreKeys(empty);
    expect((await other.km.generateSignedPreKey()).keyId).toBe(5);
  });

  it('refuses bad input with InvalidKeyError and leaves the manager unchanged', async () => {
    const bob = await manager();
    await bob.km.generateSignedPreKey();
    await bob.km.generateOneTimePreKeys(2);
    const good = bob.km.exportPreKeys();
    const stranger = await manager();
    await stranger.km.generateSignedPreKey();
    const foreign = stranger.km.exportPreKeys().signed_pre_keys[0]!;
    const variants: [string, (s: PreKeySetJson) => unknown][] = [
      ['not an object', () => 'prekeys'],
      ['unknown version', (s) => ({ ...s, version: 2 })],
      ['public key of another private key', (s) => ({ ...s, one_time_pre_keys: [{ ...s.one_time_pre_keys[0]!, public_key: s.one_time_pre_keys[1]!.public_key }] })],
      ['signed by another identity', (s) => ({ ...s, signed_pre_keys: [{ ...foreign, key_id: 0 }] })],
      ['duplicate ids', (s) => ({ ...s, one_time_pre_keys: [s.one_time_pre_keys[0]!, s.one_time_pre_keys[0]!] })],
      ['ids not below the counter', (s) => ({ ...s, next_one_time_pre_key_id: 1 })],
      ['two current signed pre-keys', (s) => ({ ...s, signed_pre_keys: [s.signed_pre_keys[0]!, { ...s.signed_pre_keys[0]!, key_id: 1 }], next_signed_pre_key_id: 2 })],
      ['retained without current', (s) => ({ ...s, signed_pre_keys: [{ ...s.signed_pre_keys[0]!, retired_at: 5 }] })],
      ['short key', (s) => ({ ...s, one_time_pre_keys: [{ ...s.one_time_pre_keys[0]!, private_key: 'AAAA' }] })],
      ['not base64', (s) => ({ ...s, one_time_pre_keys: [{ ...s.one_time_pre_keys[0]!, private_key: '!'.repeat(43) }] })],
      ['oversized field', (s) => ({ ...s, one_time_pre_keys: [{ ...s.one_time_pre_keys[0]!, private_key: 'A'.repeat(10_000) }] })],
      ['too many keys', (s) => ({ ...s, one_time_pre_keys: new Array(100_001).fill(s.one_time_pre_keys[0]) })],
      ['id out of range', (s) => ({ ...s, one_time_pre_keys: [{ ...s.one_time_pre_keys[0]!, key_id: -1 }] })],
      ['counter out of range', (s) => ({ ...s, next_signed_pre_key_id: 2 ** 40 })],
    ];
    for (const [what, mutate] of variants) {
      await expect(bob.km.importPreKeys(mutate(structuredClone(good))), what).rejects.toBeInstanceOf(InvalidKeyError);
      expect(bob.km.exportPreKeys(), what).toEqual(good);
    }
    await expect(X3DHKeyManager.restore(bob.secret, bob.publicKey, { version: 1 })).rejects.toBeInstanceOf(InvalidKeyError);
  });
});
