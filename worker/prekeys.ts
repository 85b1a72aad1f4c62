import { fromBase64Any, getDefaultCryptoProvider, toBase64Url, type BundleJson } from '../src/index.js';
import { decodePreKeyUpload } from '../src/protocol.js';
import type { PreKeyHost, RequestContext } from './host.js';
import { HttpError, badRequest, clientAddress, json, notFound, parseJsonObject, readBody } from './http.js';

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * `PUT /v1/agents/{did}/prekeys` (owner only). The keys must be this agent's: `identity_key_ed` is
 * the registered key, `identity_key` its X25519 form, and the signed pre-key verifies under it.
 */
export async function handlePreKeyUpload(host: PreKeyHost, ctx: RequestContext, did: string): Promise<Response> {
  const body = await readBody(ctx.request, host.config.maxPreKeyUploadBytes);
  const reg = await host.authenticateOwner(ctx, did, body);
  const fields = parseJsonObject(body);
  const list = fields.one_time_pre_keys;
  if (Array.isArray(list) && list.length > host.config.maxOneTimePreKeysPerUpload) {
    throw new HttpError(413, 'too_many_prekeys', `at most ${host.config.maxOneTimePreKeysPerUpload} one-time pre-keys per upload`);
  }
  const upload = decodePreKeyUpload(fields);
  const crypto = getDefaultCryptoProvider();
  const registeredKey = fromBase64Any(reg.publicKey);
  if (!crypto.constantTimeEqual(upload.identityKeyEd, registeredKey)) {
    throw badRequest('identity_mismatch', '"identity_key_ed" is not the registered Ed25519 key');
  }
  if (!crypto.constantTimeEqual(upload.identityKey, fromBase64Any(reg.identityKey))) {
    throw badRequest('identity_mismatch', '"identity_key" is not the X25519 form of the registered key');
  }
  if (!(await crypto.ed25519Verify(registeredKey, upload.signedPreKey.publicKey, upload.signedPreKey.signature))) {
    throw badRequest('bad_signed_pre_key', 'the signed pre-key signature does not verify under the registered key');
  }
  const spk = {
    keyId: upload.signedPreKey.keyId,
    publicKey: toBase64Url(upload.signedPreKey.publicKey),
    signature: toBase64Url(upload.signedPreKey.signature),
  };
  const otks = upload.oneTimePreKeys.map((k) => ({ keyId: k.keyId, publicKey: toBase64Url(k.publicKey) }));
  // Check everything, then write everything, with no await in between: all or nothing.
  host.state.storage.transactionSync(() => {
    const known = host.store.signedPreKeys();
    const same = known.find((k) => k.keyId === spk.keyId);
    if (same && same.retiredAt !== null) {
      throw new HttpError(409, 'prekey_conflict', `signed pre-key ${spk.keyId} was already replaced; use a new id`);
    }
    if (same && same.publicKey !== spk.publicKey) {
      throw new HttpError(409, 'prekey_conflict', `signed pre-key id ${spk.keyId} is taken by another key`);
    }
    const fresh = otks.filter((k) => {
      const existing = host.store.oneTimePreKey(k.keyId);
      if (existing !== null && existing !== k.publicKey) {
        throw new HttpError(409, 'prekey_conflict', `one-time pre-key id ${k.keyId} is taken by another key`);
      }
      return existing === null;
    });
    if (host.store.oneTimePreKeyCount() + fresh.length > host.config.maxOneTimePreKeys) {
      throw new HttpError(409, 'prekey_pool_full', `at most ${host.config.maxOneTimePreKeys} one-time pre-keys may wait on the registry`);
    }
    if (!same) host.store.replaceSignedPreKey(spk, ctx.now);
    for (const k of fresh) host.store.addOneTimePreKey(k.keyId, k.publicKey);
  });
  return json({ did, signed_pre_key_id: spk.keyId, one_time_pre_keys: host.store.oneTimePreKeyCount() });
}

/**
 * `GET /v1/agents/{did}/prekeys`: the bundle with one one-time pre-key, claimed in the same
 * synchronous step that reads it, or `one_time_pre_key: null` when none is left.
 */
export async function handlePreKeyFetch(host: PreKeyHost, ctx: RequestContext, did: string): Promise<Response> {
  const reg = host.registered(did);
  // Anonymous fetches are allowed (the draft's form); signed ones are limited per DID, not per address.
  const caller = ctx.request.headers.has('authorization') ? `did:${(await host.authenticate(ctx, null)).did}` : `ip:${clientAddress(ctx.request)}`;
  const spk = host.store.currentSignedPreKey();
  if (!spk) throw notFound('this agent has published no pre-keys');
  host.limitClaims(caller, ctx.now);
  const otk = host.store.claimOneTimePreKey();
  const bundle: BundleJson = {
    identity_key: reg.identityKey,
    identity_key_ed: reg.publicKey,
    signed_pre_key: { key_id: spk.keyId, public_key: spk.publicKey, signature: spk.signature },
    one_time_pre_key: otk ? { key_id: otk.keyId, public_key: otk.publicKey } : null,
  };
  return json(bundle);
}

/** `GET /v1/agents/{did}/prekeys/count` (owner only): what is left, for topping up and rotating. */
export async function handlePreKeyCount(host: PreKeyHost, ctx: RequestContext, did: string): Promise<Response> {
  await host.authenticateOwner(ctx, did, null);
  const keys = host.store.signedPreKeys();
  const current = keys.find((k) => k.retiredAt === null);
  return json({
    did,
    one_time_pre_keys: host.store.oneTimePreKeyCount(),
    signed_pre_key: current ? { key_id: current.keyId, created_at: iso(current.createdAt) } : null,
    retained_signed_pre_keys: keys
      .filter((k) => k.retiredAt !== null)
      .map((k) => ({ key_id: k.keyId, retired_at: iso(k.retiredAt!) })),
  });
}
