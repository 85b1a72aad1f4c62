import { describe, expect, it } from 'vitest';
import { getDefaultCryptoProvider } from '../src/crypto/index.js';
import { InvalidTrustFrameError, InMemoryTrustNetwork, TrustTransportError, canonicalJson, createInMemoryTransportPair } from '../src/trust/index.js';
import { envelope, parseFrame } from '../src/trust/frame.js';

const A = 'did:mesh:' + '1'.repeat(32);
const B = 'did:mesh:' + '2'.repeat(32);

describe('canonicalJson (RFC 8785 for our values)', () => {
  it('sorts keys at every depth and writes no whitespace', () => {
    expect(canonicalJson({ b: 1, a: [true, null, 'x', { d: 2, c: -0.5 }], aa: {} })).toBe('{"a":[true,null,"x",{"c":-0.5,"d":2}],"aa":{},"b":1}');
    expect(canonicalJson({ '\u20ac': 1, '\r': 2, é: 'ü\u2028"' })).toBe('{"\\r":2,"é":"ü\u2028\\"","€":1}');
    // Key order in the input does not matter; undefined members are absent, as after JSON transport.
    expect(canonicalJson({ x: 1, y: 2, z: undefined })).toBe(canonicalJson(JSON.parse('{"y":2,"x":1}')));
  });

  it('refuses what has no single JSON form, and anything too deep or too long', () => {
    for (const bad of [Number.NaN, Infinity, [undefined], () => 1, new Date(0), 10n, new Uint8Array(2), Symbol('s')]) {
      expect(() => canonicalJson({ f: bad })).toThrow(InvalidTrustFrameError);
    }
    let deep: unknown = 1;
    for (let i = 0; i < 12; i++) deep = [deep];
    expect(() => canonicalJson(deep)).toThrow(InvalidTrustFrameError);
    expect(() => canonicalJson({ s: 'x'.repeat(70_000) })).toThrow(InvalidTrustFrameError);
    expect(() => canonicalJson({ s: 'x'.repeat(100) }, 50)).toThrow(InvalidTrustFrameError);
  });
});

describe('parseFrame', () => {
  const crypto = getDefaultCryptoProvider();
  const good = () => ({ ...envelope('knock', A, B, crypto, () => Date.UTC(2026, 0, 1)) }) as Record<string, unknown>;

  it('reads the AgentMesh v1 envelope from an object or JSON text', () => {
    const frame = good();
    const parsed = parseFrame(JSON.stringify(frame));
    expect(parsed).toMatchObject({ v: 1, type: 'knock', from: A, to: B, id: frame.id, ts: '2026-01-01T00:00:00.000Z', tsMs: Date.UTC(2026, 0, 1) });
    expect(frame.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('refuses bad envelopes with a typed error', () => {
    const cases: unknown[] = [
      null,
      [],
      'nope',
      'x'.repeat(70_000),
      { ...good(), v: 2 },
      { ...good(), v: '1' },
      { ...good(), type: 'Knock!' },
      { ...good(), type: 'k'.repeat(65) },
      { ...good(), from: 'did:mesh:alice' },
      { ...good(), to: 7 },
      { ...good(), id: 'not-a-uuid' },
      { ...good(), ts: 'yesterday' },
      { ...good(), ts: '2026-13-45T99:99:99Z' },
      { ...good(), ts: 12 },
    ];
    for (const input of cases) expect(() => parseFrame(input)).toThrow(InvalidTrustFrameError);
  });
});

describe('InMemoryTrustNetwork', () => {
  it('delivers copies through JSON and answers from the addressed endpoint', async () => {
    const [a, b] = createInMemoryTransportPair(A, B);
    let received: any;
    b.listen(async (f) => {
      received = f;
      return { v: 1, type: 'pong', from: B, to: A, id: crypto.randomUUID(), ts: new Date().toISOString() };
    });
    const sent = { v: 1 as const, type: 'ping', from: A, to: B, id: crypto.randomUUID(), ts: new Date().toISOString(), nested: { k: 1 } };
    const answer: any = await a.request(sent);
    expect(received).toEqual(sent);
    expect(received).not.toBe(sent);
    expect(received.nested).not.toBe(sent.nested);
    expect(answer.type).toBe('pong');
  });

  it('fails with TrustTransportError: no listener, a handler that throws, oversize or unencodable frames', async () => {
    const network = new InMemoryTrustNetwork();
    const a = network.endpoint(A);
    const b = network.endpoint(B);
    const frame = { v: 1 as const, type: 'ping', from: A, to: B, id: crypto.randomUUID(), ts: new Date().toISOString() };
    await expect(a.request(frame)).rejects.toBeInstanceOf(TrustTransportError);
    const stop = b.listen(async () => {
      throw new Error('boom');
    });
    await expect(a.request(frame)).rejects.toBeInstanceOf(TrustTransportError);
    await expect(a.request({ ...frame, pad: 'x'.repeat(70_000) })).rejects.toBeInstanceOf(TrustTransportError);
    await expect(a.request({ ...frame, n: 1n } as never)).rejects.toBeInstanceOf(TrustTransportError);
    stop();
    await expect(a.request(frame)).rejects.toThrow(/no agent listens/);
  });
});
