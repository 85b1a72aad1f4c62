/**
 * Simultaneous open under random interleavings. Two session managers each open a session to the
 * other, then a random schedule sends, delivers (in order per sender, as the relay keeps it),
 * delivers copies of earlier messages and restarts either side. Checked:
 * - every message is read exactly once, in the order it was sent, whichever side hears first;
 * - every copy is refused with an AgentMeshError and changes no stored byte;
 * - afterwards both talk on one session (the lower DID's), in both directions.
 *
 * FC_RUNS=<n> sets the number of runs (default 25); FC_SEED=<n> replays a reported seed.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AgentMeshError } from '../src/errors.js';
import { SessionManager } from '../src/session/index.js';
import { MemoryAgentStore } from '../src/storage/index.js';
import { deliverFrame, openBoth, pairByDid, sendFrame, type SentFrame } from './session-fixtures.js';

const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env ?? {};
const FC_RUNS = Number.parseInt(env.FC_RUNS ?? '', 10);
const FC_SEED = Number.parseInt(env.FC_SEED ?? '', 10);
const LONG = Number.isFinite(FC_RUNS) && FC_RUNS > 0;

type Step =
  | { readonly kind: 'send'; readonly who: 0 | 1 }
  | { readonly kind: 'deliver'; readonly who: 0 | 1 }
  | { readonly kind: 'copy'; readonly who: 0 | 1; readonly pick: number }
  | { readonly kind: 'restart'; readonly who: 0 | 1 };

const side = fc.constantFrom(0 as const, 1 as const);
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: side.map((who) => ({ kind: 'send' as const, who })) },
  { weight: 4, arbitrary: side.map((who) => ({ kind: 'deliver' as const, who })) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('copy' as const), who: side, pick: fc.nat() }) },
  { weight: 1, arbitrary: side.map((who) => ({ kind: 'restart' as const, who })) },
);

describe('simultaneous open, random schedules', () => {
  it(
    'every message is read once and in order, copies change nothing, and both end on one session',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 40 }), async (steps) => {
          const managers = await pairByDid(() => new MemoryAgentStore());
          const storeOf = (i: number) => managers[i]!.store;
          const did = [managers[0]!.did, managers[1]!.did];
          await openBoth(managers[0]!, managers[1]!);
          const outbox: SentFrame[][] = [[], []];
          const delivered: SentFrame[][] = [[], []];
          const read: string[][] = [[], []];
          let sent = 0;
          const send = async (i: 0 | 1) => {
            outbox[i]!.push(await sendFrame(managers[i]!, managers[1 - i]!, `${i}:${sent++}`));
          };
          const deliverNext = async (i: 0 | 1) => {
            const frame = outbox[i]!.shift();
            if (!frame) return;
            read[i]!.push(await deliverFrame(managers[1 - i]!, managers[i]!, frame));
            delivered[i]!.push(frame);
          };
          for (const s of steps) {
            if (s.kind === 'send') await send(s.who);
            else if (s.kind === 'deliver') await deliverNext(s.who);
            else if (s.kind === 'restart') {
              managers[s.who]!.close();
              managers[s.who] = await SessionManager.open({ store: storeOf(s.who) });
            } else if (delivered[s.who]!.length > 0) {
              const copy = delivered[s.who]![s.pick % delivered[s.who]!.length]!;
              const receiver = managers[1 - s.who]!;
              const before = JSON.stringify(await receiver.store.getSession(did[s.who]!));
              await expect(deliverFrame(receiver, managers[s.who]!, copy)).rejects.toBeInstanceOf(AgentMeshError);
              expect(JSON.stringify(await receiver.store.getSession(did[s.who]!))).toBe(before);
            }
          }
          // Drain both outboxes, then talk both ways: each side's answer settles the session.
          while (outbox[0]!.length + outbox[1]!.length > 0) {
            await deliverNext(0);
            await deliverNext(1);
          }
          for (let round = 0; round < 2; round++) {
            for (const i of [0, 1] as const) {
              await send(i);
              await deliverNext(i);
            }
          }
          for (const i of [0, 1] as const) {
            const inOrder = [...delivered[i]!.map((f) => f.text)];
            expect(read[i]).toEqual(inOrder);
            expect(new Set(read[i]).size).toBe(read[i]!.length);
          }
          const low = await managers[0]!.getSession(did[1]!);
          const high = await managers[1]!.getSession(did[0]!);
          expect([low?.role, high?.role]).toEqual(['initiator', 'responder']);
          expect(low?.establishment).toBeNull();
          expect((await storeOf(0).getSession(did[1]!))?.channel).not.toHaveProperty('inbound');
          for (const m of managers) m.close();
        }),
        { numRuns: LONG ? FC_RUNS : 25, ...(Number.isFinite(FC_SEED) ? { seed: FC_SEED } : {}) },
      );
    },
    LONG ? 24 * 3600_000 : 120_000,
  );
});
