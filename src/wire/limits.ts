/** Upper bounds every parser enforces before it allocates or loops. */
export const LIMITS = {
  /** Largest ciphertext field (nonce || ciphertext || tag) accepted, binary or JSON. */
  maxCiphertextBytes: 16 * 1024 * 1024,
  /** Largest JSON text any `decode*`/`fromJSON` accepts. */
  maxJsonChars: 32 * 1024 * 1024,
  /** Largest key id accepted in bundles and establishments. */
  maxKeyId: 0xffffffff,
} as const;

export const HEADER_LENGTH = 40;
export const NONCE_LENGTH = 12;
export const TAG_LENGTH = 16;
export const KEY_LENGTH = 32;
