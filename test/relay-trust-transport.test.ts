import { afterEach, describe, expect, it } from 'vitest';
import { RelayTrustTransport } from '../src/agent/relay-trust-transport.js';
import type { RelayClient } from '../src/net/relay-client.js';
import { TrustTransportError } from '../src/trust/errors.js';
import type { AgentMeshFrame } from '../src/trust/frame.js';

const proc = (globalThis as unknown as { process: { on(e: string, f: (r: unknown) => void): void; off(e: string, f: (r: unknown) => void): void } }).process;
const listeners: ((r: unknown) => void)[] = [];
afterEach(() => {
  for (const l of listeners.splice(0)) proc.off('unhandledRejection', l);
});

/** A relay client whose `send` is confirmed only after `ms` (a busy background lane, a slow relay). */
const slowRelay = (ms: number) => ({ send: () => new Promise<void>((resolve) => setTimeout(resolve, ms)) }) as unknown as RelayClient;

const challenge = (): AgentMeshFrame =>
  ({ v: 1, type: 'trust_challenge', from: 'did:agentmesh:a', to: 'did:agentmesh:b', id: crypto.randomUUID(), ts: new Date().toISOString() }) as unknown as AgentMeshFrame;

describe('RelayTrustTransport', () => {
  it('a request whose answer times out while its frame still waits to be sent rejects its caller, never the process', async () => {
    // Found by npm run fuzz (strangers kept a victim's background lane busy): the timeout
    // rejected the answer before anyone awaited it, an unhandled rejection that ends a Node process.
    const unhandled: unknown[] = [];
    const listener = (reason: unknown) => void unhandled.push(reason);
    listeners.push(listener);
    proc.on('unhandledRejection', listener);
    const transport = new RelayTrustTransport(slowRelay(80), { timeoutMs: 20 });
    await expect(transport.request(challenge())).rejects.toBeInstanceOf(TrustTransportError);
    await new Promise((r) => setTimeout(r, 20));
    expect(unhandled).toEqual([]);
  });
});
