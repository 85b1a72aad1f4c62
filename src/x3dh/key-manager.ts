import { getDefaultCryptoProvider, type CryptoProvider, type X25519KeyPair } from '../crypto/index.js';
import { copyBytes, type Bytes } from '../encoding.js';
import { InvalidKeyError, PreKeyNotFoundError } from '../errors.js';
import { MAX_ONE_TIME_PRE_KEYS_PER_CALL, SIGNED_PRE_KEY_RETENTION_MS } from '../prekeys/policy.js';
import { publicKeyId, Redacted, type Described } from '../redacted.js';
import { initiate, respond } from './agreement.js';
import type { PreKeyBundle } from './bundle.js';
import { encodePreKeySet, parsePreKeySet, type OneTimePreKey, type PreKeySetJson, type SignedPreKey } from './prekey-set.js';

export type { OneTimePreKey, SignedPreKey } from './prekey-set.js';
export { PRE_KEY_IMPORT_LIMITS, type OneTimePreKeyJson, type PreKeySetJson, type SignedPreKeyJson } from './prekey-set.js';

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
  /** How long a rotated-out signed pre-key still answers establishments (default `SIGNED_PRE_KEY_RETENTION_MS`, 14 days). */
  signedPreKeyRetentionMs?: number;
  /** Clock in ms since the epoch (default `Date.now`). */
  now?: () => number;
}


/**
 * The tutorial's in-memory X3DH key holder: the X25519 form of an Ed25519 identity, signed pre-keys
 * (current and retained after rotation) and one-time pre-keys. The agreement itself is the pure
 * functions of `agreement.ts`; store-backed agents keep their pre-keys in `src/prekeys` instead.
 */
export class X3DHKeyManager extends Redacted {
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
    super('X3DHKeyManager');
    this.#seed = seed;
    this.identityKeyEd = edPublic;
    this.identityKey = identityKey;
    this.crypto = crypto;
    this.#retentionMs = options.signedPreKeyRetentionMs ?? SIGNED_PRE_KEY_RETENTION_MS;
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

  /** A manager for these identity keys holding exactly the pre-keys of `preKeys` (see `importPreKeys`). */
  static async restore(
    secretKey: Uint8Array,
    publicKey: Uint8Array,
    preKeys: unknown,
    options: KeyManagerOptions = {},
  ): Promise<X3DHKeyManager> {
    const manager = await X3DHKeyManager.fromEd25519Keys(secretKey, publicKey, options);
    try {
      await manager.importPreKeys(preKeys);
    } catch (error) {
      manager.wipe();
      throw error;
    }
    return manager;
  }

  /** Every pre-key held (current and retained signed, one-time), private halves included, as JSON. */
  exportPreKeys(): PreKeySetJson {
    this.#pruneRetired();
    const signed = [...(this.#signedPreKey ? [{ key: this.#signedPreKey, retiredAt: null }] : []), ...this.#retired];
    return encodePreKeySet(signed, this.#oneTimePreKeys.values(), { signed: this.#nextSignedPreKeyId, oneTime: this.#nextOneTimePreKeyId });
  }

  /**
   * Replaces every pre-key held with those of an `exportPreKeys()` record. Checks all of it first:
   * shapes and limits, that each public key belongs to its private key, that each signed pre-key is
   * signed by this identity, that the next ids lie past every id present. On any failure it throws
   * `InvalidKeyError` and the manager is unchanged.
   */
  async importPreKeys(input: unknown): Promise<void> {
    const parsed = parsePreKeySet(input);
    const all = [...parsed.signed.map((s) => s.key), ...parsed.oneTime];
    try {
      for (const k of all) {
        const derived = await this.crypto.x25519PublicKey(k.keyPair.privateKey);
        if (!this.crypto.constantTimeEqual(derived, k.keyPair.publicKey)) {
          throw new InvalidKeyError(`pre-key ${k.keyId}: the public key does not belong to the private key`);
        }
      }
      for (const { key } of parsed.signed) {
        if (!(await this.crypto.ed25519Verify(this.identityKeyEd, key.keyPair.publicKey, key.signature))) {
          throw new InvalidKeyError(`signed pre-key ${key.keyId} is not signed by this identity`);
        }
      }
    } catch (error) {
      for (const k of all) this.#wipePair(k.keyPair);
      throw error;
    }
    // Validated: swap in synchronously, then zero what was replaced.
    const old = [this.#signedPreKey, ...this.#retired.map((r) => r.key), ...this.#oneTimePreKeys.values()];
    const current = parsed.signed.find((s) => s.retiredAt === null);
    this.#signedPreKey = current ? current.key : null;
    this.#retired = parsed.signed
      .filter((s) => s.retiredAt !== null)
      .map((s) => ({ key: s.key, retiredAt: s.retiredAt as number }))
      .sort((a, b) => b.retiredAt - a.retiredAt);
    this.#oneTimePreKeys.clear();
    for (const k of parsed.oneTime) this.#oneTimePreKeys.set(k.keyId, k);
    this.#nextSignedPreKeyId = parsed.nextSignedPreKeyId;
    this.#nextOneTimePreKeyId = parsed.nextOneTimePreKeyId;
    for (const k of old) if (k) this.#wipePair(k.keyPair);
    this.#pruneRetired();
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

  /** Key ids and counts only (what `String()`, `util.inspect` and `JSON.stringify` print). */
  describe(): Described {
    return {
      identityKey: publicKeyId(this.identityKey.publicKey),
      signedPreKeyId: this.#signedPreKey?.keyId ?? null,
      retainedSignedPreKeys: this.#retired.length,
      oneTimePreKeys: this.#oneTimePreKeys.size,
    };
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
    checkOneTimeCount(count);
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
    if (!spk) throw new PreKeyNotFoundError('no signed pre-key yet: call generateSignedPreKey() first');
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

  /** Initiator side (`initiate` in agreement.ts, with this identity). */
  async initiate(bundle: PreKeyBundle): Promise<X3DHResult> {
    const { sharedSecret, associatedData, establishment } = await initiate(this.identityKey, bundle, this.crypto);
    return {
      sharedSecret,
      ephemeralPublicKey: establishment.ephemeralKey,
      usedOneTimeKeyId: establishment.usedOneTimeKeyId,
      associatedData,
      signedPreKeyId: bundle.signedPreKeyId,
    };
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
    if (!current) throw new PreKeyNotFoundError('no signed pre-key yet: call generateSignedPreKey() first');
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
    const establishment = { identityKey: peerIdentityKey, ephemeralKey: ephemeralPublicKey };
    const agree = (spk: SignedPreKey) =>
      respond({ identity: this.identityKey, signedPreKey: spk.keyPair, oneTimePreKey: otk?.keyPair ?? null }, establishment, this.crypto);
    const made: Bytes[] = [];
    try {
      const { sharedSecret, associatedData } = await agree(primary);
      made.push(sharedSecret);
      const alternatives = [];
      for (const spk of others) {
        const alternative = await agree(spk);
        made.push(alternative.sharedSecret);
        alternatives.push({ sharedSecret: alternative.sharedSecret, signedPreKey: spk });
      }
      if (otk) this.#wipePair(otk.keyPair);
      return {
        sharedSecret,
        ephemeralPublicKey: copyBytes(ephemeralPublicKey),
        usedOneTimeKeyId: otkId,
        associatedData,
        signedPreKeyId: primary.keyId,
        signedPreKey: primary,
        alternatives,
      };
    } catch (error) {
      for (const secret of made) secret.fill(0);
      if (otk && otkId !== null) this.#oneTimePreKeys.set(otkId, otk);
      throw error;
    }
  }

  /**
   * Zeroes every private key this manager holds, through the provider so that a native backend's
   * imported copies go too. The manager is unusable afterwards.
   */
  wipe(): void {
    this.crypto.zeroize(this.#seed);
    this.crypto.zeroize(this.identityKey.privateKey);
    if (this.#signedPreKey) this.#wipePair(this.#signedPreKey.keyPair);
    for (const r of this.#retired) this.#wipePair(r.key.keyPair);
    for (const k of this.#oneTimePreKeys.values()) this.#wipePair(k.keyPair);
    this.#oneTimePreKeys.clear();
    this.#retired = [];
  }

  #wipePair(pair: X25519KeyPair): void {
    this.crypto.zeroize(pair.privateKey);
  }

  #pruneRetired(): void {
    const cutoff = this.#now() - this.#retentionMs;
    this.#retired = this.#retired.filter((r) => {
      if (r.retiredAt >= cutoff) return true;
      this.#wipePair(r.key.keyPair);
      return false;
    });
  }
}

/** A one-time pre-key batch size, as `generateOneTimePreKeys` takes it (a caller's mistake is a `RangeError`). */
export function checkOneTimeCount(count: number): void {
  if (!Number.isInteger(count) || count < 0 || count > MAX_ONE_TIME_PRE_KEYS_PER_CALL) {
    throw new RangeError(`count must be an integer from 0 to ${MAX_ONE_TIME_PRE_KEYS_PER_CALL}`);
  }
}
