import { describe, expect, it } from 'vitest';
import { toBase64Url, utf8 } from '../src/encoding.js';
import { AgentIdentity } from '../src/identity/agent-identity.js';
import { RequestAuthError } from '../src/net/errors.js';
import {
  AUTH_SCHEME,
  RequestSigner,
  bodyDigest,
  canonicalRequest,
  checkFreshness,
  parseAuthorization,
  replayKey,
  verifySignature,
} from '../src/net/signing.js';

const fixedIdentity = () => AgentIdentity.fromSeed(new Uint8Array(32).fill(7));

describe('request signing', () => {
  it('has a fixed canonical form: prefix, timestamp, method, path with query, SHA-256 of the body', () => {
    const text = new TextDecoder().decode(canonicalRequest('2026-01-01T00:00:00.000Z', 'PUT', '/v1/agents/x/prekeys?a=1', bodyDigest('{}')));
    expect(text).toBe(
      'AgentMesh-Request-v1\n2026-01-01T00:00:00.000Z\nPUT\n/v1/agents/x/prekeys?a=1\n44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
    );
    expect(bodyDigest()).toBe(bodyDigest(new Uint8Array(0)));
    expect(() => canonicalRequest('t', 'get', '/x', bodyDigest())).toThrow(RequestAuthError);
    expect(() => canonicalRequest('t', 'GET', 'x', bodyDigest())).toThrow(RequestAuthError);
    expect(() => canonicalRequest('t', 'GET', '/a b', bodyDigest())).toThrow(RequestAuthError);
  });

  it('round-trips: a signed header parses and verifies for exactly that request', async () => {
    const id = await fixedIdentity();
    const signer = new RequestSigner(id, { now: () => Date.parse('2026-03-01T12:00:00.000Z') });
    const header = await signer.authorization('POST', '/v1/agents/a/reputation', '{"score":1}');
    const auth = parseAuthorization(header);
    expect(auth.did).toBe(id.did);
    expect(auth.timestamp).toBe('2026-03-01T12:00:00.000Z');
    const verify = (method: string, path: string, body: string) =>
      verifySignature({ auth, publicKey: id.publicKey, method, path, digestHex: bodyDigest(body) });
    expect(await verify('POST', '/v1/agents/a/reputation', '{"score":1}')).toBe('request');
    await expect(verify('PUT', '/v1/agents/a/reputation', '{"score":1}')).rejects.toMatchObject({ code: 'bad_signature' });
    await expect(verify('POST', '/v1/agents/b/reputation', '{"score":1}')).rejects.toMatchObject({ code: 'bad_signature' });
    await expect(verify('POST', '/v1/agents/a/reputation', '{"score":2}')).rejects.toMatchObject({ code: 'bad_signature' });
  });

  it('gives every request of one signer a distinct, increasing timestamp', async () => {
    const id = await fixedIdentity();
    const signer = new RequestSigner(id, { now: () => 1_700_000_000_000 });
    const stamps = [signer.nextTimestamp(), signer.nextTimestamp(), signer.nextTimestamp()];
    expect(new Set(stamps).size).toBe(3);
    expect([...stamps].sort()).toEqual(stamps);
  });

  it('recognises the draft timestamp-only form and refuses it unless allowed', async () => {
    const id = await fixedIdentity();
    const ts = new Date().toISOString();
    const auth = parseAuthorization(`${AUTH_SCHEME} ${id.did} ${ts} ${toBase64Url(await id.sign(utf8(ts)))}`);
    const args = { auth, publicKey: id.publicKey, method: 'GET', path: '/v1/x', digestHex: bodyDigest() };
    await expect(verifySignature(args)).rejects.toMatchObject({ code: 'timestamp_only_refused' });
    expect(await verifySignature({ ...args, allowTimestampOnly: true })).toBe('timestamp-only');
  });

  it('checks the ±5 minute window', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(() => checkFreshness(now - 299_000, now)).not.toThrow();
    expect(() => checkFreshness(now + 299_000, now)).not.toThrow();
    expect(() => checkFreshness(now - 301_000, now)).toThrow(expect.objectContaining({ code: 'stale_timestamp' }));
    expect(() => checkFreshness(now + 301_000, now)).toThrow(expect.objectContaining({ code: 'stale_timestamp' }));
  });

  it('parses only well-formed headers', async () => {
    const id = await fixedIdentity();
    const sig = toBase64Url(new Uint8Array(64));
    const ts = '2026-01-01T00:00:00Z';
    for (const bad of [
      null,
      '',
      'Basic abc',
      `${AUTH_SCHEME} ${id.did} ${ts}`,
      `${AUTH_SCHEME} did:web:example ${ts} ${sig}`,
      `${AUTH_SCHEME} ${id.did} 1700000000 ${sig}`,
      `${AUTH_SCHEME} ${id.did} 2026-01-01 ${sig}`,
      `${AUTH_SCHEME} ${id.did} ${ts} ${sig.slice(4)}`,
      `${AUTH_SCHEME} ${id.did} ${ts} ${sig}${'A'.repeat(500)}`,
    ]) {
      expect(() => parseAuthorization(bad), String(bad)).toThrow(RequestAuthError);
    }
    expect(parseAuthorization(`${AUTH_SCHEME} ${id.did} 2026-01-01T00:00:00+02:00 ${sig}`).timestampMs).toBe(Date.parse('2025-12-31T22:00:00Z'));
  });

  it('derives replay keys from signer and signed content, not from signature bytes', () => {
    const k = (did: string, ts: string, path: string) => replayKey(did, 'request', ts, 'GET', path, bodyDigest());
    expect(k('did:a', 't1', '/x')).toBe(k('did:a', 't1', '/x'));
    expect(k('did:a', 't1', '/x')).not.toBe(k('did:b', 't1', '/x'));
    expect(k('did:a', 't1', '/x')).not.toBe(k('did:a', 't2', '/x'));
    expect(k('did:a', 't1', '/x')).not.toBe(k('did:a', 't1', '/y'));
    expect(replayKey('did:a', 'timestamp-only', 't1', 'GET', '/x', bodyDigest())).toBe(replayKey('did:a', 'timestamp-only', 't1', 'PUT', '/y', bodyDigest('z')));
  });
});
