// The allowances of `src/agent/stranger-budget.ts` and the try counts of `delivery-tries.ts`, on
// a clock moved by hand (issue 14 classes 2 and 3; the attacks themselves run over the local
// Worker in integration-mesh-agent-abuse.test.ts).
import { describe, expect, it } from 'vitest';
import { DeliveryTries } from '../src/agent/delivery-tries.js';
import { StrangerBudget } from '../src/agent/stranger-budget.js';
import { TrustConfigError } from '../src/trust/errors.js';

const did = (i: number) => `did:mesh:${String(i).padStart(32, '0')}`;

describe('the strangers’ budget', () => {
  it('any number of strangers together get the shared allowance, refilled at its rate; established peers never draw on it', () => {
    let t = 0;
    const budget = new StrangerBudget({ framesPerMinute: 60, burstFrames: 20, perPeerFramesPerMinute: 6 }, () => t);
    let paid = 0;
    for (let i = 0; i < 1000; i++) if (budget.charge(did(i), 2, true) === null) paid += 2;
    expect(paid).toBe(20);
    expect(budget.charge(did(5000), 1, true)).toBe('strangers');
    // An established peer is served whatever strangers spent.
    expect(budget.charge(did(7), 2, false)).toBeNull();
    t += 10_000; // ten more frames' worth
    for (let i = 1000; i < 2000; i++) if (budget.charge(did(i), 1, true) === null) paid += 1;
    expect(paid).toBe(30);
  });

  it('one peer gets its own allowance only, stranger or not', () => {
    let t = 0;
    const budget = new StrangerBudget({ perPeerFramesPerMinute: 6 }, () => t);
    expect([1, 2, 3, 4].map(() => budget.charge(did(1), 2, false))).toEqual([null, null, null, 'peer']);
    expect(budget.peerCanPay(did(1), 1)).toBe(false);
    expect(budget.peerCanPay(did(2), 2)).toBe(true);
    t += 20_000;
    expect(budget.charge(did(1), 2, false)).toBeNull();
  });

  it('a prepaid answer is spent once, and handshakes in flight are capped', () => {
    const budget = new StrangerBudget({ handshakesInFlight: 2 });
    budget.prepay(did(1));
    expect(budget.collectPrepaid(did(1))).toBe(true);
    expect(budget.collectPrepaid(did(1))).toBe(false);
    const leave = [budget.enterHandshake(), budget.enterHandshake()];
    expect(budget.enterHandshake()).toBeNull();
    leave[0]!();
    leave[0]!();
    expect(budget.enterHandshake()).not.toBeNull();
    expect(budget.enterHandshake()).toBeNull();
  });

  it('refuses allowances that cannot work', () => {
    expect(() => new StrangerBudget({ framesPerMinute: 0 })).toThrow(TrustConfigError);
    expect(() => new StrangerBudget({ burstFrames: 1.5 })).toThrow(TrustConfigError);
  });
});

describe('delivery tries', () => {
  it('counts per frame, forgets on success, and a sender that fails many frames evicts only its own counts', () => {
    const tries = new DeliveryTries();
    expect([tries.record(did(1), 'a'), tries.record(did(1), 'a'), tries.record(did(1), 'a')]).toEqual([1, 2, 3]);
    tries.forget(did(1), 'a');
    expect(tries.record(did(1), 'a')).toBe(1);
    tries.record(did(2), 'keep');
    for (let i = 0; i < 100; i++) tries.record(did(3), `flood ${i}`);
    expect(tries.record(did(2), 'keep')).toBe(2);
    expect(tries.record(did(3), 'flood 0')).toBe(1);
  });
});
