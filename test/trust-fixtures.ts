// Shared by the trust tests.
import { expect } from 'vitest';
import { TrustError } from '../src/trust/index.js';

/** The `TrustError` reason `fn` throws, or 'ok' when it returns. */
export function reasonOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TrustError);
    return (e as TrustError).reason;
  }
  return 'ok';
}
