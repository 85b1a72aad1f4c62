/** Upper bounds for trust and KNOCK frames; every parser checks them before it reads further. */
export const TRUST_LIMITS = {
  /** Largest frame accepted as JSON text, and largest canonical encoding signed or verified. */
  maxFrameChars: 64 * 1024,
  /** Deepest nesting accepted by the canonical encoder. */
  maxDepth: 8,
  maxTypeLength: 64,
  /** Challenge ids and nonces: the reference's hex tokens fit with room to spare. */
  maxTokenLength: 128,
  maxTextLength: 1024,
  maxReasonLength: 256,
  maxListItems: 64,
  maxListItemLength: 128,
  /** Longest challenge lifetime a peer may ask for. */
  maxChallengeSeconds: 300,
  /** Longest channel TTL a KNOCK may grant (one year). */
  maxTtlSeconds: 365 * 24 * 60 * 60,
  maxMessages: 0x7fffffff,
} as const;
