import { toHex, type Bytes } from './encoding.js';

/**
 * What key-holding objects print: counters and ids, never key bytes (as vodozemac's `Debug` for a
 * message key prints only its index). Classes that hold secrets define `[INSPECT]`, `toString` and,
 * where their public fields would otherwise serialize a secret, `toJSON`, all through `describe`.
 * Persistence never goes through these: it has its own explicit forms (`RatchetState.toDict`).
 */

/** Node's `util.inspect` hook, taken from the global symbol registry (no node: import). */
export const INSPECT: unique symbol = Symbol.for('nodejs.util.inspect.custom') as never;

export type Described = Record<string, string | number | boolean | null>;

/** `Name { a: 1, b: 'x' }`, the one-line form every redacted object prints. */
export function describe(name: string, fields: Described): string {
  const parts = Object.entries(fields).map(([k, v]) => `${k}: ${typeof v === 'string' ? `'${v}'` : String(v)}`);
  return parts.length === 0 ? name : `${name} { ${parts.join(', ')} }`;
}

/** An id for a public key: its first 4 bytes in hex. Never use it on a secret. */
export function publicKeyId(publicKey: Uint8Array | null): string | null {
  return publicKey ? toHex(publicKey.subarray(0, 4)) : null;
}

/** An X25519 pair as the crypto provider hands it out: it prints the id of its public key only. */
export class RedactedKeyPair {
  constructor(
    readonly privateKey: Bytes,
    readonly publicKey: Bytes,
  ) {}

  toString(): string {
    return describe('X25519KeyPair', { publicKey: publicKeyId(this.publicKey) });
  }

  toJSON(): Described {
    return { publicKey: publicKeyId(this.publicKey) };
  }

  [INSPECT](): string {
    return this.toString();
  }
}
