// Abuse through request and frame bodies: oversized (whatever Content-Length says, streamed or
// not), deeply nested, and shaped to make a parser slow. Each is refused with a 4xx JSON error (or
// an error frame), quickly, and stores nothing.
import { SELF, runInDurableObject } from 'cloudflare:test';
import { afterEach, describe, expect, it } from 'vitest';
import { toBase64Url } from '../../src/encoding.js';
import { encodePreKeyUpload, uploadFromKeyManager } from '../../src/net/prekey-upload.js';
import type { AgentObject } from '../agent-object.js';
import { BASE, TestSocket, agentStub, expectError, messageFrame, newAgent, publishedAgent, registeredAgent, signedRequest } from './helpers.js';

const open: TestSocket[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

const deep = (depth: number, leaf = '1') => '{"a":'.repeat(depth) + leaf + '}'.repeat(depth);
const deepArray = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

/** A body that arrives in chunks with no Content-Length. */
function streamed(totalBytes: number, chunk = 16 * 1024): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (let sent = 0; sent < totalBytes; sent += chunk) controller.enqueue(new Uint8Array(Math.min(chunk, totalBytes - sent)).fill(0x20));
      controller.close();
    },
  });
}

async function inboxCount(did: string): Promise<number> {
  return runInDurableObject(agentStub(did), (o: AgentObject) => o.store.inboxCount());
}

describe('oversized bodies', () => {
  it('are refused with 413 when streamed without a Content-Length', async () => {
    const bob = await registeredAgent();
    // (workerd logs "Network connection lost" for each: the Worker stops reading mid-stream, as it should.)
    for (const [method, path] of [
      ['PUT', `/v1/agents/${bob.did}/prekeys`],
      ['POST', `/v1/agents/${bob.did}/inbox`],
    ] as const) {
      const req = new Request(BASE + path, { method, body: streamed(512 * 1024), duplex: 'half' } as RequestInit);
      await expectError(req, 413, 'payload_too_large');
    }
  });

  it('are refused with 413 when Content-Length understates them', async () => {
    const bob = await registeredAgent();
    const body = 'x'.repeat(300 * 1024);
    const req = await signedRequest(bob.identity, 'POST', `/v1/agents/${bob.did}/inbox`, { body });
    const lying = new Request(req.url, { method: 'POST', headers: { ...Object.fromEntries(req.headers as unknown as Iterable<[string, string]>), 'content-length': '10' }, body: streamed(body.length), duplex: 'half' } as RequestInit);
    const res = await SELF.fetch(lying);
    expect([400, 413]).toContain(res.status);
    expect(await inboxCount(bob.did)).toBe(0);
  });

  it('a WebSocket frame over the limit is answered with an error and the socket stays open', async () => {
    const [alice, bob] = [await registeredAgent(), await registeredAgent()];
    const socket = await TestSocket.connect(alice.identity);
    open.push(socket);
    socket.send(messageFrame(alice.did, bob.did, 0, { ciphertext: toBase64Url(new Uint8Array(9000)) }));
    const error = await socket.next((f) => f.type === 'error');
    expect(error).toMatchObject({ code: 'frame_too_large', status: 413 });
    socket.send(messageFrame(alice.did, bob.did, 1));
    expect(await socket.next((f) => f.type === 'ack')).toMatchObject({ status: 'stored' });
    expect(await inboxCount(bob.did)).toBe(1);
  });
});

describe('deeply nested bodies', () => {
  it('registration, pre-key uploads, votes and acks nested deeper than 32 levels are refused with 400', async () => {
    const bob = await publishedAgent(1);
    const carol = await newAgent();
    const registration = JSON.stringify({ did: carol.did, public_key: toBase64Url(carol.identity.publicKey), capabilities: [], metadata: JSON.parse(deep(40)) });
    await expectError(signedRequest(carol.identity, 'POST', '/v1/agents', { body: registration }), 400, 'invalid_json');
    await expectError(new Request(`${BASE}/v1/agents/${carol.did}`), 404);
    // Within the limit, nested metadata is fine.
    const shallow = JSON.stringify({ did: carol.did, public_key: toBase64Url(carol.identity.publicKey), capabilities: [], metadata: JSON.parse(deep(20)) });
    expect((await SELF.fetch(await signedRequest(carol.identity, 'POST', '/v1/agents', { body: shallow }))).status).toBe(201);

    const upload = { ...encodePreKeyUpload(uploadFromKeyManager(bob.keys)), extra: JSON.parse(deep(1000)) };
    await expectError(signedRequest(bob.identity, 'PUT', `/v1/agents/${bob.did}/prekeys`, { body: JSON.stringify(upload) }), 400, 'invalid_json');
    const vote = `{"score":500,"comment":null,"x":${deepArray(5000)}}`;
    await expectError(signedRequest(carol.identity, 'POST', `/v1/agents/${bob.did}/reputation`, { body: vote }), 400, 'invalid_json');
    const acks = `{"acks":${deepArray(100)}}`;
    await expectError(signedRequest(bob.identity, 'POST', `/v1/agents/${bob.did}/inbox/ack`, { body: acks }), 400, 'invalid_json');
  });

  it('routed frames nested deeper than 32 levels are refused over HTTP and over WebSocket, and not stored', async () => {
    const [alice, bob] = [await registeredAgent(), await registeredAgent()];
    // An opaque frame type (the relay does not read its fields) carrying deep JSON.
    const opaque = (depth: number) => {
      const base = JSON.stringify({ v: 1, type: 'trust_challenge', from: alice.did, to: bob.did, id: crypto.randomUUID(), ts: new Date().toISOString() });
      return `${base.slice(0, -1)},"challenge":${deepArray(depth)}}`;
    };
    await expectError(signedRequest(alice.identity, 'POST', `/v1/agents/${bob.did}/inbox`, { body: opaque(3000) }), 400, 'invalid_frame');
    const socket = await TestSocket.connect(alice.identity);
    open.push(socket);
    socket.send(opaque(3000));
    expect(await socket.next((f) => f.type === 'error')).toMatchObject({ code: 'invalid_frame' });
    socket.send(opaque(33));
    expect(await socket.next((f) => f.type === 'error')).toMatchObject({ code: 'invalid_frame' });
    expect(await inboxCount(bob.did)).toBe(0);
    // The same frame, shallow, is routed.
    socket.send(opaque(5));
    expect(await socket.next((f) => f.type === 'ack')).toMatchObject({ status: 'stored' });
  });

  it('a deep value where the envelope expects a number is an invalid frame, not a crash', async () => {
    const [alice, bob] = [await registeredAgent(), await registeredAgent()];
    const frame = JSON.stringify(messageFrame(alice.did, bob.did)).replace('"v":1', `"v":${deepArray(30)}`);
    await expectError(signedRequest(alice.identity, 'POST', `/v1/agents/${bob.did}/inbox`, { body: frame }), 400, 'invalid_frame');
  });
});

describe('bodies shaped to make a parser slow', () => {
  it('a pre-key upload whose key fields are long runs of "=" is refused at once', async () => {
    const bob = await publishedAgent(1);
    const upload = encodePreKeyUpload(uploadFromKeyManager(bob.keys));
    // /=+$/ on such a field backtracked quadratically: ~120 000 '=' took more than ten seconds.
    const slow = { ...upload, identity_key: '='.repeat(120_000) + 'A' };
    const started = Date.now();
    await expectError(signedRequest(bob.identity, 'PUT', `/v1/agents/${bob.did}/prekeys`, { body: JSON.stringify(slow) }), 400);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('a message frame whose ciphertext is a run of "=" is refused at once', async () => {
    const [alice, bob] = [await registeredAgent(), await registeredAgent()];
    const frame = messageFrame(alice.did, bob.did, 0, { ciphertext: '='.repeat(7000) + 'A' });
    const started = Date.now();
    await expectError(signedRequest(alice.identity, 'POST', `/v1/agents/${bob.did}/inbox`, { body: JSON.stringify(frame) }), 400, 'invalid_frame');
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('wide bodies: a pre-key upload with a huge key list is refused before it is read key by key', async () => {
    const bob = await publishedAgent(1);
    const upload = { ...encodePreKeyUpload(uploadFromKeyManager(bob.keys)), one_time_pre_keys: Array.from({ length: 20_000 }, () => ({})) };
    await expectError(signedRequest(bob.identity, 'PUT', `/v1/agents/${bob.did}/prekeys`, { body: JSON.stringify(upload) }), 413, 'too_many_prekeys');
  });
});
