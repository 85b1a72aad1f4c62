import { describe, expect, it } from 'vitest';
import { toHex } from '../src/encoding.js';
import { MemoryAgentStore } from '../src/storage/index.js';
import { connect, newAgent, utf8 } from './session-fixtures.js';

describe('SessionInfo.ratchet', () => {
  it('reports the counters and a new DH key at each DH step, and nothing secret', async () => {
    const alice = await newAgent(new MemoryAgentStore());
    const bob = await newAgent(new MemoryAgentStore());
    await connect(alice, bob); // alice → bob, bob → alice: one DH step each way
    const before = (await alice.getSession(bob.did))!.ratchet;
    expect(before.remoteDhPublicKey).not.toBeNull();
    expect(before.sendCount).toBe(0); // alice's new sending chain starts at her next message

    const m1 = await alice.send(bob.did, utf8('one'));
    const m2 = await alice.send(bob.did, utf8('two'));
    let a = (await alice.getSession(bob.did))!.ratchet;
    expect(a.sendCount).toBe(2);
    expect(toHex(a.dhPublicKey)).toBe(toHex(m1.header.dhPublicKey));
    await bob.receive(alice.did, m2); // out of order: one skipped key
    let b = (await bob.getSession(alice.did))!.ratchet;
    expect(b.receiveCount).toBe(2);
    expect(b.skippedKeys).toBe(1);
    expect(toHex(b.remoteDhPublicKey!)).toBe(toHex(a.dhPublicKey));
    await bob.receive(alice.did, m1);
    expect((await bob.getSession(alice.did))!.ratchet.skippedKeys).toBe(0);

    // Bob answers: a DH step on both sides; alice's key changes when she next sends.
    await alice.receive(bob.did, await bob.send(alice.did, utf8('back')));
    b = (await bob.getSession(alice.did))!.ratchet;
    a = (await alice.getSession(bob.did))!.ratchet;
    expect(toHex(a.remoteDhPublicKey!)).toBe(toHex(b.dhPublicKey));
    expect(toHex(a.dhPublicKey)).not.toBe(toHex(before.dhPublicKey));
    expect(a.previousSendCount).toBe(2);
    expect(Object.keys(a).sort()).toEqual(['dhPublicKey', 'previousSendCount', 'receiveCount', 'remoteDhPublicKey', 'sendCount', 'skippedKeys']);
  });
});
