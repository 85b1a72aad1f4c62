import { SELF, env, runInDurableObject } from 'cloudflare:test';
import { expect } from 'vitest';
import { toBase64Url, utf8 } from '../../src/encoding.js';
import { AgentIdentity } from '../../src/identity/agent-identity.js';
import { RegistryClient } from '../../src/net/registry-client.js';
import { AUTH_SCHEME, bodyDigest, canonicalRequest, relayPath, RequestSigner } from '../../src/net/signing.js';
import { uploadFromKeyManager } from '../../src/net/prekey-upload.js';
import { X3DHKeyManager } from '../../src/x3dh/key-manager.js';
import type { FetchLike } from '../../src/net/http.js';
import type { WebSocketLike } from '../../src/net/relay-client.js';
import type { AgentObject } from '../agent-object.js';

export const BASE = 'http://relay.test';

export const fetchSelf: FetchLike = (input, init) => SELF.fetch(input, init);

/** A `webSocket` factory for RelayClient inside a Worker: the socket comes from fetch() with an Upgrade header. */
export async function workerWebSocket(url: string): Promise<WebSocketLike> {
  const res = await SELF.fetch(url.replace(/^ws/, 'http'), { headers: { upgrade: 'websocket' } });
  const ws = res.webSocket;
  if (!ws) throw new Error(`no socket: ${res.status}`);
  ws.accept();
  return ws as unknown as WebSocketLike;
}

export interface TestAgent {
  identity: AgentIdentity;
  did: string;
  client: RegistryClient;
  keys: X3DHKeyManager;
}

export async function newAgent(): Promise<TestAgent> {
  const identity = await AgentIdentity.generate();
  const keys = await X3DHKeyManager.fromEd25519Keys(identity.secretKey, identity.publicKey);
  return { identity, did: identity.did, client: new RegistryClient({ baseUrl: BASE, identity, fetch: fetchSelf }), keys };
}

export async function registeredAgent(capabilities: string[] = []): Promise<TestAgent> {
  const agent = await newAgent();
  await agent.client.register({ capabilities, metadata: { name: 'test' } });
  return agent;
}

/** Registered, with a signed pre-key and `oneTime` one-time pre-keys on the registry. */
export async function publishedAgent(oneTime = 5): Promise<TestAgent> {
  const agent = await registeredAgent();
  await agent.keys.generateSignedPreKey();
  const otks = await agent.keys.generateOneTimePreKeys(oneTime);
  await agent.client.uploadPreKeys(uploadFromKeyManager(agent.keys, otks));
  return agent;
}

/** A request signed by hand, so tests can get every part of it wrong on purpose. */
export async function signedRequest(
  identity: AgentIdentity,
  method: string,
  path: string,
  options: {
    body?: string;
    timestamp?: string;
    did?: string;
    /** What is signed instead of the canonical request. */
    signedBytes?: (timestamp: string) => Uint8Array;
    signedPath?: string;
    signedBody?: string;
  } = {},
): Promise<Request> {
  const timestamp = options.timestamp ?? new RequestSigner(identity).nextTimestamp();
  const message = options.signedBytes
    ? options.signedBytes(timestamp)
    : canonicalRequest(timestamp, method, options.signedPath ?? path, bodyDigest(options.signedBody ?? options.body));
  const signature = toBase64Url(await identity.sign(message));
  const headers: Record<string, string> = { authorization: `${AUTH_SCHEME} ${options.did ?? identity.did} ${timestamp} ${signature}` };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  return new Request(BASE + path, { method, headers, body: options.body });
}

export const timestampOnly = (timestamp: string) => utf8(timestamp);

/** Sends and checks the answer is a JSON error `{ error, message }` with `status`. */
export async function expectError(request: Request | Promise<Request> | { clone(): unknown }, status: number, code?: string): Promise<{ error: string; message: string }> {
  const res = await SELF.fetch((await request) as Request);
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expect(res.headers.get('content-type')).toContain('application/json');
  const body = JSON.parse(text) as { error: string; message: string };
  expect(typeof body.error).toBe('string');
  expect(typeof body.message).toBe('string');
  if (code) expect(body.error).toBe(code);
  return body;
}

export function agentStub(did: string) {
  return env.AGENTS.get(env.AGENTS.idFromName(did));
}

/** Moves one agent object's clock by `offsetMs` (from now on). */
export async function shiftClock(did: string, offsetMs: number): Promise<void> {
  await runInDurableObject(agentStub(did), (instance: AgentObject) => {
    instance.now = () => Date.now() + offsetMs;
  });
}

/** A relay WebSocket, opened through the Worker as a client would, collecting what arrives. */
export class TestSocket {
  readonly frames: Record<string, unknown>[] = [];
  closeCode: number | null = null;
  #waiters: (() => void)[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.addEventListener('message', (event) => {
      this.frames.push(JSON.parse(event.data as string) as Record<string, unknown>);
      this.#wake();
    });
    ws.addEventListener('close', (event) => {
      this.closeCode = event.code;
      this.#wake();
    });
  }

  static async open(did: string, query = '', headers: Record<string, string> = {}): Promise<TestSocket> {
    const res = await SELF.fetch(`${BASE}/v1/agents/${did}/relay${query}`, { headers: { upgrade: 'websocket', ...headers } });
    expect(res.status).toBe(101);
    const ws = res.webSocket!;
    ws.accept();
    return new TestSocket(ws);
  }

  /** The `auth` query of a signed upgrade (as `RelayClient` sends it). */
  static async upgradeQuery(identity: AgentIdentity): Promise<string> {
    return `?auth=${encodeURIComponent(await new RequestSigner(identity).authorization('GET', relayPath(identity.did)))}`;
  }

  /** Opens with a signed upgrade (no `connect` frame); resolves after `connected`. */
  static async connectSigned(identity: AgentIdentity): Promise<TestSocket> {
    const socket = await TestSocket.open(identity.did, await TestSocket.upgradeQuery(identity));
    await socket.next((f) => f.type === 'connected');
    return socket;
  }

  /** Opens and authenticates as `identity`; resolves after `connected`. */
  static async connect(identity: AgentIdentity): Promise<TestSocket> {
    const socket = await TestSocket.open(identity.did);
    const auth = await new RequestSigner(identity).connectAuth();
    socket.send({ v: 1, type: 'connect', from: identity.did, to: 'relay', id: crypto.randomUUID(), ts: new Date().toISOString(), auth, supported_versions: [1] });
    await socket.next((f) => f.type === 'connected');
    return socket;
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Waits for (and removes) the first frame matching `match`. */
  async next(match: (f: Record<string, unknown>) => boolean = () => true, timeoutMs = 3000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.frames.findIndex(match);
      if (i >= 0) return this.frames.splice(i, 1)[0]!;
      if (this.closeCode !== null) throw new Error(`socket closed (${this.closeCode}) while waiting`);
      if (Date.now() > deadline) throw new Error(`no matching frame; have ${JSON.stringify(this.frames).slice(0, 500)}`);
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  async closed(timeoutMs = 3000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (this.closeCode === null) {
      if (Date.now() > deadline) throw new Error('socket did not close');
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.closeCode;
  }

  /** Waits for `count` frames matching `match`, in arrival order. */
  async take(count: number, match: (f: Record<string, unknown>) => boolean, timeoutMs = 5000): Promise<Record<string, unknown>[]> {
    const out = [];
    for (let i = 0; i < count; i++) out.push(await this.next(match, timeoutMs));
    return out;
  }

  /** Round-trips a heartbeat: every frame sent before it has been handled once this resolves. */
  async barrier(did: string): Promise<void> {
    this.send({ v: 1, type: 'heartbeat', from: did, to: 'relay', id: crypto.randomUUID(), ts: new Date().toISOString() });
    await this.next((f) => f.type === 'heartbeat');
  }

  /** Lets in-flight frames arrive, then returns everything unclaimed. */
  async drain(ms = 150): Promise<Record<string, unknown>[]> {
    await new Promise((r) => setTimeout(r, ms));
    return this.frames.splice(0);
  }

  close(): void {
    try {
      this.ws.close(1000, 'test done');
    } catch {
      // Already closed.
    }
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }
}

/** A valid `message` frame body (fake ciphertext: the relay never reads it). */
export function messageFrame(from: string, to: string, n = 0, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    v: 1,
    type: 'message',
    from,
    to,
    id: crypto.randomUUID(),
    ts: new Date().toISOString(),
    header: { dh: toBase64Url(new Uint8Array(32).fill(9)), pn: 0, n },
    ciphertext: toBase64Url(new Uint8Array(40).fill(n & 0xff)),
    ...extra,
  };
}
