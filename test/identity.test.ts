import { describe, expect, it } from 'vitest';
import { AgentIdentity } from '../src/identity/agent-identity.js';
import {
  checkDidKey,
  didBelongsToKey,
  didFromPublicKey,
  isValidDid,
  legacyDidFromPublicKey,
  parseDid,
} from '../src/identity/did.js';
import { createCryptoProvider } from '../src/crypto/index.js';
import { fromBase64Any, toHex, utf8 } from '../src/encoding.js';
import { InvalidDidError, InvalidKeyError } from '../src/errors.js';
import { X3DHKeyManager } from '../src/x3dh/key-manager.js';
import { hex, PRESETS, vectors } from './helpers/vectors.js';

describe.each(PRESETS)('identity vectors (%s)', (preset) => {
  const crypto = createCryptoProvider(preset);
  for (const v of vectors.identity.identities) {
    it(`${v.label}: Ed25519 public key, X25519 identity pair, signature`, async () => {
      const id = await AgentIdentity.fromSeed(hex(v.ed25519_seed), { crypto });
      expect(toHex(id.publicKey)).toBe(v.ed25519_public);
      expect(toHex(id.secretKey)).toBe(v.ed25519_secret_key_64);
      expect(toHex(crypto.ed25519ToX25519Private(hex(v.ed25519_seed)))).toBe(v.x25519_private);
      expect(toHex(crypto.ed25519ToX25519Public(id.publicKey))).toBe(v.x25519_public);
      expect(toHex(await crypto.x25519PublicKey(hex(v.x25519_private)))).toBe(v.x25519_public);
      const create = v.agent_identity_create;
      const sig = await id.sign(utf8(create.sign_test_message_utf8));
      expect(sig).toEqual(fromBase64Any(create.sign_test_signature_base64));
      expect(await id.verify(utf8(create.sign_test_message_utf8), sig)).toBe(true);
      const mgr = await X3DHKeyManager.fromEd25519Keys(hex(v.ed25519_secret_key_64), hex(v.ed25519_public), { crypto });
      expect(toHex(mgr.identityKey.privateKey)).toBe(v.x25519_private);
      expect(toHex(mgr.identityKey.publicKey)).toBe(v.x25519_public);
    });
  }
});

describe('DIDs', () => {
  const v = vectors.identity.identities[0]!;
  const pub = hex(v.ed25519_public);

  it('derives the legacy hash name the registry assigns', () => {
    for (const id of vectors.identity.identities) {
      expect(legacyDidFromPublicKey(hex(id.ed25519_public))).toBe(id.did_mesh_from_public_key);
    }
  });

  it('derives did:agentmesh from SHA-256 of the key and binds it to that key only', () => {
    const did = didFromPublicKey(pub);
    expect(did).toMatch(/^did:agentmesh:[1-9A-HJ-NP-Za-km-z]+$/);
    expect(parseDid(did).kind).toBe('agentmesh');
    expect(didBelongsToKey(did, pub)).toBe(true);
    const other = hex(vectors.identity.identities[1]!.ed25519_public);
    expect(didBelongsToKey(did, other)).toBe(false);
    expect(checkDidKey(did, other)).toBe('mismatch');
  });

  it('accepts legacy did:mesh names without letting them claim a key', () => {
    for (const name of [v.did_mesh_from_public_key, v.agent_identity_create.did]) {
      expect(parseDid(name).kind).toBe('legacy');
      expect(checkDidKey(name, pub)).toBe('unverifiable');
      expect(didBelongsToKey(name, pub)).toBe(false);
    }
  });

  it('rejects malformed DIDs with InvalidDidError', () => {
    const did = didFromPublicKey(pub);
    const bad = [
      '',
      'did:agentmesh:',
      'did:agentmesh:0OIl',
      `${did}0`,
      '1' + did,
      'did:mesh:XYZ',
      'did:mesh:' + 'a'.repeat(31),
      'did:web:example.com',
      'did:agentmesh:' + '1'.repeat(300),
      v.ts_sdk_did_agentmesh_example,
    ];
    for (const b of bad) {
      expect(() => parseDid(b)).toThrow(InvalidDidError);
      expect(isValidDid(b)).toBe(false);
    }
    expect(() => parseDid(42)).toThrow(InvalidDidError);
    // A leading zero byte is encoded as '1'; a padded variant of a valid id is not canonical.
    expect(isValidDid(did)).toBe(true);
  });
});

describe('AgentIdentity', () => {
  it('generates distinct identities whose DIDs match their keys', async () => {
    const a = await AgentIdentity.generate();
    const b = await AgentIdentity.generate();
    expect(a.did).not.toBe(b.did);
    expect(didBelongsToKey(a.did, a.publicKey)).toBe(true);
    const sig = await a.sign(utf8('hi'));
    expect(await AgentIdentity.verify(a.publicKey, utf8('hi'), sig)).toBe(true);
    expect(await AgentIdentity.verify(b.publicKey, utf8('hi'), sig)).toBe(false);
  });

  it('loads from a 64-byte secret and refuses a mismatched public half', async () => {
    const v = vectors.identity.identities[0]!;
    const id = await AgentIdentity.fromSecretKey(hex(v.ed25519_secret_key_64));
    expect(toHex(id.publicKey)).toBe(v.ed25519_public);
    const wrong = hex(v.ed25519_seed + vectors.identity.identities[1]!.ed25519_public);
    await expect(AgentIdentity.fromSecretKey(wrong)).rejects.toThrow(InvalidKeyError);
    await expect(AgentIdentity.fromSeed(new Uint8Array(31))).rejects.toThrow(InvalidKeyError);
  });

  it('cannot sign after wipe', async () => {
    const id = await AgentIdentity.generate();
    id.wipe();
    await expect(id.sign(utf8('x'))).rejects.toThrow(InvalidKeyError);
  });
});
