import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { getDefaultCryptoProvider } from '../../src/crypto/index.js';
import { toBase64Url } from '../../src/encoding.js';
import { RegistryError } from '../../src/net/errors.js';
import { HttpPreKeyStore } from '../../src/net/http-prekey-store.js';
import { encodePreKeyUpload, uploadFromKeyManager } from '../../src/net/prekey-upload.js';
import { RegistryClient } from '../../src/net/registry-client.js';
import { BASE, expectError, fetchSelf, newAgent, publishedAgent, registeredAgent, shiftClock, signedRequest } from './helpers.js';

const DAY = 24 * 60 * 60 * 1000;

describe('PUT /v1/agents/{did}/prekeys', () => {
  it('publishes a bundle that an initiator can run X3DH against', async () => {
    const bob = await publishedAgent(3);
    // A client with an identity signs its bundle fetches, so it must be registered.
    const alice = await registeredAgent();
    const store = new HttpPreKeyStore(alice.client);
    const bundle = await store.getBundle(bob.did);
    expect(bundle).not.toBeNull();
    expect(bundle!.identityKeyEd).toEqual(bob.identity.publicKey);
    expect(bundle!.oneTimePreKeyId).toBe(0);
    const result = await alice.keys.initiate(bundle!);
    const response = await bob.keys.respond({
      peerIdentityKey: alice.keys.identityKey.publicKey,
      ephemeralPublicKey: result.ephemeralPublicKey,
      usedOneTimeKeyId: result.usedOneTimeKeyId,
    });
    expect(response.sharedSecret).toEqual(result.sharedSecret);
  });

  it('HttpPreKeyStore.storeBundle publishes its own bundle and refuses anyone else\'s', async () => {
    const bob = await registeredAgent();
    await bob.keys.generateSignedPreKey();
    const [otk] = await bob.keys.generateOneTimePreKeys(1);
    const store = new HttpPreKeyStore(bob.client);
    await store.storeBundle(bob.did, bob.keys.getPublicBundle(otk!.keyId));
    expect((await bob.client.preKeyStatus()).oneTimePreKeys).toBe(1);
    const other = await newAgent();
    await expect(store.storeBundle(other.did, bob.keys.getPublicBundle())).rejects.toThrow(/own bundle/);
  });

  it('rotates the signed pre-key and keeps the previous one, then forgets it after 14 days', async () => {
    const bob = await publishedAgent(0);
    await bob.keys.generateSignedPreKey();
    await bob.client.uploadPreKeys(uploadFromKeyManager(bob.keys));
    const status = await bob.client.preKeyStatus();
    expect(status.signedPreKey?.keyId).toBe(1);
    expect(status.retainedSignedPreKeys.map((k) => k.keyId)).toEqual([0]);
    expect((await bob.client.fetchBundle(bob.did))!.signedPreKeyId).toBe(1);
    await shiftClock(bob.did, 15 * DAY);
    // Requests are signed with the real clock, so move the client's clock along.
    const later = new RegistryClient({ baseUrl: BASE, identity: bob.identity, fetch: fetchSelf, now: () => Date.now() + 15 * DAY });
    expect((await later.preKeyStatus()).retainedSignedPreKeys).toEqual([]);
  });

  it('re-uploading the same keys changes nothing; reusing an id for another key is a conflict', async () => {
    const bob = await registeredAgent();
    await bob.keys.generateSignedPreKey();
    const otks = await bob.keys.generateOneTimePreKeys(2);
    const upload = uploadFromKeyManager(bob.keys, otks);
    expect((await bob.client.uploadPreKeys(upload)).oneTimePreKeys).toBe(2);
    expect((await bob.client.uploadPreKeys(upload)).oneTimePreKeys).toBe(2);
    const otherKey = getDefaultCryptoProvider().randomBytes(32);
    const conflict = async (u: typeof upload) => {
      const err = await bob.client.uploadPreKeys(u).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RegistryError);
      expect((err as RegistryError).status).toBe(409);
      expect((err as RegistryError).code).toBe('prekey_conflict');
    };
    await conflict({ ...upload, oneTimePreKeys: [{ keyId: otks[0]!.keyId, publicKey: otherKey }] });
    // Same signed pre-key id, different key (signed properly): still a conflict.
    const spk = await bob.keys.crypto.x25519GenerateKeyPair();
    const signature = await bob.identity.sign(spk.publicKey);
    await conflict({ ...upload, signedPreKey: { keyId: upload.signedPreKey.keyId, publicKey: spk.publicKey, signature }, oneTimePreKeys: [] });
    // A retired id cannot come back.
    const old = upload.signedPreKey;
    await bob.keys.generateSignedPreKey();
    await bob.client.uploadPreKeys(uploadFromKeyManager(bob.keys));
    await conflict({ ...upload, signedPreKey: old, oneTimePreKeys: [] });
  });

  it('checks the keys belong to the registered identity', async () => {
    const bob = await registeredAgent();
    const eve = await newAgent();
    await bob.keys.generateSignedPreKey();
    await eve.keys.generateSignedPreKey();
    const good = encodePreKeyUpload(uploadFromKeyManager(bob.keys));
    const put = (body: unknown) => signedRequest(bob.identity, 'PUT', `/v1/agents/${bob.did}/prekeys`, { body: JSON.stringify(body) });
    const eves = encodePreKeyUpload(uploadFromKeyManager(eve.keys));
    await expectError(put({ ...good, identity_key_ed: eves.identity_key_ed }), 400, 'identity_mismatch');
    await expectError(put({ ...good, identity_key: eves.identity_key }), 400, 'identity_mismatch');
    // Eve's signed pre-key, signed by Eve: does not verify under Bob's key.
    await expectError(put({ ...good, signed_pre_key: eves.signed_pre_key }), 400, 'bad_signed_pre_key');
    const sig = good.signed_pre_key.signature;
    const flipped = toBase64Url(new Uint8Array([...new Uint8Array(64)].map((_, i) => (i === 0 ? 1 : 0))));
    expect(flipped).not.toBe(sig);
    await expectError(put({ ...good, signed_pre_key: { ...good.signed_pre_key, signature: flipped } }), 400, 'bad_signed_pre_key');
  });

  it('limits one-time pre-keys per upload (413) and in total (409)', async () => {
    const bob = await registeredAgent();
    await bob.keys.generateSignedPreKey();
    const tooMany = await bob.keys.generateOneTimePreKeys(21);
    const err = await bob.client.uploadPreKeys(uploadFromKeyManager(bob.keys, tooMany)).catch((e: unknown) => e);
    expect((err as RegistryError).status).toBe(413);
    expect((err as RegistryError).code).toBe('too_many_prekeys');
    await bob.client.uploadPreKeys(uploadFromKeyManager(bob.keys, tooMany.slice(0, 20)));
    const full = await bob.client.uploadPreKeys(uploadFromKeyManager(bob.keys, await bob.keys.generateOneTimePreKeys(11))).catch((e: unknown) => e);
    expect((full as RegistryError).status).toBe(409);
    expect((full as RegistryError).code).toBe('prekey_pool_full');
    // Nothing of the refused upload was stored.
    expect((await bob.client.preKeyStatus()).oneTimePreKeys).toBe(20);
  });

  it('is for the owner only', async () => {
    const bob = await registeredAgent();
    const eve = await registeredAgent();
    await bob.keys.generateSignedPreKey();
    const body = JSON.stringify(encodePreKeyUpload(uploadFromKeyManager(bob.keys)));
    await expectError(signedRequest(eve.identity, 'PUT', `/v1/agents/${bob.did}/prekeys`, { body }), 403, 'forbidden');
    await expectError(new Request(`${BASE}/v1/agents/${bob.did}/prekeys`, { method: 'PUT', body }), 401, 'unauthenticated');
  });
});

describe('GET /v1/agents/{did}/prekeys', () => {
  it('hands out each one-time pre-key once, then null', async () => {
    const bob = await publishedAgent(3);
    const reader = new RegistryClient({ baseUrl: BASE, fetch: fetchSelf });
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push((await reader.fetchBundle(bob.did))!.oneTimePreKeyId);
    expect(ids).toEqual([0, 1, 2, null, null]);
    const raw = await (await SELF.fetch(`${BASE}/v1/agents/${bob.did}/prekeys`)).json();
    expect(raw).toMatchObject({ one_time_pre_key: null });
  });

  it('never hands a key out twice under concurrent fetches', async () => {
    const bob = await publishedAgent(20);
    const results = await Promise.all(
      Array.from({ length: 35 }, () => SELF.fetch(`${BASE}/v1/agents/${bob.did}/prekeys`).then((r) => r.json() as Promise<{ one_time_pre_key: { key_id: number } | null }>)),
    );
    const ids = results.map((r) => r.one_time_pre_key?.key_id).filter((id) => id !== undefined);
    expect(ids).toHaveLength(20);
    expect(new Set(ids).size).toBe(20);
    expect(results.filter((r) => r.one_time_pre_key === null)).toHaveLength(15);
  });

  it('limits bundle fetches per caller (429 with Retry-After)', async () => {
    const bob = await publishedAgent(0);
    for (let i = 0; i < 40; i++) expect((await SELF.fetch(`${BASE}/v1/agents/${bob.did}/prekeys`)).status).toBe(200);
    const res = await SELF.fetch(`${BASE}/v1/agents/${bob.did}/prekeys`);
    expect(res.status).toBe(429);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await res.json()).toMatchObject({ error: 'rate_limited' });
    // A signed caller has its own budget.
    const alice = await registeredAgent();
    expect(await alice.client.fetchBundle(bob.did)).not.toBeNull();
  });

  it('answers 404 for unknown agents and agents without pre-keys', async () => {
    const bob = await registeredAgent();
    await expectError(new Request(`${BASE}/v1/agents/${bob.did}/prekeys`), 404, 'not_found');
    const stranger = await newAgent();
    await expectError(new Request(`${BASE}/v1/agents/${stranger.did}/prekeys`), 404, 'not_found');
  });

  it('rejects a bundle whose keys do not belong to the DID asked for', async () => {
    const bob = await publishedAgent(1);
    const eve = await newAgent();
    // A registry that answers Bob's bundle for Eve's DID.
    const lying = new RegistryClient({
      baseUrl: BASE,
      fetch: (url, init) => fetchSelf(url.replace(eve.did, bob.did), init),
    });
    await expect(lying.fetchBundle(eve.did)).rejects.toThrow(/does not belong/);
  });
});

describe('GET /v1/agents/{did}/prekeys/count', () => {
  it('tells the owner what is left', async () => {
    const bob = await publishedAgent(4);
    await bob.client.fetchBundle(bob.did);
    const status = await bob.client.preKeyStatus();
    expect(status.oneTimePreKeys).toBe(3);
    expect(status.signedPreKey?.keyId).toBe(0);
    const eve = await registeredAgent();
    await expectError(signedRequest(eve.identity, 'GET', `/v1/agents/${bob.did}/prekeys/count`), 403, 'forbidden');
  });
});
