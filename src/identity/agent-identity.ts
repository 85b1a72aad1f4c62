import { getDefaultCryptoProvider, type CryptoProvider } from '../crypto/index.js';
import { concatBytes, copyBytes, type Bytes } from '../encoding.js';
import { InvalidKeyError } from '../errors.js';
import { Redacted, type Described } from '../redacted.js';
import { didFromPublicKey } from './did.js';

/** An agent's long-term Ed25519 identity and its self-certifying DID. */
export class AgentIdentity extends Redacted {
  readonly did: string;
  readonly publicKey: Bytes;
  readonly #seed: Bytes;
  readonly #crypto: CryptoProvider;
  #wiped = false;

  private constructor(seed: Bytes, publicKey: Bytes, crypto: CryptoProvider) {
    super('AgentIdentity');
    this.#seed = seed;
    this.publicKey = publicKey;
    this.#crypto = crypto;
    this.did = didFromPublicKey(publicKey);
  }

  static async generate(options: { crypto?: CryptoProvider } = {}): Promise<AgentIdentity> {
    const crypto = options.crypto ?? getDefaultCryptoProvider();
    return AgentIdentity.fromSeed(crypto.randomBytes(32), { crypto });
  }

  static async fromSeed(seed: Uint8Array, options: { crypto?: CryptoProvider } = {}): Promise<AgentIdentity> {
    if (seed.length !== 32) throw new InvalidKeyError(`an Ed25519 seed is 32 bytes, got ${seed.length}`);
    const crypto = options.crypto ?? getDefaultCryptoProvider();
    const own = copyBytes(seed);
    return new AgentIdentity(own, await crypto.ed25519PublicKey(own), crypto);
  }

  /** From libsodium's 64-byte secret key (seed || public); the public half must match the seed. */
  static async fromSecretKey(secretKey: Uint8Array, options: { crypto?: CryptoProvider } = {}): Promise<AgentIdentity> {
    if (secretKey.length !== 64) throw new InvalidKeyError(`an Ed25519 secret key is 64 bytes, got ${secretKey.length}`);
    const identity = await AgentIdentity.fromSeed(secretKey.subarray(0, 32), options);
    const crypto = options.crypto ?? getDefaultCryptoProvider();
    if (!crypto.constantTimeEqual(identity.publicKey, secretKey.subarray(32))) {
      identity.wipe();
      throw new InvalidKeyError('the public half of the 64-byte secret key does not belong to its seed');
    }
    return identity;
  }

  /** seed || public, the form `X3DHKeyManager.fromEd25519Keys` takes. Treat as secret. */
  get secretKey(): Bytes {
    this.#assertAlive();
    return concatBytes(this.#seed, this.publicKey);
  }

  async sign(message: Uint8Array): Promise<Bytes> {
    this.#assertAlive();
    return this.#crypto.ed25519Sign(this.#seed, message);
  }

  async verify(message: Uint8Array, signature: Uint8Array): Promise<boolean> {
    return this.#crypto.ed25519Verify(this.publicKey, message, signature);
  }

  static async verify(
    publicKey: Uint8Array,
    message: Uint8Array,
    signature: Uint8Array,
    options: { crypto?: CryptoProvider } = {},
  ): Promise<boolean> {
    return (options.crypto ?? getDefaultCryptoProvider()).ed25519Verify(publicKey, message, signature);
  }

  /**
   * Zeroes the seed through the provider, which also drops the key object a native backend
   * imported for it; the identity can no longer sign.
   */
  wipe(): void {
    this.#crypto.zeroize(this.#seed);
    this.#wiped = true;
  }

  /** The DID only (what `String()`, `util.inspect` and `JSON.stringify` print). */
  describe(): Described {
    return { did: this.did, wiped: this.#wiped };
  }

  #assertAlive(): void {
    if (this.#wiped) throw new InvalidKeyError('this identity was wiped');
  }
}
