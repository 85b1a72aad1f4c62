import { getDefaultCryptoProvider, type CryptoProvider, type X25519KeyPair } from '../crypto/index.js';
import { concatBytes, copyBytes, utf8, type Bytes } from '../encoding.js';
import { InvalidBundleError, InvalidKeyError, PreKeyNotFoundError, RatchetStateError } from '../errors.js';
import { checkBundleShape, type PreKeyBundle } from './bundle.js';

const X3DH_INFO = utf8('AgentMesh_X3DH_v1');
const X3DH_SALT = new Uint8Array(32);
const X3DH_PAD = new Uint8Array(32).fill(0xff);
const DAY_MS = 24 * 60 * 60 * 1000;
const MAX_ONE_TIME_BATCH = 1000;

export interface SignedPreKey {
  readonly keyId: number;
  readonly keyPair: X25519KeyPair;
  /** Ed25519 over exactly the 32 raw bytes of the public key. */
  readonly signature: Bytes;
  readonly createdAt: number;
}

export interface OneTimePreKey {
  readonly keyId: number;
  readonly keyPair: X25519KeyPair;
}

export interface X3DHResult {
  readonly sharedSecret: Bytes;
  readonly ephemeralPublicKey: Bytes;
  readonly usedOneTimeKeyId: number | null;
  /** IK_initiator || IK_responder (X25519), 64 bytes. */
  readonly associatedData: Bytes;
  readonly signedPreKeyId: number;
}

export interface X3DHResponse extends X3DHResult {
  /** The signed pre-key used; its pair is the responder's first ratchet pair. */
  readonly signedPreKey: SignedPreKey;
  /**
   * When the initiator named no signed pre-key: the same agreement against each retained
   * (rotated-out) signed pre-key, most recent first, for the channel to try if the current fails.
   */
  readonly alternatives: readonly { readonly sharedSecret: Bytes; readonly signedPreKey: SignedPreKey }[];
}

export interface KeyManagerOptions {
  crypto?: CryptoProvider;
  /** How long a rotated-out signed pre-key still answers establishments (default 14 days). */
  signedPreKeyRetentionMs?: number;
  /** Clock in ms since the epoch (default `Date.now`). */
  now?: () => number;
}

function wipePair(pair: X25519KeyPair): void {
  pair.privateKey.fill(0);
}

/**
 * An agent's X3DH key material: the X25519 form of its Ed25519 identity, signed pre-keys (current
 * and retained after rotation) and one-time pre-keys.
 */
export class X3DHKeyManager {
  readonly identityKey: X25519KeyPair;
  readonly identityKeyEd: Bytes;
  readonly crypto: CryptoProvider;
  readonly #seed: Bytes;
  readonly #retentionMs: number;
  readonly #now: () => number;
  #signedPreKey: SignedPreKey | null = null;
  /** Rotated-out signed pre-keys with the time they were replaced, newest first. */
  #retired: { key: SignedPreKey; retiredAt: number }[] = [];
  readonly #oneTimePreKeys = new Map<number, OneTimePreKey>();
  #nextSignedPreKeyId = 0;
  #nextOneTimePreKeyId = 0;

  private constructor(seed: Bytes, edPublic: Bytes, identityKey: X25519KeyPair, options: KeyManagerOptions, crypto: CryptoProvider) {
    this.#seed = seed;
    this.identityKeyEd = edPublic;
    this.identityKey = identityKey;
    this.crypto = crypto;
    this.#retentionMs = options.signedPreKeyRetentionMs ?? 14 * DAY_MS;
    this.#now = options.now ?? Date.now;
  }

  /** From libsodium's 64-byte secret key (seed || public) and the 32-byte public key. */
  static async fromEd25519Keys(secretKey: Uint8Array, publicKey: Uint8Array, options: KeyManagerOptions = {}): Promise<X3DHKeyManager> {
    if (secretKey.length !== 64) throw new InvalidKeyError(`the Ed25519 secret key must be 64 bytes, got ${secretKey.length}`);
    if (publicKey.length !== 32) throw new InvalidKeyError(`the Ed25519 public key must be 32 bytes, got ${publicKey.length}`);
    const crypto = options.crypto ?? getDefaultCryptoProvider();
    const seed = copyBytes(secretKey.subarray(0, 32));
    const derived = await crypto.ed25519PublicKey(seed);
    if (!crypto.constantTimeEqual(derived, publicKey) || !crypto.constantTimeEqual(derived, secretKey.subarray(32))) {
      seed.fill(0);
      throw new InvalidKeyError('the Ed25519 public key does not belong to the secret key');
    }
    const identityKey = { privateKey: crypto.ed25519ToX25519Private(seed), publicKey: crypto.ed25519ToX25519Public(derived) };
    return new X3DHKeyManager(seed, derived, identityKey, options, crypto);
  }

  get signedPreKey(): SignedPreKey | null {
    return this.#signedPreKey;
  }

  /** Rotated-out signed pre-keys still inside the retention window, newest first. */
  get retainedSignedPreKeys(): readonly SignedPreKey[] {
    this.#pruneRetired();
    return this.#retired.map((r) => r.key);
  }

  get oneTimePreKeyIds(): number[] {
    return [...this.#oneTimePreKeys.keys()].sort((a, b) => a - b);
  }

  get oneTimePreKeyCount(): number {
    return this.#oneTimePreKeys.size;
  }

  /** Makes a new signed pre-key current; the previous one is retained for the retention window. */
  async generateSignedPreKey(): Promise<SignedPreKey> {
    const keyPair = await this.crypto.x25519GenerateKeyPair();
    const signature = await this.crypto.ed25519Sign(this.#seed, keyPair.publicKey);
    const now = this.#now();
    const spk: SignedPreKey = { keyId: this.#nextSignedPreKeyId, keyPair, signature, createdAt: now };
    this.#nextSignedPreKeyId += 1;
    if (this.#signedPreKey) this.#retired.unshift({ key: this.#signedPreKey, retiredAt: now });
    this.#signedPreKey = spk;
    this.#pruneRetired();
    return spk;
  }

  async generateOneTimePreKeys(count = 10): Promise<OneTimePreKey[]> {
    if (!Number.isInteger(count) || count < 0 || count > MAX_ONE_TIME_BATCH) {
      throw new RangeError(`count must be an integer from 0 to ${MAX_ONE_TIME_BATCH}`);
    }
    const keys: OneTimePreKey[] = [];
    for (let i = 0; i < count; i++) {
      const otk: OneTimePreKey = { keyId: this.#nextOneTimePreKeyId, keyPair: await this.crypto.x25519GenerateKeyPair() };
      this.#nextOneTimePreKeyId += 1;
      this.#oneTimePreKeys.set(otk.keyId, otk);
      keys.push(otk);
    }
    return keys;
  }

  /** The public bundle; includes one-time pre-key `otkId` when given (it must exist). */
  getPublicBundle(otkId?: number | null): PreKeyBundle {
    const spk = this.#signedPreKey;
    if (!spk) throw new RatchetStateError('no signed pre-key yet: call generateSignedPreKey() first');
    let otk: OneTimePreKey | undefined;
    if (otkId !== undefined && otkId !== null) {
      otk = this.#oneTimePreKeys.get(otkId);
      if (!otk) throw new PreKeyNotFoundError(`one-time pre-key ${otkId} not found or already consumed`);
    }
    return {
      identityKey: copyBytes(this.identityKey.publicKey),
      identityKeyEd: copyBytes(this.identityKeyEd),
      signedPreKey: copyBytes(spk.keyPair.publicKey),
      signedPreKeySignature: copyBytes(spk.signature),
      signedPreKeyId: spk.keyId,
      oneTimePreKey: otk ? copyBytes(otk.keyPair.publicKey) : null,
      oneTimePreKeyId: otk ? otk.keyId : null,
    };
  }

  /**
   * Initiator side. Refuses, before drawing any randomness, a bundle whose signed pre-key is not
   * signed by `identityKeyEd` or whose `identityKey` is not the X25519 form of `identityKeyEd`.
   */
  async initiate(bundle: PreKeyBundle): Promise<X3DHResult> {
    checkBundleShape(bundle);
    const c = this.crypto;
    if (!(await c.ed25519Verify(bundle.identityKeyEd, bundle.signedPreKey, bundle.signedPreKeySignature))) {
      throw new InvalidBundleError('signed pre-key signature verification failed: the pre-key was not signed by the claimed identity key');
    }
    let expectedIdentity: Bytes;
    try {
      expectedIdentity = c.ed25519ToX25519Public(bundle.identityKeyEd);
    } catch (cause) {
      throw new InvalidBundleError('identity_key_ed is not a valid Ed25519 public key', { cause });
    }
    if (!c.constantTimeEqual(expectedIdentity, bundle.identityKey)) {
      throw new InvalidBundleError('identity_key is not the X25519 form of identity_key_ed');
    }
    const asBundleError = (cause: unknown) =>
      cause instanceof InvalidKeyError ? new InvalidBundleError(`bundle key rejected: ${cause.message}`, { cause }) : cause;
    const secrets: Bytes[] = [];
    const dh = async (priv: Uint8Array, pub: Uint8Array) => {
      try {
        const out = await c.x25519(priv, pub);
        secrets.push(out);
        return out;
      } catch (e) {
        throw asBundleError(e);
      }
    };
    try {
      // DH1 needs no randomness, so a low-order signed pre-key is refused before anything is drawn.
      const dh1 = await dh(this.identityKey.privateKey, bundle.signedPreKey);
      const ephemeral = await c.x25519GenerateKeyPair();
      secrets.push(ephemeral.privateKey);
      const km = [dh1, await dh(ephemeral.privateKey, bundle.identityKey), await dh(ephemeral.privateKey, bundle.signedPreKey)];
      if (bundle.oneTimePreKey) km.push(await dh(ephemeral.privateKey, bundle.oneTimePreKey));
      const sharedSecret = await deriveSharedSecret(c, km);
      return {
        sharedSecret,
        ephemeralPublicKey: ephemeral.publicKey,
        usedOneTimeKeyId: bundle.oneTimePreKey ? bundle.oneTimePreKeyId : null,
        associatedData: concatBytes(this.identityKey.publicKey, bundle.identityKey),
        signedPreKeyId: bundle.signedPreKeyId,
      };
    } finally {
      c.zeroize(...secrets);
    }
  }

  /**
   * Responder side. Consumes the one-time pre-key (an unknown or used id throws
   * `PreKeyNotFoundError`); a low-order key throws `InvalidKeyError` and consumes nothing.
   */
  async respond(params: {
    peerIdentityKey: Uint8Array;
    ephemeralPublicKey: Uint8Array;
    usedOneTimeKeyId?: number | null;
    signedPreKeyId?: number | null;
  }): Promise<X3DHResponse> {
    const { peerIdentityKey, ephemeralPublicKey } = params;
    for (const [name, key] of [['peerIdentityKey', peerIdentityKey], ['ephemeralPublicKey', ephemeralPublicKey]] as const) {
      if (!(key instanceof Uint8Array) || key.length !== 32) throw new InvalidKeyError(`${name} must be 32 bytes`);
    }
    const current = this.#signedPreKey;
    if (!current) throw new RatchetStateError('no signed pre-key: call generateSignedPreKey() first');
    this.#pruneRetired();
    let primary = current;
    let others: SignedPreKey[] = this.#retired.map((r) => r.key);
    if (params.signedPreKeyId !== undefined && params.signedPreKeyId !== null) {
      const named = [current, ...others].find((k) => k.keyId === params.signedPreKeyId);
      if (!named) throw new PreKeyNotFoundError(`signed pre-key ${params.signedPreKeyId} is unknown or expired`);
      primary = named;
      others = [];
    }
    const otkId = params.usedOneTimeKeyId ?? null;
    let otk: OneTimePreKey | undefined;
    if (otkId !== null) {
      otk = this.#oneTimePreKeys.get(otkId);
      if (!otk) throw new PreKeyNotFoundError(`one-time pre-key ${otkId} not found or already consumed`);
      // Claimed before any await so that two concurrent establishments cannot both use it.
      this.#oneTimePreKeys.delete(otkId);
    }
    const c = this.crypto;
    const secrets: Bytes[] = [];
    const dh = async (priv: Uint8Array, pub: Uint8Array) => {
      const out = await c.x25519(priv, pub);
      secrets.push(out);
      return out;
    };
    try {
      const dh2 = await dh(this.identityKey.privateKey, ephemeralPublicKey);
      const dh4 = otk ? await dh(otk.keyPair.privateKey, ephemeralPublicKey) : null;
      const agree = async (spk: SignedPreKey) => {
        const km = [await dh(spk.keyPair.privateKey, peerIdentityKey), dh2, await dh(spk.keyPair.privateKey, ephemeralPublicKey)];
        if (dh4) km.push(dh4);
        return deriveSharedSecret(c, km);
      };
      const sharedSecret = await agree(primary);
      const alternatives = [];
      for (const spk of others) alternatives.push({ sharedSecret: await agree(spk), signedPreKey: spk });
      if (otk) wipePair(otk.keyPair);
      return {
        sharedSecret,
        ephemeralPublicKey: copyBytes(ephemeralPublicKey),
        usedOneTimeKeyId: otkId,
        associatedData: concatBytes(peerIdentityKey, this.identityKey.publicKey),
        signedPreKeyId: primary.keyId,
        signedPreKey: primary,
        alternatives,
      };
    } catch (error) {
      if (otk && otkId !== null) this.#oneTimePreKeys.set(otkId, otk);
      throw error;
    } finally {
      c.zeroize(...secrets);
    }
  }

  /** Zeroes every private key this manager holds. */
  destroy(): void {
    this.#seed.fill(0);
    this.identityKey.privateKey.fill(0);
    if (this.#signedPreKey) wipePair(this.#signedPreKey.keyPair);
    for (const r of this.#retired) wipePair(r.key.keyPair);
    for (const k of this.#oneTimePreKeys.values()) wipePair(k.keyPair);
    this.#oneTimePreKeys.clear();
    this.#retired = [];
  }

  #pruneRetired(): void {
    const cutoff = this.#now() - this.#retentionMs;
    this.#retired = this.#retired.filter((r) => {
      if (r.retiredAt >= cutoff) return true;
      wipePair(r.key.keyPair);
      return false;
    });
  }
}

/** SK = HKDF-SHA256(salt = 0^32, ikm = 0xFF^32 || DH1 || DH2 || DH3 [|| DH4], info = AgentMesh_X3DH_v1). */
async function deriveSharedSecret(crypto: CryptoProvider, parts: Uint8Array[]): Promise<Bytes> {
  const ikm = concatBytes(X3DH_PAD, ...parts);
  try {
    return await crypto.hkdfSha256(ikm, X3DH_SALT, X3DH_INFO, 32);
  } finally {
    ikm.fill(0);
  }
}
