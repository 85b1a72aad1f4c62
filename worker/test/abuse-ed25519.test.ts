// Issue 14, class 7: small-order Ed25519 keys. Under a small-order key A, the "universal"
// signature (R = identity, S = 0) verifies whenever [k]A = identity, and workerd's WebCrypto does
// not refuse it; so a registration could "prove possession" of a DID nobody holds. The Worker
// refuses such keys at registration, and its request auth refuses the signature even for a key
// that is already stored.
import { SELF, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { concatBytes, fromHex, toBase64Url } from '../../src/encoding.js';
import { AgentIdentity } from '../../src/identity/agent-identity.js';
import { didFromPublicKey } from '../../src/identity/did.js';
import { AUTH_SCHEME, bodyDigest, canonicalRequest, RequestSigner } from '../../src/net/signing.js';
import type { AgentObject } from '../agent-object.js';
import { BASE, agentStub, expectError } from './helpers.js';

/** (0, 1) · i: a point of order 4, so the universal signature holds for one timestamp in four. */
const ORDER_4 = fromHex('00'.repeat(32));
const UNIVERSAL_SIGNATURE = concatBytes(fromHex('01' + '00'.repeat(31)), new Uint8Array(32));

/** Whether workerd's own WebCrypto accepts `signature` under `key` (it does for small-order keys). */
async function nativeAccepts(key: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
  try {
    const imported = await crypto.subtle.importKey('raw', new Uint8Array(key), { name: 'Ed25519' }, false, ['verify']);
    return await crypto.subtle.verify({ name: 'Ed25519' }, imported, new Uint8Array(signature), new Uint8Array(message));
  } catch {
    return false;
  }
}

/**
 * A request "signed" with the universal signature under `key`: timestamps are tried until workerd's
 * native verifier accepts it, as an attacker would grind them (one in four holds for `ORDER_4`).
 */
async function universallySigned(key: Uint8Array, method: string, path: string, body?: string): Promise<{ request: Request; nativelyValid: boolean }> {
  const did = didFromPublicKey(key);
  const signer = new RequestSigner(await AgentIdentity.generate());
  let timestamp = signer.nextTimestamp();
  let nativelyValid = false;
  for (let i = 0; i < 64 && !nativelyValid; i++) {
    timestamp = signer.nextTimestamp();
    nativelyValid = await nativeAccepts(key, canonicalRequest(timestamp, method, path, bodyDigest(body)), UNIVERSAL_SIGNATURE);
  }
  const headers: Record<string, string> = { authorization: `${AUTH_SCHEME} ${did} ${timestamp} ${toBase64Url(UNIVERSAL_SIGNATURE)}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  return { request: new Request(BASE + path, { method, headers, body }), nativelyValid };
}

describe('small-order Ed25519 keys at the registry', () => {
  it('a registration of a small-order key, "signed" with the universal signature, is refused with invalid_key', async () => {
    const did = didFromPublicKey(ORDER_4);
    const body = JSON.stringify({ did, public_key: toBase64Url(ORDER_4), capabilities: [], metadata: {} });
    const { request, nativelyValid } = await universallySigned(ORDER_4, 'POST', '/v1/agents', body);
    // What made this an attack: the runtime's verifier alone would have taken it as proof.
    expect(nativelyValid).toBe(true);
    const error = await expectError(request, 400, 'invalid_key');
    expect(error.message).toMatch(/small order/);
    expect((await SELF.fetch(`${BASE}/v1/agents/${did}`)).status).toBe(404);
  });

  it('a mixed-order key (an honest key plus a point of order 8) is refused at registration too', async () => {
    const honest = await AgentIdentity.generate();
    const { ed25519 } = await import('@noble/curves/ed25519.js');
    const torsion = ed25519.Point.fromBytes(fromHex('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a'));
    const mixed = ed25519.Point.fromBytes(honest.publicKey).add(torsion).toBytes();
    const body = JSON.stringify({ did: didFromPublicKey(mixed), public_key: toBase64Url(mixed), capabilities: [], metadata: {} });
    const { request } = await universallySigned(mixed, 'POST', '/v1/agents', body);
    const error = await expectError(request, 400, 'invalid_key');
    expect(error.message).toMatch(/small-order component/);
  });

  it('request auth refuses the universal signature under a small-order key already stored (a registration from before the check)', async () => {
    const did = didFromPublicKey(ORDER_4);
    await runInDurableObject(agentStub(did), (o: AgentObject) => {
      o.store.register({ did, publicKey: toBase64Url(ORDER_4), identityKey: toBase64Url(new Uint8Array(32)), capabilities: [], metadata: '{}' }, Date.now());
    });
    const path = `/v1/agents/${did}/prekeys/count`;
    const { request, nativelyValid } = await universallySigned(ORDER_4, 'GET', path);
    expect(nativelyValid).toBe(true);
    await expectError(request, 401, 'bad_signature');
  });
});
