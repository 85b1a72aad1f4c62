import { getDefaultCryptoProvider, type CryptoProvider, type X25519KeyPair } from '../crypto/index.js';
import { concatBytes, copyBytes, fromBase64Any, toBase64Url, utf8, type Bytes } from '../encoding.js';
import { InvalidBundleError, InvalidKeyError, PreKeyNotFoundError, RatchetStateError } from '../errors.js';
import { publicKeyId, Redacted, type Described } from '../redacted.js';
import { checkBundleShape, verifyBundleKeys, type PreKeyBundle } from './bundle.js';

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

/** A signed pre-key in `exportPreKeys()` form; `retired_at` is null for the current one. Secret. */
export interface SignedPreKeyJson {
  key_id: number;
  public_key: string;
  private_key: string;
  signature: string;
  created_at: number;
  retired_at: number | null;
}

/** A one-time pre-key in `exportPreKeys()` form. Secret. */
export interface OneTimePreKeyJson {
  key_id: number;
  public_key: string;
  private_key: string;
}

/**
 * Every pre-key a manager holds, private halves included (byte fields base64url without padding),
 * and the next ids it will hand out. Secret: store it wrapped.
 */
export interface PreKeySetJson {
  version: 1;
  signed_pre_keys: SignedPreKeyJson[];
  one_time_pre_keys: OneTimePreKeyJson[];
  next_signed_pre_key_id: number;
  next_one_time_pre_key_id: number;
}

/** Most keys `importPreKeys` accepts (a parser limit, far above what rotation and top-ups keep). */
export const PRE_KEY_IMPORT_LIMITS = { maxSignedPreKeys: 1000, maxOneTimePreKeys: 100_000 } as const;

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
      manager.destroy();
      throw error;
    }
    return manager;
  }

  /** Every pre-key held (current and retained signed, one-time), private halves included, as JSON. */
  exportPreKeys(): PreKeySetJson {
    this.#pruneRetired();
    const signed = (k: SignedPreKey, retiredAt: number | null): SignedPreKeyJson => ({
      key_id: k.keyId,
      public_key: toBase64Url(k.keyPair.publicKey),
      private_key: toBase64Url(k.keyPair.privateKey),
      signature: toBase64Url(k.signature),
      created_at: k.createdAt,
      retired_at: retiredAt,
    });
    return {
      version: 1,
      signed_pre_keys: [
        ...(this.#signedPreKey ? [signed(this.#signedPreKey, null)] : []),
        ...this.#retired.map((r) => signed(r.key, r.retiredAt)),
      ],
      one_time_pre_keys: [...this.#oneTimePreKeys.values()].map((k) => ({
        key_id: k.keyId,
        public_key: toBase64Url(k.keyPair.publicKey),
        private_key: toBase64Url(k.keyPair.privateKey),
      })),
      next_signed_pre_key_id: this.#nextSignedPreKeyId,
      next_one_time_pre_key_id: this.#nextOneTimePreKeyId,
    };
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
      for (const k of all) wipePair(k.keyPair);
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
    for (const k of old) if (k) wipePair(k.keyPair);
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
    await verifyBundleKeys(bundle, c);
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

/** Parses (without verifying keys) the `exportPreKeys()` form; throws `InvalidKeyError`, keeping nothing it decoded. */
function parsePreKeySet(input: unknown): {
  signed: { key: SignedPreKey; retiredAt: number | null }[];
  oneTime: OneTimePreKey[];
  nextSignedPreKeyId: number;
  nextOneTimePreKeyId: number;
} {
  const fail = (message: string) => new InvalidKeyError(`invalid pre-key export: ${message}`);
  const decoded: Bytes[] = [];
  const record = (v: unknown, what: string): Record<string, unknown> => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw fail(`${what} must be an object`);
    return v as Record<string, unknown>;
  };
  const bytes = (r: Record<string, unknown>, field: string, length: number, what: string): Bytes => {
    const v = r[field];
    // base64 of `length` bytes is at most 4 * ceil(length / 3) characters (with padding).
    if (typeof v !== 'string' || v.length > 4 * Math.ceil(length / 3)) throw fail(`${what}.${field} must be base64 of ${length} bytes`);
    let out: Bytes;
    try {
      out = fromBase64Any(v);
    } catch {
      throw fail(`${what}.${field} is not base64`);
    }
    decoded.push(out);
    if (out.length !== length) throw fail(`${what}.${field} must be ${length} bytes`);
    return out;
  };
  const id = (v: unknown, what: string): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) throw fail(`${what} must be a uint32`);
    return v;
  };
  const time = (v: unknown, what: string): number => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw fail(`${what} must be a time in ms`);
    return v;
  };
  const counter = (v: unknown, what: string): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0x100000000) throw fail(`${what} must be an id counter`);
    return v;
  };
  try {
    const r = record(input, 'the export');
    if (r.version !== 1) throw fail(`unsupported version ${typeof r.version === 'number' ? r.version : typeof r.version}`);
    const signedIn = r.signed_pre_keys;
    const oneTimeIn = r.one_time_pre_keys;
    if (!Array.isArray(signedIn) || signedIn.length > PRE_KEY_IMPORT_LIMITS.maxSignedPreKeys) {
      throw fail(`signed_pre_keys must be an array of at most ${PRE_KEY_IMPORT_LIMITS.maxSignedPreKeys}`);
    }
    if (!Array.isArray(oneTimeIn) || oneTimeIn.length > PRE_KEY_IMPORT_LIMITS.maxOneTimePreKeys) {
      throw fail(`one_time_pre_keys must be an array of at most ${PRE_KEY_IMPORT_LIMITS.maxOneTimePreKeys}`);
    }
    const signed = signedIn.map((v, i) => {
      const s = record(v, `signed_pre_keys[${i}]`);
      const what = `signed_pre_keys[${i}]`;
      const retiredAt = s.retired_at === null ? null : time(s.retired_at, `${what}.retired_at`);
      const key: SignedPreKey = {
        keyId: id(s.key_id, `${what}.key_id`),
        keyPair: { publicKey: bytes(s, 'public_key', 32, what), privateKey: bytes(s, 'private_key', 32, what) },
        signature: bytes(s, 'signature', 64, what),
        createdAt: time(s.created_at, `${what}.created_at`),
      };
      return { key, retiredAt };
    });
    const oneTime = oneTimeIn.map((v, i): OneTimePreKey => {
      const o = record(v, `one_time_pre_keys[${i}]`);
      const what = `one_time_pre_keys[${i}]`;
      return {
        keyId: id(o.key_id, `${what}.key_id`),
        keyPair: { publicKey: bytes(o, 'public_key', 32, what), privateKey: bytes(o, 'private_key', 32, what) },
      };
    });
    if (signed.filter((s) => s.retiredAt === null).length > 1) throw fail('more than one current signed pre-key (retired_at null)');
    if (signed.length > 0 && !signed.some((s) => s.retiredAt === null)) throw fail('retained signed pre-keys without a current one');
    const unique = (ids: number[], what: string) => {
      if (new Set(ids).size !== ids.length) throw fail(`duplicate ${what} ids`);
    };
    unique(signed.map((s) => s.key.keyId), 'signed pre-key');
    unique(oneTime.map((k) => k.keyId), 'one-time pre-key');
    const nextSignedPreKeyId = counter(r.next_signed_pre_key_id, 'next_signed_pre_key_id');
    const nextOneTimePreKeyId = counter(r.next_one_time_pre_key_id, 'next_one_time_pre_key_id');
    // An id at or past the counter would be handed out a second time: refuse rather than reuse a key id.
    if (signed.some((s) => s.key.keyId >= nextSignedPreKeyId)) throw fail('a signed pre-key id is not below next_signed_pre_key_id');
    if (oneTime.some((k) => k.keyId >= nextOneTimePreKeyId)) throw fail('a one-time pre-key id is not below next_one_time_pre_key_id');
    return { signed, oneTime, nextSignedPreKeyId, nextOneTimePreKeyId };
  } catch (error) {
    for (const b of decoded) b.fill(0);
    throw error;
  }
}
