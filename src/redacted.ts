import { toHex, type Bytes } from './encoding.js';

/**
 * What key-holding objects print: counters and ids, never key bytes (as vodozemac's `Debug` for a
 * message key prints only its index). Such classes extend `Redacted`, so `String()`,
 * `util.inspect` and `JSON.stringify` all print their `describe()`. Persistence never goes through
 * these: it has its own explicit forms (`RatchetState.toDict`).
 */

/** Node's `util.inspect` hook, taken from the global symbol registry (no node: import). */
export const INSPECT: unique symbol = Symbol.for('nodejs.util.inspect.custom') as never;

export type Described = Record<string, string | number | boolean | null>;

/** An id for a public key: its first 4 bytes in hex. Never use it on a secret. */
export function publicKeyId(publicKey: Uint8Array | null): string | null {
  return publicKey ? toHex(publicKey.subarray(0, 4)) : null;
}

export abstract class Redacted {
  readonly #name: string;

  protected constructor(name: string) {
    this.#name = name;
  }

  /** Counters and public-key ids only. */
  abstract describe(): Described;

  /** `Name { a: 1, b: 'x' }`. */
  toString(): string {
    const parts = Object.entries(this.describe()).map(([k, v]) => `${k}: ${typeof v === 'string' ? `'${v}'` : String(v)}`);
    return parts.length === 0 ? this.#name : `${this.#name} { ${parts.join(', ')} }`;
  }

  toJSON(): Described {
    return this.describe();
  }

  [INSPECT](): string {
    return this.toString();
  }
}

/** An X25519 pair as the crypto provider hands it out: it prints the id of its public key only. */
export class RedactedKeyPair extends Redacted {
  constructor(
    readonly privateKey: Bytes,
    readonly publicKey: Bytes,
  ) {
    super('X25519KeyPair');
  }

  describe(): Described {
    return { publicKey: publicKeyId(this.publicKey) };
  }
}
