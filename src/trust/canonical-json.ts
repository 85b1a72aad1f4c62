import { InvalidTrustFrameError } from './errors.js';
import { TRUST_LIMITS } from './limits.js';

/**
 * Canonical JSON as in RFC 8785 (JCS) for the values our frames hold: object keys sorted by UTF-16
 * code units, no whitespace, strings and numbers as `JSON.stringify` writes them. Signatures cover
 * these bytes, so anything that could serialize two ways (non-finite numbers, `undefined`, class
 * instances) is refused rather than guessed at.
 */
export function canonicalJson(value: unknown, maxChars: number = TRUST_LIMITS.maxFrameChars): string {
  const parts: string[] = [];
  let length = 0;
  const push = (text: string) => {
    length += text.length;
    if (length > maxChars) throw new InvalidTrustFrameError(`canonical encoding longer than ${maxChars} characters`);
    parts.push(text);
  };
  const write = (v: unknown, depth: number): void => {
    if (depth > TRUST_LIMITS.maxDepth) throw new InvalidTrustFrameError(`nested deeper than ${TRUST_LIMITS.maxDepth} levels`);
    if (v === null || typeof v === 'boolean' || typeof v === 'string') return push(JSON.stringify(v));
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) throw new InvalidTrustFrameError('non-finite numbers have no JSON form');
      return push(JSON.stringify(v));
    }
    if (Array.isArray(v)) {
      push('[');
      v.forEach((item, i) => {
        if (i > 0) push(',');
        write(item, depth + 1);
      });
      return push(']');
    }
    if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
      const record = v as Record<string, unknown>;
      const keys = Object.keys(record).filter((k) => record[k] !== undefined).sort();
      push('{');
      keys.forEach((k, i) => {
        if (i > 0) push(',');
        push(JSON.stringify(k));
        push(':');
        write(record[k], depth + 1);
      });
      return push('}');
    }
    throw new InvalidTrustFrameError(`a ${typeof v} has no canonical JSON form`);
  };
  write(value, 0);
  return parts.join('');
}
