import { describe, expect, it } from 'vitest';
import { getDefaultCryptoProvider } from '../src/crypto/index.js';
import { ChallengeBook } from '../src/trust/index.js';
import { reasonOf } from './trust-fixtures.js';

const PEER = 'did:mesh:' + '1'.repeat(32);


describe('ChallengeBook', () => {
  const crypto = getDefaultCryptoProvider();

  it('hands a challenge out once: then replayed; expired after its lifetime; unknown once forgotten', () => {
    const book = new ChallengeBook();
    const c = book.issue(PEER, crypto, 0, 30);
    expect(book.take(c.challenge_id, 30_000, PEER).peerDid).toBe(PEER);
    expect(reasonOf(() => book.take(c.challenge_id, 30_000, PEER))).toBe('replayed');

    const late = book.issue(PEER, crypto, 0, 30);
    expect(reasonOf(() => book.take(late.challenge_id, 30_001, PEER))).toBe('expired');
    // Taken even though it failed: a second late copy is a replay.
    expect(reasonOf(() => book.take(late.challenge_id, 30_002, PEER))).toBe('replayed');

    // Records are kept for a second lifetime past expiry, then forgotten (pruned on the next issue).
    book.issue(PEER, crypto, 90_001, 30);
    expect(reasonOf(() => book.take(c.challenge_id, 90_001, PEER))).toBe('unknown_challenge');
  });

  it('claims only the challenge an exchange expects, and caps what is outstanding', () => {
    const book = new ChallengeBook({ maxPending: 2 });
    const first = book.issue(PEER, crypto, 0, 30);
    const second = book.issue(PEER, crypto, 0, 30);
    expect(reasonOf(() => book.take(second.challenge_id, 1, PEER, first.challenge_id))).toBe('unknown_challenge');
    expect(book.pendingCount).toBe(2);
    expect(reasonOf(() => book.issue(PEER, crypto, 0, 30))).toBe('busy');
    book.withdraw(first.challenge_id);
    expect(book.pendingCount).toBe(1);
    expect(reasonOf(() => book.take(first.challenge_id, 1, PEER))).toBe('unknown_challenge');
    expect(first.challenge_id).not.toBe(second.challenge_id);
    expect(first.nonce).not.toBe(second.nonce);
  });
});
